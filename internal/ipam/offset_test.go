package ipam

import (
	"math/big"
	"math/rand"
	"slices"
	"strings"
	"testing"
)

// bigOf converts o to a big.Int for reference arithmetic.
func bigOf(o Offset) *big.Int {
	b := new(big.Int).SetUint64(o.Hi)
	b.Lsh(b, 64)
	return b.Or(b, new(big.Int).SetUint64(o.Lo))
}

var two128 = new(big.Int).Lsh(big.NewInt(1), 128)

func TestOffsetArithmetic(t *testing.T) {
	max := Offset{Hi: ^uint64(0), Lo: ^uint64(0)}
	tests := []struct {
		name string
		got  Offset
		want Offset
	}{
		{"from", OffsetFrom(42), Offset{Lo: 42}},
		{"add", OffsetFrom(1).Add(2), OffsetFrom(3)},
		{"add carry", OffsetFrom(^uint64(0)).Add(1), Offset{Hi: 1}},
		{"add carry 2", Offset{Hi: 5, Lo: ^uint64(0) - 1}.Add(3), Offset{Hi: 6, Lo: 1}},
		{"add wrap", max.Add(1), Offset{}},
		{"sub", OffsetFrom(3).Sub(2), OffsetFrom(1)},
		{"sub borrow", Offset{Hi: 1}.Sub(1), OffsetFrom(^uint64(0))},
		{"sub wrap", Offset{}.Sub(1), max},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, tt.got, tt.want)
		}
	}
	if !(Offset{}).IsZero() || OffsetFrom(1).IsZero() || (Offset{Hi: 1}).IsZero() {
		t.Error("IsZero is wrong")
	}
	cmps := []struct {
		a, b Offset
		want int
	}{
		{OffsetFrom(1), OffsetFrom(2), -1},
		{OffsetFrom(2), OffsetFrom(1), 1},
		{OffsetFrom(7), OffsetFrom(7), 0},
		{Offset{Hi: 1}, OffsetFrom(^uint64(0)), 1},
		{OffsetFrom(^uint64(0)), Offset{Hi: 1}, -1},
		{Offset{Hi: 2, Lo: 1}, Offset{Hi: 2, Lo: 3}, -1},
	}
	for _, c := range cmps {
		if got := c.a.Cmp(c.b); got != c.want {
			t.Errorf("%+v.Cmp(%+v) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestOffsetStringParse(t *testing.T) {
	tests := []struct {
		o Offset
		s string
	}{
		{Offset{}, "0"},
		{OffsetFrom(65534), "65534"},
		{OffsetFrom(^uint64(0) - 1), "18446744073709551614"},
		{OffsetFrom(^uint64(0)), "18446744073709551615"},
		{Offset{Hi: 1}, "18446744073709551616"},
		{Offset{Hi: 1 << 63, Lo: 0}, "170141183460469231731687303715884105728"},
		{Offset{Hi: 1<<63 - 1, Lo: ^uint64(0) - 1}, "170141183460469231731687303715884105726"},
		{Offset{Hi: ^uint64(0), Lo: ^uint64(0)}, "340282366920938463463374607431768211455"},
		{Offset{Hi: 0x21, Lo: 5}, "608742554432415203333"}, // 33*2^64+5
	}
	for _, tt := range tests {
		if got := tt.o.String(); got != tt.s {
			t.Errorf("%+v.String() = %q, want %q", tt.o, got, tt.s)
		}
		if want := bigOf(tt.o).String(); tt.s != want {
			t.Errorf("test table wrong for %+v: %q vs big %q", tt.o, tt.s, want)
		}
		got, err := ParseOffset(tt.s)
		if err != nil || got != tt.o {
			t.Errorf("ParseOffset(%q) = %+v, %v; want %+v", tt.s, got, err, tt.o)
		}
	}
	if got, err := ParseOffset("007"); err != nil || got != OffsetFrom(7) {
		t.Errorf("ParseOffset(007) = %+v, %v", got, err)
	}
	for _, bad := range []string{"", "-1", "+1", " 1", "1 ", "1_000", "0x10", "1e3", "12a",
		"340282366920938463463374607431768211456", // 2^128
		"3402823669209384634633746074317682114550",
		"999999999999999999999999999999999999999999"} {
		if got, err := ParseOffset(bad); err == nil {
			t.Errorf("ParseOffset(%q) = %+v, want error", bad, got)
		}
	}
}

func TestOffsetStringRandom(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 2000; i++ {
		o := randomOffset(r)
		want := bigOf(o).String()
		if got := o.String(); got != want {
			t.Fatalf("%+v.String() = %q, want %q", o, got, want)
		}
		back, err := ParseOffset(want)
		if err != nil || back != o {
			t.Fatalf("ParseOffset(%q) = %+v, %v; want %+v", want, back, err, o)
		}
		// Add/Sub agree with big arithmetic modulo 2^128.
		v := r.Uint64()
		sum := new(big.Int).Add(bigOf(o), new(big.Int).SetUint64(v))
		sum.Mod(sum, two128)
		if got := bigOf(o.Add(v)); got.Cmp(sum) != 0 {
			t.Fatalf("%v.Add(%d) = %v, want %v", o, v, got, sum)
		}
		diff := new(big.Int).Sub(bigOf(o), new(big.Int).SetUint64(v))
		diff.Mod(diff, two128)
		if got := bigOf(o.Sub(v)); got.Cmp(diff) != 0 {
			t.Fatalf("%v.Sub(%d) = %v, want %v", o, v, got, diff)
		}
	}
}

// randomOffset returns offsets of assorted magnitudes, so that both halves
// and the carry boundaries get exercised.
func randomOffset(r *rand.Rand) Offset {
	switch r.Intn(5) {
	case 0:
		return OffsetFrom(uint64(r.Intn(1000)))
	case 1:
		return OffsetFrom(r.Uint64())
	case 2:
		return Offset{Hi: uint64(r.Intn(3)), Lo: ^uint64(0) - uint64(r.Intn(3))}
	case 3:
		return Offset{Hi: uint64(r.Intn(1000)), Lo: r.Uint64()}
	}
	return Offset{Hi: r.Uint64(), Lo: r.Uint64()}
}

func TestKey(t *testing.T) {
	tests := []struct {
		o   Offset
		key string
	}{
		{Offset{}, "00000000000000000000000000000000"},
		{OffsetFrom(1), "00000000000000000000000000000001"},
		{OffsetFrom(0xabcdef), "00000000000000000000000000abcdef"},
		{Offset{Hi: 1}, "00000000000000010000000000000000"},
		{Offset{Hi: 0x0123456789abcdef, Lo: 0xfedcba9876543210}, "0123456789abcdeffedcba9876543210"},
		{Offset{Hi: ^uint64(0), Lo: ^uint64(0)}, "ffffffffffffffffffffffffffffffff"},
	}
	for _, tt := range tests {
		if got := tt.o.Key(); got != tt.key {
			t.Errorf("%+v.Key() = %q, want %q", tt.o, got, tt.key)
		}
		got, err := ParseKey(tt.key)
		if err != nil || got != tt.o {
			t.Errorf("ParseKey(%q) = %+v, %v; want %+v", tt.key, got, err, tt.o)
		}
	}
	for _, bad := range []string{
		"",
		"0",
		"0000000000000000000000000000001",   // 31 digits
		"000000000000000000000000000000001", // 33 digits
		"0000000000000000000000000000000A",  // upper case
		"0000000000000000000000000000000g",
		"0x000000000000000000000000000001",
		"-0000000000000000000000000000001",
		" 0000000000000000000000000000001",
	} {
		if got, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) = %+v, want error", bad, got)
		}
	}
}

func TestKeyOrdering(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	offs := make([]Offset, 3000)
	for i := range offs {
		offs[i] = randomOffset(r)
	}
	for i := 0; i+1 < len(offs); i++ {
		a, b := offs[i], offs[i+1]
		ka, kb := a.Key(), b.Key()
		if len(ka) != 32 {
			t.Fatalf("Key(%v) = %q has length %d", a, ka, len(ka))
		}
		if got, want := strings.Compare(ka, kb), a.Cmp(b); got != want {
			t.Fatalf("key order %q vs %q = %d, numeric order %v vs %v = %d", ka, kb, got, a, b, want)
		}
		back, err := ParseKey(ka)
		if err != nil || back != a {
			t.Fatalf("ParseKey(%q) = %+v, %v; want %+v", ka, back, err, a)
		}
	}
	// Sorting by key and sorting numerically give the same sequence.
	byKey := slices.Clone(offs)
	slices.SortFunc(byKey, func(a, b Offset) int { return strings.Compare(a.Key(), b.Key()) })
	byNum := slices.Clone(offs)
	slices.SortFunc(byNum, func(a, b Offset) int { return bigOf(a).Cmp(bigOf(b)) })
	if !slices.Equal(byKey, byNum) {
		t.Error("sorting by Key differs from numeric sorting")
	}
}
