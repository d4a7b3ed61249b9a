package ipam

import (
	"math/rand"
	"slices"
	"testing"
	"time"
)

func offs(vs ...uint64) []Offset {
	out := make([]Offset, len(vs))
	for i, v := range vs {
		out[i] = OffsetFrom(v)
	}
	return out
}

func rng(start, end uint64) Range { return Range{OffsetFrom(start), OffsetFrom(end)} }

func TestSetBasic(t *testing.T) {
	max := OffsetFrom(65534)
	s := NewSet(max, nil)
	if got, ok := s.Lowest(); !ok || got != OffsetFrom(1) {
		t.Fatalf("empty Lowest = %v, %v; want 1", got, ok)
	}
	if got, want := s.Free(), []Range{rng(1, 65534)}; !slices.Equal(got, want) {
		t.Fatalf("empty Free = %v, want %v", got, want)
	}
	for _, v := range []uint64{1, 2, 4} {
		if !s.Add(OffsetFrom(v)) {
			t.Fatalf("Add(%d) = false", v)
		}
	}
	if s.Add(OffsetFrom(2)) {
		t.Error("second Add(2) = true")
	}
	if s.Len() != 3 || s.Max() != max {
		t.Errorf("Len %d Max %v", s.Len(), s.Max())
	}
	if got, ok := s.Lowest(); !ok || got != OffsetFrom(3) {
		t.Errorf("Lowest = %v, %v; want 3", got, ok)
	}
	if got, want := s.Free(), []Range{rng(3, 3), rng(5, 65534)}; !slices.Equal(got, want) {
		t.Errorf("Free = %v, want %v", got, want)
	}
	if got, want := s.Used(), offs(1, 2, 4); !slices.Equal(got, want) {
		t.Errorf("Used = %v, want %v", got, want)
	}
	afterTests := []struct {
		after uint64
		want  uint64
		ok    bool
	}{
		{0, 3, true},
		{1, 3, true},
		{2, 3, true},
		{3, 5, true},
		{4, 5, true},
		{5, 6, true},
		{65533, 65534, true},
		{65534, 0, false},
		{70000, 0, false},
	}
	for _, tt := range afterTests {
		got, ok := s.LowestAfter(OffsetFrom(tt.after))
		if ok != tt.ok || (ok && got != OffsetFrom(tt.want)) {
			t.Errorf("LowestAfter(%d) = %v, %v; want %d, %v", tt.after, got, ok, tt.want, tt.ok)
		}
	}
	if got, ok := s.LowestAfter(Offset{Hi: ^uint64(0), Lo: ^uint64(0)}); ok {
		t.Errorf("LowestAfter(2^128-1) = %v, true", got)
	}
	if !s.Contains(OffsetFrom(4)) || s.Contains(OffsetFrom(3)) {
		t.Error("Contains wrong")
	}
	if !s.Remove(OffsetFrom(2)) || s.Remove(OffsetFrom(2)) || s.Remove(OffsetFrom(3)) {
		t.Error("Remove results wrong")
	}
	if got, ok := s.Lowest(); !ok || got != OffsetFrom(2) {
		t.Errorf("Lowest after Remove(2) = %v, %v; want 2", got, ok)
	}
	if got, want := s.Free(), []Range{rng(2, 3), rng(5, 65534)}; !slices.Equal(got, want) {
		t.Errorf("Free after Remove(2) = %v, want %v", got, want)
	}
}

func TestSetFull(t *testing.T) {
	tests := []struct {
		max  uint64
		used []uint64
	}{
		{0, nil},
		{1, []uint64{1}},
		{2, []uint64{2, 1}},
		{5, []uint64{5, 4, 3, 2, 1, 1, 3}},
		{3, []uint64{0, 1, 2, 3, 4, 99}},
	}
	for _, tt := range tests {
		s := NewSet(OffsetFrom(tt.max), offs(tt.used...))
		if got, ok := s.Lowest(); ok {
			t.Errorf("max %d used %v: Lowest = %v, true; want full", tt.max, tt.used, got)
		}
		if got, ok := s.LowestAfter(OffsetFrom(0)); ok {
			t.Errorf("max %d used %v: LowestAfter(0) = %v, true; want full", tt.max, tt.used, got)
		}
		if got := s.Free(); len(got) != 0 {
			t.Errorf("max %d used %v: Free = %v, want none", tt.max, tt.used, got)
		}
	}
}

func TestSetOutOfRange(t *testing.T) {
	// Offsets 0 and > max are kept but never influence the free computation.
	s := NewSet(OffsetFrom(10), offs(0, 11, 12, 3, 3, 1000))
	if got, want := s.Used(), offs(0, 3, 11, 12, 1000); !slices.Equal(got, want) {
		t.Errorf("Used = %v, want %v", got, want)
	}
	if s.Len() != 5 || !s.Contains(OffsetFrom(0)) || !s.Contains(OffsetFrom(11)) {
		t.Errorf("Len/Contains wrong: %d", s.Len())
	}
	if got, ok := s.Lowest(); !ok || got != OffsetFrom(1) {
		t.Errorf("Lowest = %v, %v; want 1", got, ok)
	}
	if got, want := s.Free(), []Range{rng(1, 2), rng(4, 10)}; !slices.Equal(got, want) {
		t.Errorf("Free = %v, want %v", got, want)
	}
	if got, ok := s.LowestAfter(OffsetFrom(9)); !ok || got != OffsetFrom(10) {
		t.Errorf("LowestAfter(9) = %v, %v; want 10", got, ok)
	}
	if got, ok := s.LowestAfter(OffsetFrom(10)); ok {
		t.Errorf("LowestAfter(10) = %v, true; want none (11 is beyond max)", got)
	}
	// Empty set with max 0 has nothing free, not even offset 0 or 1.
	z := NewSet(Offset{}, nil)
	if got, ok := z.Lowest(); ok {
		t.Errorf("max 0: Lowest = %v, true", got)
	}
	if got := z.Free(); len(got) != 0 {
		t.Errorf("max 0: Free = %v", got)
	}
	// The zero Set behaves like that too.
	var zs Set
	if _, ok := zs.Lowest(); ok || len(zs.Free()) != 0 || zs.Len() != 0 {
		t.Error("zero Set is not empty with max 0")
	}
	if !zs.Add(OffsetFrom(1)) || !zs.Contains(OffsetFrom(1)) {
		t.Error("zero Set Add failed")
	}
}

func TestSetDoesNotAliasInput(t *testing.T) {
	in := offs(3, 1, 2)
	s := NewSet(OffsetFrom(10), in)
	in[0] = OffsetFrom(9)
	if got, want := s.Used(), offs(1, 2, 3); !slices.Equal(got, want) {
		t.Errorf("Used = %v after changing input, want %v", got, want)
	}
	u := s.Used()
	u[0] = OffsetFrom(7)
	if !s.Contains(OffsetFrom(1)) || s.Contains(OffsetFrom(7)) {
		t.Error("Used result aliases the set")
	}
}

func TestSetWide(t *testing.T) {
	// An IPv6 /64 (max 2^64-2) and a /32 with offsets beyond 64 bits.
	n := mustNetwork(t, "2001:db8::", 32)
	max := n.MaxOffset()
	hi := Offset{Hi: 0xffffffff, Lo: ^uint64(0) - 1} // == max
	if hi != max {
		t.Fatalf("max = %v", max)
	}
	s := NewSet(max, []Offset{max, max.Sub(1), OffsetFrom(1), Offset{Hi: 1}, Offset{Hi: 1}.Sub(1)})
	want := []Range{
		{OffsetFrom(2), OffsetFrom(^uint64(0) - 1)},
		{Offset{Hi: 1, Lo: 1}, max.Sub(2)},
	}
	if got := s.Free(); !slices.Equal(got, want) {
		t.Errorf("Free = %v, want %v", got, want)
	}
	if got, ok := s.LowestAfter(OffsetFrom(^uint64(0) - 1)); !ok || got != (Offset{Hi: 1, Lo: 1}) {
		t.Errorf("LowestAfter crossing 2^64 = %v, %v", got, ok)
	}
	if got, ok := s.LowestAfter(max.Sub(2)); ok {
		t.Errorf("LowestAfter(max-2) = %v, true; want none", got)
	}
	// Offsets near 2^128 with max = 2^128-1 do not wrap.
	top := Offset{Hi: ^uint64(0), Lo: ^uint64(0)}
	s = NewSet(top, []Offset{top, top.Sub(1)})
	if got, want := s.Free(), []Range{{OffsetFrom(1), top.Sub(2)}}; !slices.Equal(got, want) {
		t.Errorf("Free near 2^128 = %v, want %v", got, want)
	}
	if got, ok := s.LowestAfter(top.Sub(2)); ok {
		t.Errorf("LowestAfter near 2^128 = %v, true", got)
	}
	s = NewSet(top, nil)
	if got, ok := s.LowestAfter(top.Sub(1)); !ok || got != top {
		t.Errorf("LowestAfter(top-1) = %v, %v; want top", got, ok)
	}
	if got, want := s.Free(), []Range{{OffsetFrom(1), top}}; !slices.Equal(got, want) {
		t.Errorf("Free = %v, want %v", got, want)
	}
}

func TestSetLarge(t *testing.T) {
	// 100,000 used offsets: a dense run plus scattered entries. The free
	// queries must stay fast (binary search, not a scan per call).
	const n = 100_000
	max := OffsetFrom(1 << 20)
	used := make([]Offset, 0, n)
	for i := uint64(1); i <= n-1000; i++ {
		used = append(used, OffsetFrom(i))
	}
	r := rand.New(rand.NewSource(3))
	for len(used) < n {
		used = append(used, OffsetFrom(uint64(n+r.Intn(1<<19))))
	}
	s := NewSet(max, used)
	want := OffsetFrom(n - 1000 + 1)
	if s.Contains(want) {
		t.Fatal("random entry hit the expected hole; change the seed")
	}
	start := time.Now()
	for i := 0; i < 10_000; i++ {
		if got, ok := s.Lowest(); !ok || got != want {
			t.Fatalf("Lowest = %v, %v; want %v", got, ok, want)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("10,000 Lowest calls on a 100,000 entry set took %v", d)
	}
	free := s.Free()
	var count Offset
	for _, fr := range free {
		count = count.add128(fr.End.sub128(fr.Start).Add(1))
	}
	if got := count.Add(uint64(s.Len())); got != max {
		t.Errorf("free %v + used %d != max %v", count, s.Len(), max)
	}
}
