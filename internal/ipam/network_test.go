package ipam

import (
	"math/big"
	"net/netip"
	"testing"
)

func mustNetwork(t testing.TB, addr string, prefix int) Network {
	t.Helper()
	n, err := NewNetwork(addr, prefix)
	if err != nil {
		t.Fatalf("NewNetwork(%q, %d): %v", addr, prefix, err)
	}
	return n
}

func TestNewNetwork(t *testing.T) {
	tests := []struct {
		addr    string
		prefix  int
		want    string // String() of the result
		version int
		netmask string
		err     string // exact error text, "" for success
	}{
		{"10.30.4.1", 16, "10.30.0.0/16", 4, "255.255.0.0", ""},
		{"10.30.4.1", 1, "0.0.0.0/1", 4, "128.0.0.0", ""},
		{"10.30.4.255", 30, "10.30.4.252/30", 4, "255.255.255.252", ""},
		{"192.168.1.77", 24, "192.168.1.0/24", 4, "255.255.255.0", ""},
		{"172.16.255.255", 12, "172.16.0.0/12", 4, "255.240.0.0", ""},
		{"10.0.0.0", 0, "", 0, "", "Prefix should be in the range [1..30]"},
		{"10.0.0.0", 31, "", 0, "", "Prefix should be in the range [1..30]"},
		{"10.0.0.0", 32, "", 0, "", "Prefix should be in the range [1..30]"},
		{"10.0.0.0", -1, "", 0, "", "Prefix should be in the range [1..30]"},
		{"2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64", 6, "ffff:ffff:ffff:ffff::", ""},
		{"2001:db8:1:2:3:4:5:6", 32, "2001:db8::/32", 6, "ffff:ffff::", ""},
		{"ffff::1", 1, "8000::/1", 6, "8000::", ""},
		{"2001:db8::7", 126, "2001:db8::4/126", 6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffc", ""},
		{"fd00::1", 100, "fd00::/100", 6, "ffff:ffff:ffff:ffff:ffff:ffff:f000:0", ""},
		{"::ffff:10.1.2.3", 112, "::ffff:a01:0/112", 6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:0", ""},
		{"2001:db8::", 0, "", 0, "", "Prefix should be in the range [1..126]"},
		{"2001:db8::", 127, "", 0, "", "Prefix should be in the range [1..126]"},
		{"2001:db8::", 128, "", 0, "", "Prefix should be in the range [1..126]"},
		{"010.0.0.0", 16, "", 0, "", "IP version should be 4 or 6"},
		{"fe80::%eth0", 64, "", 0, "", "IP version should be 4 or 6"},
		{"", 16, "", 0, "", "IP version should be 4 or 6"},
		{"10.0.0.0/16", 16, "", 0, "", "IP version should be 4 or 6"},
	}
	for _, tt := range tests {
		n, err := NewNetwork(tt.addr, tt.prefix)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("NewNetwork(%q, %d) = %v, %v; want error %q", tt.addr, tt.prefix, n, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("NewNetwork(%q, %d): %v", tt.addr, tt.prefix, err)
			continue
		}
		if got := n.String(); got != tt.want {
			t.Errorf("NewNetwork(%q, %d) = %q, want %q", tt.addr, tt.prefix, got, tt.want)
		}
		if n.Version() != tt.version || n.Prefix() != tt.prefix {
			t.Errorf("%v: Version %d Prefix %d, want %d %d", n, n.Version(), n.Prefix(), tt.version, tt.prefix)
		}
		if got := n.Netmask(); got != tt.netmask {
			t.Errorf("%v.Netmask() = %q, want %q", n, got, tt.netmask)
		}
		// Base agrees with netip's own masking.
		a, _ := ParseAddr(tt.addr)
		if want := netip.PrefixFrom(a, tt.prefix).Masked().Addr(); n.Base() != want {
			t.Errorf("%v.Base() = %v, want %v", n, n.Base(), want)
		}
	}
}

func TestMaxOffset(t *testing.T) {
	pow := func(e uint) *big.Int { return new(big.Int).Lsh(big.NewInt(1), e) }
	tests := []struct {
		addr   string
		prefix int
		want   string
	}{
		{"10.30.0.0", 16, "65534"},
		{"10.30.0.0", 30, "2"},
		{"10.30.0.0", 24, "254"},
		{"0.0.0.0", 1, "2147483646"},
		{"2001:db8::", 126, "2"},
		{"2001:db8::", 64, "18446744073709551614"},
		{"2001:db8::", 63, new(big.Int).Sub(pow(65), big.NewInt(2)).String()},
		{"2001:db8::", 32, new(big.Int).Sub(pow(96), big.NewInt(2)).String()},
		{"::", 1, new(big.Int).Sub(pow(127), big.NewInt(2)).String()},
	}
	for _, tt := range tests {
		n := mustNetwork(t, tt.addr, tt.prefix)
		if got := n.MaxOffset().String(); got != tt.want {
			t.Errorf("%v.MaxOffset() = %s, want %s", n, got, tt.want)
		}
	}
	if got := (Network{}).MaxOffset(); !got.IsZero() {
		t.Errorf("zero Network MaxOffset = %v", got)
	}
}

func TestOffsetOfAddrAt(t *testing.T) {
	tests := []struct {
		network string
		prefix  int
		addr    string
		offset  Offset
	}{
		{"10.30.0.0", 16, "10.30.0.0", Offset{}},
		{"10.30.0.0", 16, "10.30.0.1", OffsetFrom(1)},
		{"10.30.0.0", 16, "10.30.1.2", OffsetFrom(258)},
		{"10.30.0.0", 16, "10.30.255.255", OffsetFrom(65535)},
		{"128.0.0.0", 1, "255.255.255.254", OffsetFrom(0x7ffffffe)},
		{"2001:db8::", 64, "2001:db8::1", OffsetFrom(1)},
		{"2001:db8::", 64, "2001:db8::8000:0:0:5", OffsetFrom(1<<63 + 5)},
		{"2001:db8::", 64, "2001:db8::ffff:ffff:ffff:fffe", OffsetFrom(^uint64(0) - 1)},
		{"2001:db8::", 32, "2001:db8:0:1::", Offset{Hi: 1}},
		{"2001:db8::", 32, "2001:db8:abcd:ef01:2345:6789:abcd:ef01", Offset{Hi: 0xabcdef01, Lo: 0x23456789abcdef01}},
		{"2001:db8::", 32, "2001:db8:ffff:ffff:ffff:ffff:ffff:fffe", Offset{Hi: 0xffffffff, Lo: ^uint64(0) - 1}},
		{"8000::", 1, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", Offset{Hi: 1<<63 - 1, Lo: ^uint64(0) - 1}},
		{"::ffff:0.0.0.0", 96, "::ffff:10.0.0.1", OffsetFrom(0x0a000001)},
	}
	for _, tt := range tests {
		n := mustNetwork(t, tt.network, tt.prefix)
		a, err := ParseAddr(tt.addr)
		if err != nil {
			t.Fatal(err)
		}
		if !n.Contains(a) {
			t.Errorf("%v.Contains(%v) = false", n, a)
		}
		o, err := n.OffsetOf(a)
		if err != nil || o != tt.offset {
			t.Errorf("%v.OffsetOf(%v) = %v, %v; want %v", n, a, o, err, tt.offset)
		}
		back, err := n.AddrAt(tt.offset)
		if err != nil || back != a {
			t.Errorf("%v.AddrAt(%v) = %v, %v; want %v", n, tt.offset, back, err, a)
		}
		// Reference: base + offset with big integers.
		sum := new(big.Int).Add(new(big.Int).SetBytes(n.Base().AsSlice()), bigOf(tt.offset))
		if sum.Cmp(new(big.Int).SetBytes(a.AsSlice())) != 0 {
			t.Errorf("table error: %v + %v != %v", n.Base(), tt.offset, a)
		}
	}
}

func TestAddrAtBeyond(t *testing.T) {
	tests := []struct {
		network string
		prefix  int
		offset  Offset
	}{
		{"10.30.0.0", 16, OffsetFrom(65536)},
		{"10.30.0.0", 30, OffsetFrom(4)},
		{"10.30.0.0", 16, Offset{Hi: 1}},
		{"2001:db8::", 64, Offset{Hi: 1}},
		{"2001:db8::", 32, Offset{Hi: 1 << 32}},
		{"2001:db8::", 126, OffsetFrom(4)},
	}
	for _, tt := range tests {
		n := mustNetwork(t, tt.network, tt.prefix)
		if a, err := n.AddrAt(tt.offset); err == nil {
			t.Errorf("%v.AddrAt(%v) = %v, want error", n, tt.offset, a)
		}
		// The last in-network offset (all-ones host) is accepted.
		last := n.MaxOffset().Add(1)
		if _, err := n.AddrAt(last); err != nil {
			t.Errorf("%v.AddrAt(%v): %v", n, last, err)
		}
	}
	if _, err := (Network{}).AddrAt(OffsetFrom(1)); err == nil {
		t.Error("zero Network AddrAt succeeded")
	}
}

func TestOffsetOfErrors(t *testing.T) {
	n4 := mustNetwork(t, "10.30.0.0", 16)
	n6 := mustNetwork(t, "2001:db8::", 64)
	tests := []struct {
		n    Network
		addr netip.Addr
		want string
	}{
		{n4, netip.MustParseAddr("10.31.0.1"), "Network '10.30.0.0/16' does not contain '10.31.0.1'"},
		{n4, netip.MustParseAddr("::ffff:10.30.0.1"), "Network '10.30.0.0/16' does not contain '::ffff:a1e:1'"},
		{n4, netip.MustParseAddr("2001:db8::1"), "Network '10.30.0.0/16' does not contain '2001:db8::1'"},
		{n6, netip.MustParseAddr("2001:db8:0:1::1"), "Network '2001:db8::/64' does not contain '2001:db8:0:1::1'"},
		{n6, netip.MustParseAddr("10.30.0.1"), "Network '2001:db8::/64' does not contain '10.30.0.1'"},
		{n6, netip.MustParseAddr("2001:db8::1%eth0"), "Network '2001:db8::/64' does not contain '2001:db8::1%eth0'"},
	}
	for _, tt := range tests {
		if tt.n.Contains(tt.addr) {
			t.Errorf("%v.Contains(%v) = true", tt.n, tt.addr)
		}
		_, err := tt.n.OffsetOf(tt.addr)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%v.OffsetOf(%v) error = %v, want %q", tt.n, tt.addr, err, tt.want)
		}
		_, err = tt.n.UsableOffsetOf(tt.addr)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%v.UsableOffsetOf(%v) error = %v, want %q", tt.n, tt.addr, err, tt.want)
		}
	}
}

func TestUsable(t *testing.T) {
	n4 := mustNetwork(t, "10.30.0.0", 16)
	n6 := mustNetwork(t, "2001:db8::", 64)
	tests := []struct {
		n    Network
		in   string
		want Offset
		err  string
	}{
		{n4, "10.30.0.1", OffsetFrom(1), ""},
		{n4, "10.30.255.254", OffsetFrom(65534), ""},
		{n4, "10.30.0.0", Offset{}, "'10.30.0.0' is the network address of 10.30.0.0/16"},
		{n4, "10.30.255.255", Offset{}, "'10.30.255.255' is the broadcast address of 10.30.0.0/16"},
		{n4, "10.31.0.1", Offset{}, "Network '10.30.0.0/16' does not contain '10.31.0.1'"},
		{n4, "2001:db8::1", Offset{}, "Network '10.30.0.0/16' does not contain '2001:db8::1'"},
		{n4, "10.30.0.01", Offset{}, "Cannot convert IP '10.30.0.01' to C format"},
		{n4, "", Offset{}, "Cannot convert IP '' to C format"},
		{n6, "2001:db8::1", OffsetFrom(1), ""},
		{n6, "2001:DB8:0:0:ffff:ffff:ffff:fffe", OffsetFrom(^uint64(0) - 1), ""},
		{n6, "2001:db8::", Offset{}, "'2001:db8::' is the network address of 2001:db8::/64"},
		{n6, "2001:db8::ffff:ffff:ffff:ffff", Offset{}, "'2001:db8::ffff:ffff:ffff:ffff' is the broadcast address of 2001:db8::/64"},
		{n6, "10.30.0.1", Offset{}, "Network '2001:db8::/64' does not contain '10.30.0.1'"},
		{n6, "2001:db8::1%eth0", Offset{}, "Cannot convert IP '2001:db8::1%eth0' to C format"},
	}
	for _, tt := range tests {
		got, err := tt.n.ParseUsable(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("%v.ParseUsable(%q) = %v, %v; want error %q", tt.n, tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%v.ParseUsable(%q) = %v, %v; want %v", tt.n, tt.in, got, err, tt.want)
		}
	}
}

func TestOverlaps(t *testing.T) {
	tests := []struct {
		a     string
		ap    int
		b     string
		bp    int
		wantv bool
	}{
		{"10.0.0.0", 16, "10.0.128.0", 17, true},
		{"10.0.0.0", 16, "10.1.0.0", 16, false},
		{"10.0.0.0", 16, "10.0.0.0", 16, true},
		{"10.0.0.0", 8, "10.255.255.252", 30, true},
		{"10.0.0.0", 30, "10.0.0.4", 30, false},
		{"0.0.0.0", 1, "127.255.255.252", 30, true},
		{"0.0.0.0", 1, "128.0.0.0", 1, false},
		{"10.0.0.0", 16, "::", 1, false},
		{"10.0.0.0", 16, "::ffff:10.0.0.0", 112, false},
		{"2001:db8::", 32, "2001:db8:ffff::", 48, true},
		{"2001:db8::", 32, "2001:db9::", 32, false},
		{"2001:db8::", 64, "2001:db8:0:0:8000::", 65, true},
		{"2001:db8::", 64, "2001:db8:0:1::", 64, false},
	}
	for _, tt := range tests {
		a, b := mustNetwork(t, tt.a, tt.ap), mustNetwork(t, tt.b, tt.bp)
		if got := a.Overlaps(b); got != tt.wantv {
			t.Errorf("%v.Overlaps(%v) = %v, want %v", a, b, got, tt.wantv)
		}
		if got := b.Overlaps(a); got != tt.wantv {
			t.Errorf("%v.Overlaps(%v) = %v, want %v", b, a, got, tt.wantv)
		}
		// Same answer as netip.
		pa := netip.PrefixFrom(a.Base(), a.Prefix())
		pb := netip.PrefixFrom(b.Base(), b.Prefix())
		if want := pa.Overlaps(pb) && a.Version() == b.Version(); want != tt.wantv {
			t.Errorf("table disagrees with netip for %v %v", a, b)
		}
	}
	if (Network{}).Overlaps(mustNetwork(t, "10.0.0.0", 8)) {
		t.Error("zero Network overlaps")
	}
}

func TestWithBaseWithPrefix(t *testing.T) {
	n4 := mustNetwork(t, "10.30.0.0", 16)
	n6 := mustNetwork(t, "2001:db8::", 64)
	baseTests := []struct {
		n    Network
		addr string
		want string
		err  string
	}{
		{n4, "10.40.7.9", "10.40.0.0/16", ""},
		{n4, "192.168.0.1", "192.168.0.0/16", ""},
		{n4, "2001:db8::1", "", "Cannot convert IP '2001:db8::1' to C format"},
		{n4, "::ffff:10.40.0.0", "", "Cannot convert IP '::ffff:10.40.0.0' to C format"},
		{n4, "10.40.0", "", "Cannot convert IP '10.40.0' to C format"},
		{n6, "fd00:1:2:3:4:5:6:7", "fd00:1:2:3::/64", ""},
		{n6, "10.0.0.1", "", "Cannot convert IP '10.0.0.1' to C format"},
	}
	for _, tt := range baseTests {
		got, err := tt.n.WithBase(tt.addr)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("%v.WithBase(%q) = %v, %v; want error %q", tt.n, tt.addr, got, err, tt.err)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("%v.WithBase(%q) = %v, %v; want %s", tt.n, tt.addr, got, err, tt.want)
		}
	}
	prefixTests := []struct {
		n    Network
		p    int
		want string
		err  string
	}{
		{n4, 8, "10.0.0.0/8", ""},
		{n4, 24, "10.30.0.0/24", ""},
		{n4, 30, "10.30.0.0/30", ""},
		{n4, 31, "", "Prefix should be in the range [1..30]"},
		{n4, 0, "", "Prefix should be in the range [1..30]"},
		{n6, 16, "2001::/16", ""},
		{n6, 126, "2001:db8::/126", ""},
		{n6, 127, "", "Prefix should be in the range [1..126]"},
	}
	for _, tt := range prefixTests {
		got, err := tt.n.WithPrefix(tt.p)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("%v.WithPrefix(%d) = %v, %v; want error %q", tt.n, tt.p, got, err, tt.err)
			}
			continue
		}
		if err != nil || got.String() != tt.want || got.Prefix() != tt.p {
			t.Errorf("%v.WithPrefix(%d) = %v, %v; want %s", tt.n, tt.p, got, err, tt.want)
		}
	}
	// The receiver is unchanged.
	if n4.String() != "10.30.0.0/16" || n6.String() != "2001:db8::/64" {
		t.Errorf("receivers modified: %v %v", n4, n6)
	}
}
