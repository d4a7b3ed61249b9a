package tracker

import (
	"encoding/hex"
	"math"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var (
	rawHash = "\x12\x34\x56\x78\x9a\xbc\xde\xf1\x23\x45\x67\x89\xab\xcd\xef\x12\x34\x56\x78\x9a"
	rawPeer = "lunalunalunalunaluna"
)

// escape percent-encodes every byte that is not unreserved, as BitTorrent
// clients do for info_hash and peer_id.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
		}
	}
	return b.String()
}

// query builds a raw query from key, value pairs, escaping the values.
func query(kv ...string) string {
	parts := make([]string, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+"="+escape(kv[i+1]))
	}
	return strings.Join(parts, "&")
}

// base is a valid announce; extra pairs are appended (a repeated key's
// last value wins).
func base(extra ...string) string {
	return query(append([]string{"info_hash", rawHash, "peer_id", rawPeer, "port", "6881"}, extra...)...)
}

func parse(t *testing.T, raw, remote string) (Announce, error) {
	t.Helper()
	q, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatalf("parse query %q: %v", raw, err)
	}
	return ParseAnnounce(q, remote)
}

func TestParseAnnounceValid(t *testing.T) {
	a, err := parse(t, base("uploaded", "10", "downloaded", "20", "left", "9223372036854775807",
		"event", "started", "numwant", "80", "compact", "0", "no_peer_id", "1", "trackerid", "t-1",
		"key", "abc", "supportcrypto", "1", "ipv4", "10.0.0.1", "corrupt", "0"), "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	want := Announce{
		InfoHash: "123456789abcdef123456789abcdef123456789a", PeerID: "6c756e616c756e616c756e616c756e616c756e61",
		IP: "192.0.2.1", Port: 6881, Uploaded: 10, Downloaded: 20, Left: math.MaxInt64,
		Event: "started", NumWant: 80, Compact: false, NoPeerID: true, TrackerID: "t-1",
	}
	if a != want {
		t.Fatalf("got  %+v\nwant %+v", a, want)
	}
	if hex.EncodeToString([]byte(ServerPeerID)) != a.PeerID {
		t.Fatal("ServerPeerID does not match store.ServerPeerIDHex")
	}
}

func TestParseAnnounceDefaultsAndTolerance(t *testing.T) {
	for _, tc := range []struct {
		name, raw, remote string
		check             func(Announce) bool
	}{
		{"defaults", base(), "192.0.2.1", func(a Announce) bool {
			return a.NumWant == -1 && a.Compact && !a.NoPeerID && a.Event == "" && a.Left == 0 && a.ClaimedIP == ""
		}},
		{"negative numwant is the default", base("numwant", "-1"), "192.0.2.1", func(a Announce) bool { return a.NumWant == -1 }},
		{"huge negative numwant is the default", base("numwant", "-99999999999999999999999"), "192.0.2.1", func(a Announce) bool { return a.NumWant == -1 }},
		{"numwant too large for an int", base("numwant", "99999999999999999999999"), "192.0.2.1", func(a Announce) bool { return a.NumWant == math.MaxInt }},
		{"numwant zero", base("numwant", "0"), "192.0.2.1", func(a Announce) bool { return a.NumWant == 0 }},
		{"empty event", base("event", "empty"), "192.0.2.1", func(a Announce) bool { return a.Event == "" }},
		{"last value wins", base("port", "7000", "event", "started", "event", "completed"), "192.0.2.1", func(a Announce) bool {
			return a.Port == 7000 && a.Event == "completed"
		}},
		{"mapped remote", base(), "::ffff:127.0.0.1", func(a Announce) bool { return a.IP == "127.0.0.1" }},
		{"ipv6 remote", base(), "2001:db8::0:1", func(a Announce) bool { return a.IP == "2001:db8::1" }},
		{"ip claimed", base("ip", "10.1.2.3"), "192.0.2.1", func(a Announce) bool { return a.IP == "192.0.2.1" && a.ClaimedIP == "10.1.2.3" }},
		{"ip mapped", base("ip", "::ffff:10.1.2.3"), "192.0.2.1", func(a Announce) bool { return a.ClaimedIP == "10.1.2.3" }},
		{"ip 0.0.0.0 is absent", base("ip", "0.0.0.0"), "192.0.2.1", func(a Announce) bool { return a.ClaimedIP == "" }},
		{"ip :: is absent", base("ip", "::"), "192.0.2.1", func(a Announce) bool { return a.ClaimedIP == "" }},
		{"ip host name ignored", base("ip", "node001.cluster"), "192.0.2.1", func(a Announce) bool { return a.ClaimedIP == "" }},
		{"several ip, last wins", base("ip", "10.1.2.3", "ip", "fd00::5"), "192.0.2.1", func(a Announce) bool { return a.ClaimedIP == "fd00::5" }},
		{"plus is a space", "info_hash=" + escape(rawHash[:19]) + "+&peer_id=" + escape(rawPeer) + "&port=1", "192.0.2.1", func(a Announce) bool {
			return strings.HasSuffix(a.InfoHash, "20")
		}},
		{"spaces around numbers", base("left", " 5 ", "port", " 80"), "192.0.2.1", func(a Announce) bool { return a.Left == 5 && a.Port == 80 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := parse(t, tc.raw, tc.remote)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(a) {
				t.Fatalf("unexpected %+v", a)
			}
		})
	}
}

func TestParseAnnounceFailures(t *testing.T) {
	for _, tc := range []struct{ raw, remote, want string }{
		{query("peer_id", rawPeer, "port", "1"), "192.0.2.1", "missing info_hash"},
		{query("info_hash", "short", "peer_id", rawPeer, "port", "1"), "192.0.2.1", "info_hash must be 20 bytes, got 5"},
		{query("info_hash", hex.EncodeToString([]byte(rawHash)), "peer_id", rawPeer, "port", "1"), "192.0.2.1", "info_hash must be 20 bytes, got 40"},
		{query("info_hash", rawHash, "port", "1"), "192.0.2.1", "missing peer_id"},
		{query("info_hash", rawHash, "peer_id", rawPeer+"x", "port", "1"), "192.0.2.1", "peer_id must be 20 bytes, got 21"},
		{query("info_hash", rawHash, "peer_id", rawPeer), "192.0.2.1", "missing port"},
		{base("port", ""), "192.0.2.1", "missing port"},
		{base("port", "http"), "192.0.2.1", `port must be an integer from 1 to 65535, got "http"`},
		{base("port", "0"), "192.0.2.1", `port must be an integer from 1 to 65535, got "0"`},
		{base("port", "65536"), "192.0.2.1", `port must be an integer from 1 to 65535, got "65536"`},
		{base("uploaded", "1.5"), "192.0.2.1", `uploaded must be a non-negative integer, got "1.5"`},
		{base("downloaded", "x"), "192.0.2.1", `downloaded must be a non-negative integer, got "x"`},
		{base("left", "-1"), "192.0.2.1", `left must be a non-negative integer, got "-1"`},
		{base("left", "9223372036854775808"), "192.0.2.1", `left must be a non-negative integer, got "9223372036854775808"`},
		{base("numwant", "lots"), "192.0.2.1", `numwant must be an integer, got "lots"`},
		{base("compact", "yes"), "192.0.2.1", `compact must be 0 or 1, got "yes"`},
		{base("no_peer_id", "true"), "192.0.2.1", `no_peer_id must be 0 or 1, got "true"`},
		{base("event", "finished"), "192.0.2.1", `event must be started, completed, stopped, paused or empty, got "finished"`},
		{base("port", strings.Repeat("9", 100)), "192.0.2.1", `port must be an integer from 1 to 65535, got "99999999999999999999999999999999"...`},
		{base(), "not-an-address", `cannot tell the address of the request ("not-an-address")`},
	} {
		_, err := parse(t, tc.raw, tc.remote)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: err = %v, want %q", tc.raw, err, tc.want)
		}
	}
}

func TestPeerCount(t *testing.T) {
	s := Settings{Interval: 10, MinInterval: 5, MaxPeers: 20}
	for _, tc := range []struct {
		numWant, want int
		err           string
	}{
		{-1, 20, ""},
		{0, 0, ""},
		{7, 7, ""},
		{20, 20, ""},
		{21, 20, ""},
		{200, 20, ""},
		{201, 0, "numwant 201 is over the limit of 200 (10 x tracker_maxpeers)"},
		{math.MaxInt, 0, "numwant 9223372036854775807 is over the limit of 200 (10 x tracker_maxpeers)"},
	} {
		n, err := s.PeerCount(tc.numWant)
		if n != tc.want || (err == nil) != (tc.err == "") || (err != nil && err.Error() != tc.err) {
			t.Errorf("PeerCount(%d) = %d, %v; want %d, %q", tc.numWant, n, err, tc.want, tc.err)
		}
	}
	if n, _ := (Settings{}).PeerCount(-1); n != DefaultNumWant {
		t.Errorf("default settings: PeerCount(-1) = %d", n)
	}
	if n, _ := (Settings{}).PeerCount(500); n != DefaultSettings.MaxPeers {
		t.Errorf("default settings: PeerCount(500) = %d", n)
	}
}

var hex40 = regexp.MustCompile(`^[0-9a-f]{40}$`)

func FuzzParseAnnounce(f *testing.F) {
	for _, s := range []string{
		base(),
		base("uploaded", "0", "downloaded", "0", "left", "9223372036854775807", "event", "started",
			"numwant", "200", "compact", "1", "key", "7", "ip", "10.0.0.1", "ipv6", "fd00::1"),
		base("numwant", "-1", "event", "stopped", "ip", "0.0.0.0"),
		base("port", "65535", "compact", "0", "no_peer_id", "1", "trackerid", "x"),
		"info_hash=%00%01&peer_id=&port=-5",
		"info_hash=++++++++++++++++++++&peer_id=%FF%FF%FF%FF%FF%FF%FF%FF%FF%FF%FF%FF%FF%FF%FF%FF%FF%FF%FF%FF&port=1",
		"port=1&port=2&numwant=1e9",
	} {
		f.Add(s, "192.0.2.1")
	}
	f.Add(base("ip", "2001:db8::1"), "::ffff:127.0.0.1")
	f.Add(base(), "fe80::1%eth0")
	f.Fuzz(func(t *testing.T, raw, remote string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		a, err := ParseAnnounce(q, remote)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty failure reason")
			}
			return
		}
		if !hex40.MatchString(a.InfoHash) || !hex40.MatchString(a.PeerID) {
			t.Fatalf("ids %q %q", a.InfoHash, a.PeerID)
		}
		if a.Port < 1 || a.Port > 65535 {
			t.Fatalf("port %d", a.Port)
		}
		if ip, err := netip.ParseAddr(a.IP); err != nil || ip.Is4In6() || ip.Zone() != "" {
			t.Fatalf("ip %q", a.IP)
		}
		if a.ClaimedIP != "" {
			if ip, err := netip.ParseAddr(a.ClaimedIP); err != nil || ip.IsUnspecified() || ip.Is4In6() {
				t.Fatalf("claimed ip %q", a.ClaimedIP)
			}
		}
		if a.Uploaded < 0 || a.Downloaded < 0 || a.Left < 0 || a.NumWant < -1 {
			t.Fatalf("negative counters %+v", a)
		}
		switch a.Event {
		case "", "started", "completed", "stopped", "paused":
		default:
			t.Fatalf("event %q", a.Event)
		}
		s := Settings{MaxPeers: 7}
		if n, err := s.PeerCount(a.NumWant); err == nil && (n < 0 || n > 7) {
			t.Fatalf("PeerCount(%d) = %d", a.NumWant, n)
		}
	})
}
