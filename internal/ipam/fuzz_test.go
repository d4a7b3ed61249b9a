package ipam

import (
	"math/big"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// ipv4LeadingZero reports whether s looks like a dotted quad (possibly
// embedded at the end of IPv6 text) with a leading zero in some field.
func ipv4LeadingZero(s string) bool {
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		s = s[i+1:]
	}
	if !strings.Contains(s, ".") {
		return false
	}
	for _, f := range strings.Split(s, ".") {
		if len(f) > 1 && f[0] == '0' {
			return true
		}
	}
	return false
}

func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{
		"10.0.0.1", "010.0.0.1", "1.2.3", "1.2.3.4/24", "fe80::1%eth0",
		"::ffff:1.2.3.4", "", " 1.2.3.4", "::", "::1", "1::", "1:2:3:4:5:6:7:8",
		"1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1:0:2:0:0:3:0:4", "1:0:0:2:0:0:3:4",
		"2001:DB8::ABCD", "1:2:3:4:5:6:1.2.3.4", "::1.2.3.4", "1::2::3", ":::",
		"12345::", "::ffff:01.2.3.4", "255.255.255.255", "256.1.1.1",
		"0000:0000:0000:0000:0000:0000:0000:0001", "1:2:3:4:5:6:7:8:9",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddr(s)
		na, nerr := netip.ParseAddr(s)
		if err != nil {
			if want := "Cannot convert IP '" + s + "' to C format"; err.Error() != want {
				t.Fatalf("ParseAddr(%q) error %q, want %q", s, err, want)
			}
			if a.IsValid() {
				t.Fatalf("ParseAddr(%q) failed but returned %v", s, a)
			}
			if nerr == nil && na.Zone() == "" && !ipv4LeadingZero(s) {
				t.Fatalf("ParseAddr(%q) rejected what netip accepts as %v", s, na)
			}
			return
		}
		if !a.IsValid() || a.Zone() != "" {
			t.Fatalf("ParseAddr(%q) = %v: invalid or zoned", s, a)
		}
		if a.Is4() == strings.Contains(s, ":") {
			t.Fatalf("ParseAddr(%q) = %v: wrong family", s, a)
		}
		// Everything inet_pton accepts, netip accepts with the same value.
		if nerr != nil || na != a {
			t.Fatalf("ParseAddr(%q) = %v, but netip.ParseAddr = %v, %v", s, a, na, nerr)
		}
		text := FormatAddr(a)
		b, err := ParseAddr(text)
		if err != nil || b != a {
			t.Fatalf("ParseAddr(FormatAddr(%v) = %q) = %v, %v", a, text, b, err)
		}
		if again := FormatAddr(b); again != text {
			t.Fatalf("FormatAddr not stable: %q then %q", text, again)
		}
		// netip uses the same compression rules, except for IPv4-mapped
		// addresses which it prints with a dotted quad.
		if !a.Is4In6() && text != a.String() {
			t.Fatalf("FormatAddr(%v) = %q, netip prints %q", a, text, a.String())
		}
		if strings.Contains(text, ".") != a.Is4() {
			t.Fatalf("FormatAddr(%v) = %q: dotted quad only for IPv4", a, text)
		}
		if v := Version(s); (v == 4) != a.Is4() || (v == 6) != a.Is6() {
			t.Fatalf("Version(%q) = %d for %v", s, v, a)
		}
	})
}

func FuzzOffsetRoundTrip(f *testing.F) {
	f.Add(uint64(0x20010db800000000), uint64(0), uint8(32), uint64(0xabcdef01), uint64(0x23456789abcdef01))
	f.Add(uint64(0x20010db800000000), uint64(0), uint8(64), uint64(0), uint64(1<<63+5))
	f.Add(uint64(0), uint64(0), uint8(1), ^uint64(0), ^uint64(0))
	f.Add(^uint64(0), ^uint64(0), uint8(126), uint64(0), uint64(3))
	f.Add(uint64(0xfd00000000000000), uint64(0x0a1e0000), uint8(100), uint64(1), uint64(0))
	f.Add(uint64(0), uint64(0x0000ffff0a1e0401), uint8(112), uint64(0), uint64(0xffff))
	f.Fuzz(func(t *testing.T, baseHi, baseLo uint64, prefix uint8, hi, lo uint64) {
		// IPv6.
		p := 1 + int(prefix)%126
		n, err := NewNetwork(FormatAddr(offsetAddr(Offset{Hi: baseHi, Lo: baseLo}, false)), p)
		if err != nil {
			t.Fatalf("NewNetwork: %v", err)
		}
		checkRoundTrip(t, n, Offset{Hi: hi, Lo: lo}, 128)

		// IPv4, from the same inputs.
		p4 := 1 + int(prefix)%30
		n4, err := NewNetwork(FormatAddr(offsetAddr(Offset{Lo: baseLo}, true)), p4)
		if err != nil {
			t.Fatalf("NewNetwork: %v", err)
		}
		checkRoundTrip(t, n4, Offset{Hi: hi, Lo: lo}, 32)
	})
}

// checkRoundTrip checks AddrAt/OffsetOf/UsableOffsetOf for the offset raw
// reduced into n, and that raw itself is refused when it lies beyond n.
func checkRoundTrip(t *testing.T, n Network, raw Offset, bits int) {
	t.Helper()
	hostBits := bits - n.Prefix()
	size := new(big.Int).Lsh(big.NewInt(1), uint(hostBits))
	mask := lowMask(hostBits)
	o := raw.and(mask)

	a, err := n.AddrAt(o)
	if err != nil {
		t.Fatalf("%v.AddrAt(%v): %v", n, o, err)
	}
	if !n.Contains(a) {
		t.Fatalf("%v does not contain AddrAt(%v) = %v", n, o, a)
	}
	back, err := n.OffsetOf(a)
	if err != nil || back != o {
		t.Fatalf("%v.OffsetOf(%v) = %v, %v; want %v", n, a, back, err, o)
	}
	// base + o computed independently.
	want := new(big.Int).Add(new(big.Int).SetBytes(n.Base().AsSlice()), bigOf(o))
	if got := new(big.Int).SetBytes(a.AsSlice()); got.Cmp(want) != 0 {
		t.Fatalf("%v.AddrAt(%v) = %v (%v), want %v", n, o, a, got, want)
	}
	// MaxOffset is size-2.
	if got := bigOf(n.MaxOffset()); got.Cmp(new(big.Int).Sub(size, big.NewInt(2))) != 0 {
		t.Fatalf("%v.MaxOffset() = %v, want 2^%d-2", n, got, hostBits)
	}
	u, err := n.UsableOffsetOf(a)
	switch {
	case o.IsZero():
		if err == nil || !strings.Contains(err.Error(), "is the network address of") {
			t.Fatalf("%v.UsableOffsetOf(%v) = %v, %v; want network address error", n, a, u, err)
		}
	case o.Cmp(n.MaxOffset()) > 0:
		if err == nil || !strings.Contains(err.Error(), "is the broadcast address of") {
			t.Fatalf("%v.UsableOffsetOf(%v) = %v, %v; want broadcast error", n, a, u, err)
		}
	default:
		if err != nil || u != o {
			t.Fatalf("%v.UsableOffsetOf(%v) = %v, %v; want %v", n, a, u, err, o)
		}
		pu, err := n.ParseUsable(FormatAddr(a))
		if err != nil || pu != o {
			t.Fatalf("%v.ParseUsable(%q) = %v, %v; want %v", n, FormatAddr(a), pu, err, o)
		}
	}
	if bigOf(raw).Cmp(size) >= 0 {
		if got, err := n.AddrAt(raw); err == nil {
			t.Fatalf("%v.AddrAt(%v) = %v, want error (beyond network)", n, raw, got)
		}
	}
}

func FuzzSet(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{64, 0})
	f.Add([]byte{10, 3, 1, 2, 4, 3, 5, 0x80 | 2, 0x80 | 2})
	f.Add([]byte{5, 0, 1, 2, 3, 4, 5, 0, 6, 69})
	f.Add([]byte{0, 2, 0, 1, 1, 0x81})
	f.Add([]byte{64, 15, 64, 63, 62, 1, 2, 3, 32, 33, 0, 65, 66, 67, 10, 11, 12, 0x80 | 64, 0x80 | 1, 20})
	f.Fuzz(func(t *testing.T, data []byte) {
		// Layout: max, count of initial offsets, initial offsets, then at
		// most maxOps ops. An op byte adds (high bit clear) or removes (high
		// bit set) the offset (b&0x7f)%setSpan, which includes 0 and offsets
		// beyond max.
		const maxOps = 256
		next := func() (byte, bool) {
			if len(data) == 0 {
				return 0, false
			}
			b := data[0]
			data = data[1:]
			return b, true
		}
		b, _ := next()
		max := uint64(b % 65)
		k, _ := next()
		var model setModel
		var initial []Offset
		for i := 0; i < int(k%16); i++ {
			b, ok := next()
			if !ok {
				break
			}
			v := uint64(b&0x7f) % setSpan
			initial = append(initial, OffsetFrom(v))
			model[v] = true
		}
		s := NewSet(OffsetFrom(max), initial)
		checkSet(t, s, max, &model)
		for i := 0; i < maxOps; i++ {
			b, ok := next()
			if !ok {
				break
			}
			v := uint64(b&0x7f) % setSpan
			if b&0x80 != 0 {
				if got := s.Remove(OffsetFrom(v)); got != model[v] {
					t.Fatalf("Remove(%d) = %v, model has %v", v, got, model[v])
				}
				model[v] = false
			} else {
				if got := s.Add(OffsetFrom(v)); got == model[v] {
					t.Fatalf("Add(%d) = %v, model has %v", v, got, model[v])
				}
				model[v] = true
			}
			// A cheap check after every op, the full one every few ops.
			wv, wok := model.lowestAfter(0, max)
			if got, ok := s.Lowest(); ok != wok || (ok && got != OffsetFrom(wv)) {
				t.Fatalf("after op %d: Lowest = %v, %v; want %d, %v", i, got, ok, wv, wok)
			}
			if i%8 == 7 {
				checkSet(t, s, max, &model)
			}
		}
		checkSet(t, s, max, &model)
	})
}

// setSpan bounds the offsets FuzzSet uses: 0..69, beyond the largest max 64.
const setSpan = 70

// setModel is the naive model for FuzzSet: model[v] reports whether v is
// used.
type setModel [setSpan]bool

func (m *setModel) isFree(v, max uint64) bool { return v >= 1 && v <= max && !m[v] }

// lowestAfter returns the lowest free offset > o by linear scan.
func (m *setModel) lowestAfter(o, max uint64) (uint64, bool) {
	for v := o + 1; v <= max; v++ {
		if m.isFree(v, max) {
			return v, true
		}
	}
	return 0, false
}

// checkSet compares s against the naive model of the used offsets.
func checkSet(t *testing.T, s *Set, max uint64, m *setModel) {
	t.Helper()
	if s.Max() != OffsetFrom(max) {
		t.Fatalf("Max = %v, want %d", s.Max(), max)
	}
	var want []Offset
	for v, used := range m {
		if used {
			want = append(want, OffsetFrom(uint64(v)))
		}
	}
	if s.Len() != len(want) {
		t.Fatalf("Len = %d, model has %d", s.Len(), len(want))
	}
	if got := s.Used(); !slices.Equal(got, want) {
		t.Fatalf("Used = %v, want %v", got, want)
	}
	for v := uint64(0); v < setSpan+2; v++ {
		inModel := v < setSpan && m[v]
		if s.Contains(OffsetFrom(v)) != inModel {
			t.Fatalf("Contains(%d) = %v, model %v", v, !inModel, inModel)
		}
	}
	// Lowest and LowestAfter against a linear scan.
	wv, wok := m.lowestAfter(0, max)
	if got, ok := s.Lowest(); ok != wok || (ok && got != OffsetFrom(wv)) {
		t.Fatalf("Lowest = %v, %v; want %d, %v", got, ok, wv, wok)
	}
	for o := uint64(0); o <= max+2; o++ {
		wv, wok := m.lowestAfter(o, max)
		if got, ok := s.LowestAfter(OffsetFrom(o)); ok != wok || (ok && got != OffsetFrom(wv)) {
			t.Fatalf("LowestAfter(%d) = %v, %v; want %d, %v", o, got, ok, wv, wok)
		}
	}
	// Free: sorted, within [1,max], non-overlapping, non-adjacent, and
	// covering exactly the free offsets.
	var covered [setSpan]bool
	var prevEnd uint64
	free := s.Free()
	for i, r := range free {
		if r.Start.Hi != 0 || r.End.Hi != 0 {
			t.Fatalf("Free range %d = %v out of bounds", i, r)
		}
		st, en := r.Start.Lo, r.End.Lo
		if st < 1 || en > max || st > en {
			t.Fatalf("Free range %d = [%d,%d] invalid for max %d", i, st, en, max)
		}
		if i > 0 && st <= prevEnd+1 {
			t.Fatalf("Free range %d = [%d,%d] overlaps or touches previous end %d", i, st, en, prevEnd)
		}
		for v := st; v <= en; v++ {
			if !m.isFree(v, max) {
				t.Fatalf("Free range [%d,%d] includes used or reserved %d", st, en, v)
			}
			covered[v] = true
		}
		prevEnd = en
	}
	for v := uint64(1); v <= max; v++ {
		if m.isFree(v, max) && !covered[v] {
			t.Fatalf("free offset %d missing from Free() = %v", v, free)
		}
	}
}
