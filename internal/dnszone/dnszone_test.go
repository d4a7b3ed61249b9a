package dnszone

import (
	"math/big"
	"net/netip"
	"testing"
)

func TestReverseZones(t *testing.T) {
	for _, c := range []struct {
		base   string
		prefix int
		first  string
		count  int
	}{
		{"10.141.0.0", 16, "141.10.in-addr.arpa", 1},
		{"10.149.0.0", 19, "0.149.10.in-addr.arpa", 32},
		{"10.0.0.0", 8, "10.in-addr.arpa", 1},
		{"10.0.0.0", 7, "10.in-addr.arpa", 2},
		{"0.0.0.0", 1, "0.in-addr.arpa", 128},
		{"192.0.2.128", 25, "2.0.192.in-addr.arpa", 1},
		{"192.0.2.252", 30, "2.0.192.in-addr.arpa", 1},
		{"fd12:3456:789a:1::", 64, "1.0.0.0.a.9.8.7.6.5.4.3.2.1.d.f.ip6.arpa", 1},
		{"2001:db8:1::", 62, "0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", 4},
		{"2001:db8::", 33, "0.8.b.d.0.1.0.0.2.ip6.arpa", 8},
		{"2001:db8::", 126, "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", 1},
	} {
		zones, _ := reverseZones(netip.MustParseAddr(c.base), c.prefix)
		if len(zones) != c.count || zones[0].name != c.first {
			t.Errorf("%s/%d: %d zones from %s, want %d from %s", c.base, c.prefix, len(zones), zones[0].name, c.count, c.first)
		}
	}
}

func TestNextSerial(t *testing.T) {
	if got := NextSerial(0, false, 1796342400); got != 1796342400 {
		t.Errorf("new zone: %d", got)
	}
	if got := NextSerial(1796342400, true, 1796342400); got != 1796342401 {
		t.Errorf("second change in one second: %d", got)
	}
	if got := NextSerial(2026120401, true, 1796342400); got != 2026120402 {
		t.Errorf("after a YYYYMMDDnn serial: %d", got)
	}
	if got := NextSerial(1, true, 1796342400); got != 1796342400 {
		t.Errorf("after 1.2's serial 1: %d", got)
	}
}

// FuzzReverseZones checks that the reverse zones of a network are distinct
// and that every address of the network, its first, its last and one in
// between, lies in one of them.
func FuzzReverseZones(f *testing.F) {
	f.Add([]byte{10, 149, 0, 0}, 19, uint64(12345))
	f.Add([]byte{0x20, 1, 0xd, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 62, uint64(7))
	f.Fuzz(func(t *testing.T, raw []byte, prefix int, pick uint64) {
		a, ok := netip.AddrFromSlice(raw)
		if !ok {
			return
		}
		bits := a.BitLen()
		if (bits == 32 && (prefix < 1 || prefix > 30)) || (bits == 128 && (prefix < 1 || prefix > 126)) {
			return
		}
		p, _ := a.Prefix(prefix)
		base := p.Addr()
		zones, zp := reverseZones(base, prefix)
		if zp%unit(base) != 0 || len(zones) == 0 || len(zones) > 128 {
			t.Fatalf("%s: %d zones of /%d", p, len(zones), zp)
		}
		names := map[string]bool{}
		for _, z := range zones {
			if names[z.name] {
				t.Fatalf("%s: zone %s twice", p, z.name)
			}
			names[z.name] = true
		}
		hostBits := uint(bits - prefix)
		size := new(big.Int).Lsh(big.NewInt(1), hostBits)
		start := new(big.Int).SetBytes(base.AsSlice())
		for _, off := range []*big.Int{big.NewInt(0), new(big.Int).Sub(size, big.NewInt(1)), new(big.Int).Mod(new(big.Int).SetUint64(pick), size)} {
			ip, _ := netip.AddrFromSlice(new(big.Int).Add(start, off).FillBytes(make([]byte, bits/8)))
			if n := reverseZoneName(ip, zp); !names[n] {
				t.Fatalf("%s: %s lies in %s, not one of its zones", p, ip, n)
			}
		}
	})
}
