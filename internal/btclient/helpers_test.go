package btclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/clustervision/luna-go/internal/testutil"
	"github.com/clustervision/luna-go/internal/testutil/testpeer"
	"github.com/clustervision/luna-go/internal/tracker"
)

// clientBin is ltorrent-client built once for the package's tests.
var clientBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ltorrent-client-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	clientBin = filepath.Join(dir, "ltorrent-client")
	build := exec.Command("go", "build", "-o", clientBin, "../../cmd/ltorrent-client")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build ltorrent-client: %v\n%s", err, out)
		os.Exit(1)
	}
	code := testutil.WithDB(m).Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func randomData(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// writeTorrent writes a one-file torrent of data to dir/name.torrent.
func writeTorrent(t *testing.T, dir, announce string, webSeeds []string, name string, data []byte, pieceLen int) string {
	t.Helper()
	info := metainfo.Info{PieceLength: int64(pieceLen), Name: name, Length: int64(len(data))}
	for off := 0; off < len(data); off += pieceLen {
		sum := sha1.Sum(data[off:min(off+pieceLen, len(data))])
		info.Pieces = append(info.Pieces, sum[:]...)
	}
	ib, err := bencode.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	mi := metainfo.MetaInfo{InfoBytes: ib, Announce: announce, UrlList: webSeeds, CreatedBy: "ltorrent-client test"}
	path := filepath.Join(dir, name+".torrent")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := mi.Write(f); err != nil {
		t.Fatal(err)
	}
	return path
}

// announceRec is one announce the tracker answered.
type announceRec struct {
	peerID, event, ip string
	port              int
	uploaded          int64
}

// testTracker is lweb's tracker (internal/tracker on the embedded
// FerretDB) behind an HTTP server on l, plus the web seed: /seed/NAME
// serves the files of seedFiles, counting bytes.
type testTracker struct {
	URL       string
	mu        sync.Mutex
	recs      []announceRec
	seedFiles map[string][]byte
	seedBytes atomic.Int64
	seedDown  atomic.Bool
	srv       *http.Server
}

func startTracker(t *testing.T, l net.Listener) *testTracker {
	t.Helper()
	st, _ := testutil.Store(t)
	tr := &tracker.Tracker{Store: st, Settings: func(context.Context) (tracker.Settings, error) {
		return tracker.Settings{Interval: 2, MinInterval: 1, MaxPeers: 200}, nil
	}}
	tt := &testTracker{URL: "http://" + l.Addr().String(), seedFiles: map[string][]byte{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/announce", func(w http.ResponseWriter, r *http.Request) {
		q, _ := url.ParseQuery(r.URL.RawQuery)
		port, _ := strconv.Atoi(q.Get("port"))
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		tt.mu.Lock()
		up, _ := strconv.ParseInt(q.Get("uploaded"), 10, 64)
		tt.recs = append(tt.recs, announceRec{peerID: q.Get("peer_id"), event: q.Get("event"), ip: host, port: port, uploaded: up})
		tt.mu.Unlock()
		tr.ServeAnnounce(w, r)
	})
	mux.HandleFunc("/seed/", func(w http.ResponseWriter, r *http.Request) {
		tt.mu.Lock()
		data, ok := tt.seedFiles[strings.TrimPrefix(r.URL.Path, "/seed/")]
		tt.mu.Unlock()
		if !ok || tt.seedDown.Load() {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(&countingWriter{w, &tt.seedBytes}, r, "image", time.Time{}, bytes.NewReader(data))
	})
	tt.srv = &http.Server{Handler: mux}
	go tt.srv.Serve(l)
	t.Cleanup(func() { tt.srv.Close() })
	return tt
}

func (tt *testTracker) announces() []announceRec {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	return append([]announceRec(nil), tt.recs...)
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n.Add(int64(n))
	return n, err
}

func listenLocal(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func freePort(t *testing.T) int {
	t.Helper()
	l := listenLocal(t)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// proc is a background process of a test, killed at cleanup.
type proc struct {
	cmd  *exec.Cmd
	out  testpeer.SyncBuffer
	done chan struct{}
	err  error
}

func startProc(t *testing.T, dir string, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...), done: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Env = testpeer.CleanEnv()
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// wait waits for the process to end and returns its exit code (-1 on a
// timeout, after killing it).
func (p *proc) wait(d time.Duration) int {
	select {
	case <-p.done:
	case <-time.After(d):
		_ = p.cmd.Process.Kill()
		<-p.done
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func aria2Args(dir string, port int, torrent string, seed bool) []string {
	a := []string{
		"--dir=" + dir, "--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false",
		"--enable-peer-exchange=false", "--disable-ipv6=true", "--listen-port=" + strconv.Itoa(port),
		"--file-allocation=none", "--summary-interval=0", "--console-log-level=warn",
		"--bt-tracker-interval=2", "--stop-with-process=" + strconv.Itoa(os.Getpid()),
	}
	if seed {
		a = append(a, "--check-integrity=true", "--bt-seed-unverified=false", "--seed-ratio=0.0")
	} else {
		a = append(a, "--seed-time=0")
	}
	return append(a, torrent)
}

// lt.py seeds or downloads one torrent with libtorrent on 127.0.0.1.
const ltScript = `import sys, time
import libtorrent as lt
torrent, save, port, mode, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
ses = lt.session({'listen_interfaces': '127.0.0.1:%d' % port, 'enable_dht': False, 'enable_lsd': False,
                  'enable_upnp': False, 'enable_natpmp': False, 'allow_multiple_connections_per_ip': True})
atp = lt.add_torrent_params()
atp.ti = lt.torrent_info(torrent)
atp.save_path = save
if mode == 'seed':
    atp.flags |= lt.torrent_flags.seed_mode
h = ses.add_torrent(atp)
deadline = time.time() + limit
while time.time() < deadline:
    s = h.status()
    print('progress %.3f peers %d upload %d' % (s.progress, s.num_peers, s.total_payload_upload), flush=True)
    if mode != 'seed' and (s.is_seeding or s.is_finished):
        time.sleep(1)
        print('finished', flush=True)
        sys.exit(0)
    time.sleep(0.5)
print('timed out', flush=True)
sys.exit(mode != 'seed')
`

func writeScript(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "lt.py")
	if err := os.WriteFile(p, []byte(ltScript), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mkdir(t *testing.T, parts ...string) string {
	t.Helper()
	d := filepath.Join(parts...)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func checkFile(t *testing.T, path string, want []byte, logs ...string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes, %v; want the %d bytes seeded\n%s", path, len(got), err, len(want), strings.Join(logs, "\n---\n"))
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
