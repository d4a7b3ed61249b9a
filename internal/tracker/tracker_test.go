package tracker

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clustervision/luna-go/internal/store"
	"github.com/clustervision/luna-go/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(testutil.WithDB(m).Run()) }

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// fixture is a tracker on a fresh database with a settable clock.
type fixture struct {
	tr *Tracker
	st *store.Store
	mu sync.Mutex
	at time.Time
}

func newFixture(t *testing.T, s Settings) *fixture {
	t.Helper()
	st, _ := testutil.Store(t)
	f := &fixture{st: st, at: t0}
	f.tr = &Tracker{
		Store:    st,
		Settings: func(context.Context) (Settings, error) { return s, nil },
		Now: func() time.Time {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.at
		},
	}
	return f
}

func (f *fixture) set(at time.Time) { f.mu.Lock(); f.at = at; f.mu.Unlock() }

// get runs one request from remote (host:port) and returns the status and
// the decoded body.
func (f *fixture) get(t *testing.T, h http.HandlerFunc, target, remote string, hdr ...string) (int, map[string]any) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h(w, r)
	if ct := w.Header().Get("Content-Type"); ct != "text/plain" {
		t.Errorf("Content-Type %q", ct)
	}
	v, err := decodeBencode(w.Body.Bytes())
	if err != nil {
		t.Fatalf("%s: body %q: %v", target, w.Body.Bytes(), err)
	}
	d, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("body %q is not a dictionary", w.Body.Bytes())
	}
	return w.Code, d
}

func (f *fixture) announce(t *testing.T, remote string, kv ...string) map[string]any {
	t.Helper()
	code, d := f.get(t, f.tr.ServeAnnounce, "/announce?"+base(kv...), remote)
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if fr, ok := d["failure reason"]; ok {
		t.Fatalf("failure reason %q", fr)
	}
	return d
}

// seed stores peers directly, as earlier announces would have.
func (f *fixture) seed(t *testing.T, peers ...store.TrackerPeer) {
	t.Helper()
	for _, p := range peers {
		if p.InfoHash == "" {
			p.InfoHash = hex.EncodeToString([]byte(rawHash))
		}
		if p.PeerID == "" {
			p.PeerID = hex.EncodeToString([]byte(fmt.Sprintf("%20s", p.IP)))[:40]
		}
		if err := f.st.UpsertPeer(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
}

// compactSet decodes compact peers (6 or 18 bytes each) into sorted ip:port strings.
func compactSet(t *testing.T, v any, size int) []string {
	t.Helper()
	s, ok := v.(string)
	if !ok || len(s)%size != 0 {
		t.Fatalf("compact peers %q", v)
	}
	out := decodeCompact(s, size)
	sort.Strings(out)
	return out
}

// decodeCompact reads compact peers of size bytes each as ip:port strings.
func decodeCompact(s string, size int) []string {
	var out []string
	for i := 0; i+size <= len(s); i += size {
		ip, _ := netip.AddrFromSlice([]byte(s[i : i+size-2]))
		out = append(out, netip.AddrPortFrom(ip, binary.BigEndian.Uint16([]byte(s[i+size-2:i+size]))).String())
	}
	return out
}

func TestAnnounceFailureReasons(t *testing.T) {
	f := newFixture(t, Settings{Interval: 10, MinInterval: 5, MaxPeers: 20})
	for _, tc := range []struct{ query, reason string }{
		{query("info_hash", "short", "peer_id", rawPeer, "port", "6881"), "info_hash must be 20 bytes, got 5"},
		{query("info_hash", rawHash, "peer_id", rawPeer), "missing port"},
		{base("numwant", "201"), "numwant 201 is over the limit of 200 (10 x tracker_maxpeers)"},
		{base("numwant", "many"), `numwant must be an integer, got "many"`},
		{base("uploaded", "12kB"), `uploaded must be a non-negative integer, got "12kB"`},
		{base("left", "?"), `left must be a non-negative integer, got "?"`},
		{base() + "&x=%zz", `malformed query: invalid URL escape "%zz"`},
	} {
		r := httptest.NewRequest(http.MethodGet, "/announce?"+tc.query, nil)
		r.RemoteAddr = "192.0.2.1:40000"
		w := httptest.NewRecorder()
		f.tr.ServeAnnounce(w, r)
		want := "d14:failure reason" + strconv.Itoa(len(tc.reason)) + ":" + tc.reason + "e"
		if w.Code != http.StatusOK || w.Body.String() != want || w.Header().Get("Content-Type") != "text/plain" {
			t.Errorf("%s:\n got %d %q %q\nwant 200 %q", tc.query, w.Code, w.Header().Get("Content-Type"), w.Body.String(), want)
		}
	}
	if n, _ := f.st.Count(context.Background(), store.Tracker); n != 0 {
		t.Fatalf("refused announces stored %d peers", n)
	}
}

func TestAnnounceStoresHexIDs(t *testing.T) {
	f := newFixture(t, Settings{})
	d := f.announce(t, "192.0.2.7:50000", "event", "started", "left", "1000", "downloaded", "24", "uploaded", "3")
	if d["interval"] != int64(10) || d["min interval"] != int64(5) || d["complete"] != int64(0) || d["incomplete"] != int64(1) {
		t.Errorf("answer %v", d)
	}
	if _, ok := d["tracker id"]; ok {
		t.Error("tracker id without trackerid")
	}
	f.set(t0.Add(10 * time.Second))
	f.announce(t, "192.0.2.7:50000", "left", "400", "downloaded", "624", "uploaded", "3")
	p, err := f.st.LatestPeerByPeerID(context.Background(), hex.EncodeToString([]byte(rawPeer)))
	if err != nil {
		t.Fatal(err)
	}
	want := store.TrackerPeer{ID: p.ID, InfoHash: "123456789abcdef123456789abcdef123456789a", IP: "192.0.2.7", Port: 6881,
		PeerID: "6c756e616c756e616c756e616c756e616c756e61", Updated: t0.Add(10 * time.Second),
		Uploaded: 3, Downloaded: 624, Left: 400, Status: "started"}
	if !p.Updated.Equal(want.Updated) {
		t.Errorf("updated %v", p.Updated)
	}
	p.Updated = want.Updated
	if *p != want {
		t.Errorf("stored %+v\n  want %+v", *p, want)
	}
}

func TestAnnouncePeerSelection(t *testing.T) {
	f := newFixture(t, Settings{Interval: 10, MinInterval: 5, MaxPeers: 50})
	srv := hex.EncodeToString([]byte(ServerPeerID))
	f.seed(t,
		store.TrackerPeer{IP: "10.0.0.1", Port: 6881, Updated: t0.Add(-5 * time.Second), Left: 100, Status: "started"},               // fresh leecher
		store.TrackerPeer{IP: "10.0.0.2", Port: 6881, Updated: t0.Add(-19 * time.Second), Left: 0, Status: "completed"},              // fresh seeder
		store.TrackerPeer{IP: "10.0.0.3", Port: 6881, Updated: t0.Add(-21 * time.Second), Left: 100},                                 // stale (> 2 intervals)
		store.TrackerPeer{IP: "10.0.0.4", Port: 6881, Updated: t0, Left: 100, Status: "stopped"},                                     // 1.2 kept stopped peers
		store.TrackerPeer{IP: "10.0.0.254", Port: 7052, PeerID: srv, Updated: t0.Add(-29 * time.Second), Left: 0, Status: "started"}, // server, < 3 intervals
		store.TrackerPeer{IP: "10.0.0.253", Port: 7052, PeerID: srv, Updated: t0.Add(-31 * time.Second), Left: 0},                    // server, stale
		store.TrackerPeer{IP: "10.0.0.252", Port: 7060, PeerID: srv, Updated: t0.Add(-1 * time.Second), Left: 0},                     // server, also fresh: once
		store.TrackerPeer{IP: "fd00::5", Port: 6881, Updated: t0, Left: 5},                                                           // IPv6
		store.TrackerPeer{InfoHash: strings.Repeat("ab", 20), IP: "10.0.0.9", Port: 6881, Updated: t0, Left: 1},                      // another torrent
	)

	// The requester 10.0.0.1:6881 (announcing again) is not in its own list.
	d := f.announce(t, "10.0.0.1:40000", "left", "50")
	if got := compactSet(t, d["peers"], 6); fmt.Sprint(got) != "[10.0.0.252:7060 10.0.0.254:7052 10.0.0.2:6881]" {
		t.Errorf("peers %v", got)
	}
	if got := compactSet(t, d["peers6"], 18); fmt.Sprint(got) != "[[fd00::5]:6881]" {
		t.Errorf("peers6 %v", got)
	}
	// Seeders: 10.0.0.2 and the two fresh servers; leechers: the requester and fd00::5.
	if d["complete"] != int64(3) || d["incomplete"] != int64(2) {
		t.Errorf("complete %v incomplete %v", d["complete"], d["incomplete"])
	}

	// Non-compact: BEP 3 dictionaries with "peer id".
	d = f.announce(t, "10.0.0.1:40000", "compact", "0", "trackerid", "abc")
	if d["tracker id"] != "abc" {
		t.Errorf("tracker id %v", d["tracker id"])
	}
	list, ok := d["peers"].([]any)
	if !ok || len(list) != 4 {
		t.Fatalf("peers %v", d["peers"])
	}
	seen := map[string]string{}
	for _, e := range list {
		p := e.(map[string]any)
		seen[fmt.Sprintf("%v:%v", p["ip"], p["port"])] = fmt.Sprint(p["peer id"])
	}
	if seen["10.0.0.254:7052"] != ServerPeerID || seen["10.0.0.2:6881"] != fmt.Sprintf("%20s", "10.0.0.2") || len(seen) != 4 {
		t.Errorf("peer dicts %q", seen)
	}
	if _, ok := seen["fd00::5:6881"]; !ok {
		t.Errorf("IPv6 peer missing from the dictionaries: %q", seen)
	}
	d = f.announce(t, "10.0.0.1:40000", "compact", "0", "no_peer_id", "1")
	for _, e := range d["peers"].([]any) {
		if _, ok := e.(map[string]any)["peer id"]; ok {
			t.Fatalf("peer id despite no_peer_id: %v", e)
		}
	}
	if _, ok := d["peers6"]; ok {
		t.Error("peers6 in a non-compact answer")
	}
}

func TestAnnounceNumWant(t *testing.T) {
	f := newFixture(t, Settings{Interval: 10, MinInterval: 5, MaxPeers: 3})
	for i := 1; i <= 6; i++ {
		f.seed(t, store.TrackerPeer{IP: fmt.Sprintf("10.0.0.%d", i), Port: 6881, Updated: t0, Left: 1})
	}
	for _, tc := range []struct {
		numwant string
		want    int
	}{{"", 3}, {"-1", 3}, {"0", 0}, {"2", 2}, {"3", 3}, {"4", 3}, {"30", 3}} {
		var kv []string
		if tc.numwant != "" {
			kv = []string{"numwant", tc.numwant}
		}
		d := f.announce(t, "192.0.2.1:1", kv...)
		if got := len(d["peers"].(string)) / 6; got != tc.want {
			t.Errorf("numwant %q: %d peers, want %d", tc.numwant, got, tc.want)
		}
	}
	_, d := f.get(t, f.tr.ServeAnnounce, "/announce?"+base("numwant", "31"), "192.0.2.1:1")
	if d["failure reason"] != "numwant 31 is over the limit of 30 (10 x tracker_maxpeers)" {
		t.Errorf("numwant 31: %v", d)
	}
}

func TestAnnounceStoppedDeletesPeer(t *testing.T) {
	f := newFixture(t, Settings{})
	f.seed(t, store.TrackerPeer{IP: "10.0.0.2", Port: 6881, Updated: t0, Left: 0})
	f.announce(t, "192.0.2.1:1", "event", "started")
	d := f.announce(t, "192.0.2.1:1", "event", "stopped")
	if d["peers"] != "" || d["complete"] != int64(1) || d["incomplete"] != int64(0) {
		t.Errorf("answer to stopped %v", d)
	}
	peers, err := f.st.PeersOf(context.Background(), hex.EncodeToString([]byte(rawHash)), time.Time{})
	if err != nil || len(peers) != 1 || peers[0].IP != "10.0.0.2" {
		t.Fatalf("peers after stopped %+v, %v", peers, err)
	}
	// Stopping an unknown peer is fine.
	f.announce(t, "192.0.2.99:1", "event", "stopped")
}

func TestAnnounceAddressTrust(t *testing.T) {
	for _, tc := range []struct {
		name, remote string
		trust        bool
		hdr          []string
		kv           []string
		want         string
	}{
		{"connection address", "192.0.2.7:4000", false, nil, nil, "192.0.2.7"},
		{"ip from another host ignored", "192.0.2.7:4000", false, nil, []string{"ip", "10.9.9.9"}, "192.0.2.7"},
		{"ip from this host believed", "127.0.0.1:4000", false, nil, []string{"ip", "10.9.9.9"}, "10.9.9.9"},
		{"ip 0.0.0.0 from this host ignored", "127.0.0.1:4000", false, nil, []string{"ip", "0.0.0.0"}, "127.0.0.1"},
		{"X-Real-IP ignored unless trusted", "127.0.0.1:4000", false, []string{"X-Real-IP", "198.51.100.4"}, nil, "127.0.0.1"},
		{"X-Real-IP trusted", "127.0.0.1:4000", true, []string{"X-Real-IP", "198.51.100.4"}, nil, "198.51.100.4"},
		{"ip behind a proxy from another host ignored", "127.0.0.1:4000", true, []string{"X-Real-IP", "198.51.100.4"}, []string{"ip", "10.9.9.9"}, "198.51.100.4"},
		{"bad X-Real-IP falls back", "192.0.2.7:4000", true, []string{"X-Real-IP", "nonsense"}, nil, "192.0.2.7"},
		{"IPv6 connection", "[2001:db8::7]:4000", false, nil, nil, "2001:db8::7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Settings{})
			f.tr.TrustProxyHeaders = tc.trust
			code, d := f.get(t, f.tr.ServeAnnounce, "/announce?"+base(tc.kv...), tc.remote, tc.hdr...)
			if code != http.StatusOK || d["failure reason"] != nil {
				t.Fatalf("%d %v", code, d)
			}
			peers, err := f.st.PeersOf(context.Background(), hex.EncodeToString([]byte(rawHash)), time.Time{})
			if err != nil || len(peers) != 1 || peers[0].IP != tc.want {
				t.Fatalf("stored %+v, %v; want ip %s", peers, err, tc.want)
			}
		})
	}
}

func TestScrape(t *testing.T) {
	f := newFixture(t, Settings{Interval: 10})
	other := strings.Repeat("\xab", 20)
	none := strings.Repeat("\x01", 20)
	hexOther := hex.EncodeToString([]byte(other))
	f.seed(t,
		store.TrackerPeer{IP: "10.0.0.254", Port: 7052, PeerID: hex.EncodeToString([]byte(ServerPeerID)), Updated: t0, Left: 0, Status: "started"},
		store.TrackerPeer{IP: "10.0.0.1", Port: 6881, Updated: t0, Left: 0, Status: "completed"},
		store.TrackerPeer{IP: "10.0.0.2", Port: 6881, Updated: t0, Left: 9, Status: "started"},
		store.TrackerPeer{IP: "10.0.0.3", Port: 6881, Updated: t0.Add(-time.Minute), Left: 9},
		store.TrackerPeer{InfoHash: hexOther, IP: "10.0.0.1", Port: 6881, Updated: t0, Left: 3},
	)
	entry := func(c, dl, inc int64) map[string]any {
		return map[string]any{"complete": c, "downloaded": dl, "incomplete": inc}
	}
	code, d := f.get(t, f.tr.ServeScrape, "/scrape?"+query("info_hash", rawHash, "info_hash", none), "192.0.2.1:1")
	want := map[string]any{"files": map[string]any{rawHash: entry(2, 1, 1), none: entry(0, 0, 0)}}
	if code != http.StatusOK || fmt.Sprint(d) != fmt.Sprint(want) {
		t.Errorf("scrape two:\n got %d %v\nwant %v", code, d, want)
	}
	_, d = f.get(t, f.tr.ServeScrape, "/scrape", "192.0.2.1:1")
	want = map[string]any{"files": map[string]any{rawHash: entry(2, 1, 1), other: entry(0, 0, 1)}}
	if fmt.Sprint(d) != fmt.Sprint(want) {
		t.Errorf("scrape all:\n got %v\nwant %v", d, want)
	}
	_, d = f.get(t, f.tr.ServeScrape, "/scrape?"+query("info_hash", "abc"), "192.0.2.1:1")
	if d["failure reason"] != "info_hash must be 20 bytes, got 3" {
		t.Errorf("bad scrape: %v", d)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	f := newFixture(t, Settings{})
	for _, h := range []http.HandlerFunc{f.tr.ServeAnnounce, f.tr.ServeScrape} {
		w := httptest.NewRecorder()
		h(w, httptest.NewRequest(http.MethodPost, "/announce?"+base(), nil))
		if w.Code != http.StatusMethodNotAllowed {
			t.Errorf("POST: %d", w.Code)
		}
	}
}

func TestSettingsUnavailable(t *testing.T) {
	f := newFixture(t, Settings{})
	f.tr.Settings = func(context.Context) (Settings, error) { return Settings{}, errors.New("no cluster") }
	code, d := f.get(t, f.tr.ServeAnnounce, "/announce?"+base(), "192.0.2.1:1")
	if code != http.StatusInternalServerError || d["failure reason"] != "internal tracker error" {
		t.Errorf("%d %v", code, d)
	}
}

func TestExpireLoop(t *testing.T) {
	f := newFixture(t, Settings{})
	f.seed(t,
		store.TrackerPeer{IP: "10.0.0.1", Port: 1, Updated: t0.Add(-PeerExpiry - time.Second)},
		store.TrackerPeer{IP: "10.0.0.2", Port: 1, Updated: t0.Add(-PeerExpiry + time.Second)},
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.tr.ExpireLoop(ctx, 20*time.Millisecond); close(done) }()
	hash := hex.EncodeToString([]byte(rawHash))
	waitFor(t, 10*time.Second, func() bool {
		ps, _ := f.st.PeersOf(ctx, hash, time.Time{})
		return len(ps) == 1 && ps[0].IP == "10.0.0.2"
	})
	f.set(t0.Add(2 * time.Second)) // now the second one is an hour old too
	waitFor(t, 10*time.Second, func() bool {
		ps, _ := f.st.PeersOf(ctx, hash, time.Time{})
		return len(ps) == 0
	})
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("ExpireLoop did not return after cancel")
	}
}

func waitFor(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
