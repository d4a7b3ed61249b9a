package ipam

import (
	"math/rand"
	"net/netip"
	"strings"
	"testing"
)

func TestParseAddr(t *testing.T) {
	tests := []struct {
		in   string
		want string // netip text of the expected address; "" means rejected
		is6  bool
	}{
		{"10.0.0.1", "10.0.0.1", false},
		{"0.0.0.0", "0.0.0.0", false},
		{"255.255.255.255", "255.255.255.255", false},
		{"010.0.0.1", "", false},
		{"10.0.0.01", "", false},
		{"00.0.0.0", "", false},
		{"1.2.3", "", false},
		{"1.2.3.4.5", "", false},
		{"1.2.3.4.", "", false},
		{".1.2.3", "", false},
		{"1..2.3", "", false},
		{"256.0.0.1", "", false},
		{"1.2.3.4/24", "", false},
		{"1.2.3.-4", "", false},
		{"0x1.2.3.4", "", false},
		{"", "", false},
		{" 1.2.3.4", "", false},
		{"1.2.3.4 ", "", false},
		{"::", "::", true},
		{"::1", "::1", true},
		{"1::", "1::", true},
		{"fe80::1", "fe80::1", true},
		{"FE80::ABCD", "fe80::abcd", true},
		{"fe80::1%eth0", "", false},
		{"[fe80::1]", "", false},
		{"fe80::1/64", "", false},
		{"::ffff:1.2.3.4", "::ffff:1.2.3.4", true},
		{"::1.2.3.4", "::102:304", true},
		{"1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304", true},
		{"1:2:3:4:5:6:7:1.2.3.4", "", false},
		{"1:2:3:4:5:1.2.3.4", "", false},
		{"::ffff:01.2.3.4", "", false},
		{"::ffff:1.2.3", "", false},
		{"::ffff:a.2.3.4", "", false},
		{"::1.2.3.4:5", "", false},
		{"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8", true},
		{"0001:0002:0003:0004:0005:0006:0007:0008", "1:2:3:4:5:6:7:8", true},
		{"1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0", true},
		{"::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8", true},
		{"1:2:3:4:5:6:7:8:9", "", false},
		{"1:2:3:4:5:6:7", "", false},
		{"1:2:3:4:5:6:7:8::", "", false},
		{"::1:2:3:4:5:6:7:8", "", false},
		{"1::2::3", "", false},
		{":::", "", false},
		{":1::2", "", false},
		{"1::2:", "", false},
		{":", "", false},
		{"1:::2", "", false},
		{"12345::", "", false},
		{"g::", "", false},
		{"::ffff:1.2.3.4 ", "", false},
	}
	for _, tt := range tests {
		got, err := ParseAddr(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("ParseAddr(%q) = %v, want error", tt.in, got)
				continue
			}
			if want := "Cannot convert IP '" + tt.in + "' to C format"; err.Error() != want {
				t.Errorf("ParseAddr(%q) error = %q, want %q", tt.in, err, want)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseAddr(%q) error: %v", tt.in, err)
			continue
		}
		if want := netip.MustParseAddr(tt.want); got != want {
			t.Errorf("ParseAddr(%q) = %v, want %v", tt.in, got, want)
		}
		if got.Is6() != tt.is6 || got.Is4() == tt.is6 {
			t.Errorf("ParseAddr(%q) = %v: Is6 = %v, want %v", tt.in, got, got.Is6(), tt.is6)
		}
	}
}

func TestFormatAddr(t *testing.T) {
	tests := []struct{ in, want string }{
		{"10.0.0.1", "10.0.0.1"},
		{"0.0.0.0", "0.0.0.0"},
		{"fe80:0:0:0:0:0:0:1", "fe80::1"},
		{"1:0:2:0:0:3:0:4", "1:0:2::3:0:4"},
		{"1:0:0:2:0:0:3:4", "1::2:0:0:3:4"},
		{"1:2:3:4:5:6:7:0", "1:2:3:4:5:6:7:0"},
		{"0:1:2:3:4:5:6:7", "0:1:2:3:4:5:6:7"},
		{"1:0:0:2:0:0:0:3", "1:0:0:2::3"},
		{"2001:db8:1:2:ffff:ffff:ffff:fffe", "2001:db8:1:2:ffff:ffff:ffff:fffe"},
		{"2001:0DB8:0000:0000:0000:0000:0000:0000", "2001:db8::"},
		{"0:0:0:0:0:0:0:0", "::"},
		{"::1", "::1"},
		{"1::", "1::"},
		{"0:0:1:0:0:0:0:0", "0:0:1::"},
		{"::ffff:1.2.3.4", "::ffff:102:304"},
		{"::1.2.3.4", "::102:304"},
		{"::ffff:0:0", "::ffff:0:0"},
		{"00ab:0cd0:0:0:0:0:0:f000", "ab:cd0::f000"},
	}
	for _, tt := range tests {
		a, err := ParseAddr(tt.in)
		if err != nil {
			t.Fatalf("ParseAddr(%q): %v", tt.in, err)
		}
		got := FormatAddr(a)
		if got != tt.want {
			t.Errorf("FormatAddr(%q) = %q, want %q", tt.in, got, tt.want)
		}
		back, err := ParseAddr(got)
		if err != nil || back != a {
			t.Errorf("ParseAddr(FormatAddr(%q)) = %v, %v; want %v", tt.in, back, err, a)
		}
	}
}

func TestFormatAddrMappedStaysIPv6(t *testing.T) {
	// netip.MustParseAddr("::ffff:1.2.3.4") is Is4In6 and netip prints it
	// with a dotted quad; FormatAddr must print hex groups and must not
	// unmap it.
	a := netip.MustParseAddr("::ffff:1.2.3.4")
	if !a.Is4In6() {
		t.Fatal("test address is not IPv4-mapped")
	}
	if got, want := FormatAddr(a), "::ffff:102:304"; got != want {
		t.Errorf("FormatAddr(%v) = %q, want %q", a, got, want)
	}
	if got := FormatAddr(netip.Addr{}); got != "" {
		t.Errorf("FormatAddr(zero Addr) = %q, want empty", got)
	}
	zoned := netip.MustParseAddr("fe80::1%eth0")
	if got := FormatAddr(zoned); got != "fe80::1" {
		t.Errorf("FormatAddr(%v) = %q, want %q", zoned, got, "fe80::1")
	}
}

func TestVersion(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"10.0.0.1", 4},
		{"::1", 6},
		{"::ffff:10.0.0.1", 6},
		{"010.0.0.1", 0},
		{"fe80::1%eth0", 0},
		{"host.example", 0},
		{"", 0},
	}
	for _, tt := range tests {
		if got := Version(tt.in); got != tt.want {
			t.Errorf("Version(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestFormatAddrRandom(t *testing.T) {
	// Random addresses with many zero groups; netip.Addr.String uses the
	// same rules (longest run of >= 2 zero groups, leftmost on ties) except
	// for IPv4-mapped addresses.
	r := rand.New(rand.NewSource(4))
	for i := 0; i < 20000; i++ {
		var b [16]byte
		for g := 0; g < 8; g++ {
			if r.Intn(2) == 0 {
				continue
			}
			v := r.Intn(1 << 16)
			if r.Intn(4) == 0 {
				v = r.Intn(16)
			}
			b[2*g], b[2*g+1] = byte(v>>8), byte(v)
		}
		a := netip.AddrFrom16(b)
		got := FormatAddr(a)
		if !a.Is4In6() && got != a.String() {
			t.Fatalf("FormatAddr(%v) = %q, want %q", a, got, a.String())
		}
		if strings.Contains(got, ".") || strings.Contains(got, ":::") || strings.Count(got, "::") > 1 {
			t.Fatalf("FormatAddr(%v) = %q is malformed", a, got)
		}
		back, err := ParseAddr(got)
		if err != nil || back != a {
			t.Fatalf("ParseAddr(%q) = %v, %v; want %v", got, back, err, a)
		}
	}
}
