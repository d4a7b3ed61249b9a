package tracker

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clustervision/luna-go/internal/testutil"
	"github.com/clustervision/luna-go/internal/testutil/testpeer"
)

// leecherScript downloads one torrent with libtorrent (the library Luna
// 1.2's nodes used) on 127.0.0.1, without DHT, LSD, UPnP or NAT-PMP, so
// that the tracker is its only source of peers.
const leecherScript = `import sys, time
import libtorrent as lt

torrent, save, port, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
cat = lt.alert.category_t
ses = lt.session({
    'listen_interfaces': '127.0.0.1:%d' % port,
    'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
    'alert_mask': cat.error_notification | cat.tracker_notification | cat.status_notification,
})
atp = lt.add_torrent_params()
atp.ti = lt.torrent_info(torrent)
atp.save_path = save
h = ses.add_torrent(atp)
deadline = time.time() + limit
while True:
    for a in ses.pop_alerts():
        print('alert: %s: %s' % (a.what(), a.message()), flush=True)
    s = h.status()
    print('progress %.3f peers %d' % (s.progress, s.num_peers), flush=True)
    if s.is_seeding or s.is_finished:
        break
    if time.time() > deadline:
        print('timed out', flush=True)
        sys.exit(1)
    time.sleep(0.5)
time.sleep(1.5)  # let the "completed" announce go out
for a in ses.pop_alerts():
    print('alert: %s: %s' % (a.what(), a.message()), flush=True)
print('finished', flush=True)
`

// makeTorrent writes the metainfo of a one-file torrent and returns it
// with the raw info hash.
func makeTorrent(t *testing.T, announce, name string, data []byte, pieceLen int) ([]byte, string) {
	t.Helper()
	var pieces []byte
	for off := 0; off < len(data); off += pieceLen {
		sum := sha1.Sum(data[off:min(off+pieceLen, len(data))])
		pieces = append(pieces, sum[:]...)
	}
	info := map[string]any{"length": len(data), "name": name, "piece length": pieceLen, "pieces": pieces}
	infoBytes, err := appendBencode(nil, info)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := appendBencode(nil, map[string]any{"announce": announce, "created by": "luna-go tracker test", "info": info})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(infoBytes)
	return meta, string(sum[:])
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// announceRecord is one announce as the tracker answered it.
type announceRecord struct {
	port   int
	event  string
	peers  []string // from the answer, ip:port
	failed string   // failure reason, if any
	stored []int    // ports recorded for the torrent right after it
}

type announceLog struct {
	mu   sync.Mutex
	recs []announceRecord
}

func (l *announceLog) all() []announceRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.recs)
}

// gotPeer reports whether the client on port was handed peer in an answer.
func (l *announceLog) gotPeer(port int, peer string) bool {
	for _, r := range l.all() {
		if r.port == port && slices.Contains(r.peers, peer) {
			return true
		}
	}
	return false
}

// record wraps the announce handler to keep what each client was told.
func record(tr *Tracker, infoHash string, log *announceLog) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		tr.ServeAnnounce(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())

		q, _ := url.ParseQuery(r.URL.RawQuery)
		ar := announceRecord{event: q.Get("event")}
		ar.port, _ = strconv.Atoi(q.Get("port"))
		if v, err := decodeBencode(rec.Body.Bytes()); err == nil {
			d, _ := v.(map[string]any)
			ar.failed, _ = d["failure reason"].(string)
			if s, ok := d["peers"].(string); ok {
				ar.peers = decodeCompact(s, 6)
			}
			if s, ok := d["peers6"].(string); ok {
				ar.peers = append(ar.peers, decodeCompact(s, 18)...)
			}
		}
		if ps, err := tr.Store.PeersOf(context.Background(), hex.EncodeToString([]byte(infoHash)), time.Time{}); err == nil {
			for _, p := range ps {
				ar.stored = append(ar.stored, p.Port)
			}
		}
		log.mu.Lock()
		log.recs = append(log.recs, ar)
		log.mu.Unlock()
	}
}

// TestRealClients has a real aria2c seed a file and a real libtorrent
// (python3-libtorrent) download it, finding each other only through the
// tracker.
func TestRealClients(t *testing.T) {
	aria2, python := testpeer.Aria2c(t), testpeer.LibtorrentPython(t)

	st, _ := testutil.Store(t)
	tr := &Tracker{
		Store: st,
		Settings: func(context.Context) (Settings, error) {
			return Settings{Interval: 2, MinInterval: 1, MaxPeers: 200}, nil
		},
	}
	dir := t.TempDir()
	data := make([]byte, 256<<10)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	var log announceLog
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux) // 127.0.0.1
	defer srv.Close()
	meta, infoHash := makeTorrent(t, srv.URL+"/announce", "image.tgz", data, 16<<10)
	mux.HandleFunc("/announce", record(tr, infoHash, &log))
	mux.HandleFunc("/scrape", tr.ServeScrape)

	torrentFile := filepath.Join(dir, "image.torrent")
	seedDir, leechDir := filepath.Join(dir, "seed"), filepath.Join(dir, "leech")
	for _, d := range []string{seedDir, leechDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(torrentFile, meta, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(seedDir, "image.tgz"), data, 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The seeder.
	seedPort, leechPort := freePort(t), freePort(t)
	var seedOut testpeer.SyncBuffer
	seeder := exec.CommandContext(ctx, aria2,
		"--dir="+seedDir, "--check-integrity=true", "--bt-seed-unverified=false",
		"--seed-ratio=0.0", "--seed-time=5",
		"--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
		"--disable-ipv6=true", "--listen-port="+strconv.Itoa(seedPort),
		"--file-allocation=none", "--summary-interval=0", "--console-log-level=notice",
		"--stop-with-process="+strconv.Itoa(os.Getpid()), torrentFile)
	seeder.Env = testpeer.CleanEnv()
	seeder.Stdout, seeder.Stderr = &seedOut, &seedOut
	if err := seeder.Start(); err != nil {
		t.Fatalf("start aria2c: %v", err)
	}
	seederDone := make(chan struct{})
	go func() { _ = seeder.Wait(); close(seederDone) }()
	defer func() {
		_ = seeder.Process.Kill()
		<-seederDone
	}()
	dump := func() string {
		var b strings.Builder
		for _, r := range log.all() {
			fmt.Fprintf(&b, "  announce port=%d event=%q failure=%q peers=%v stored=%v\n", r.port, r.event, r.failed, r.peers, r.stored)
		}
		return b.String() + "aria2c:\n" + seedOut.String()
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			select {
			case <-ctx.Done():
				t.Fatalf("timed out waiting until %s\n%s", what, dump())
			case <-seederDone:
				t.Fatalf("aria2c ended while waiting until %s\n%s", what, dump())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	waitUntil("aria2c announces as a seeder", func() bool {
		for _, r := range log.all() {
			if r.port == seedPort && r.failed == "" {
				return true
			}
		}
		return false
	})

	// The leecher.
	script := filepath.Join(dir, "leech.py")
	if err := os.WriteFile(script, []byte(leecherScript), 0o644); err != nil {
		t.Fatal(err)
	}
	leecher := exec.CommandContext(ctx, python, script, torrentFile, leechDir, strconv.Itoa(leechPort), "45")
	leecher.Env = testpeer.CleanEnv()
	out, err := leecher.CombinedOutput()
	if err != nil {
		t.Fatalf("libtorrent leecher: %v\n%s\n%s", err, out, dump())
	}
	got, err := os.ReadFile(filepath.Join(leechDir, "image.tgz"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded file differs (%d bytes, %v)\n%s", len(got), err, out)
	}

	seedAddr, leechAddr := "127.0.0.1:"+strconv.Itoa(seedPort), "127.0.0.1:"+strconv.Itoa(leechPort)
	if !log.gotPeer(leechPort, seedAddr) {
		t.Errorf("libtorrent was never handed aria2c (%s)\n%s", seedAddr, dump())
	}
	// aria2c re-announces every 2 s; one of those after libtorrent's
	// first announce (and before its "stopped") lists it.
	waitUntil("aria2c is handed libtorrent", func() bool { return log.gotPeer(seedPort, leechAddr) })

	both := false
	for _, r := range log.all() {
		if r.failed != "" {
			t.Errorf("an announce failed: %q", r.failed)
		}
		both = both || (slices.Contains(r.stored, seedPort) && slices.Contains(r.stored, leechPort))
	}
	if !both {
		t.Errorf("the tracker collection never held both peers\n%s", dump())
	}

	// Scrape: aria2c is still seeding.
	resp, err := http.Get(srv.URL + "/scrape?info_hash=" + url.QueryEscape(infoHash))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	v, err := decodeBencode(body)
	if err != nil {
		t.Fatalf("scrape answer %q: %v", body, err)
	}
	files, _ := v.(map[string]any)["files"].(map[string]any)
	entry, _ := files[infoHash].(map[string]any)
	if c, _ := entry["complete"].(int64); c < 1 {
		t.Errorf("scrape %q: complete < 1", body)
	}
	t.Logf("scrape after the transfer: %v", entry)
	t.Logf("announces and aria2c output:\n%s", dump())
}
