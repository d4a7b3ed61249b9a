package ltorrent

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/clustervision/luna-go/internal/luna"
	"github.com/clustervision/luna-go/internal/store"
	"github.com/clustervision/luna-go/internal/testutil"
	"github.com/clustervision/luna-go/internal/testutil/testpeer"
	"github.com/clustervision/luna-go/internal/tracker"
)

// fixture is a cluster on a fresh database with <path>/torrents, and
// lweb's tracker (its announce handler on the same database) on 127.0.0.1.
type fixture struct {
	t        *testing.T
	st       *store.Store
	svc      *luna.Service
	dir      string // <path>/torrents
	pidfile  string
	announce string // the tracker URL torrents name
	db       string

	mu   sync.Mutex
	anns []announceRec
}

// announceRec is one announce the tracker answered.
type announceRec struct {
	peerID, event, ip string
	port              int
	infoHash          string // hex
	uploaded          string
}

// newFixture makes the cluster; ports is the torrent listen range.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, db := testutil.Store(t)
	svc := luna.NewService(st)
	logDir := t.TempDir()
	svc.Getenv = func(k string) string {
		if k == "LUNA_LOGDIR" {
			return logDir
		}
		return ""
	}
	path := t.TempDir()
	ctx := context.Background()
	if err := svc.InitCluster(ctx, luna.ClusterInit{FrontendAddress: "127.0.0.1", NodePrefix: "node", NodeDigits: 3,
		User: "root", Path: path}); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, st: st, svc: svc, dir: filepath.Join(path, "torrents"), db: db,
		pidfile: filepath.Join(t.TempDir(), "run", "ltorrent.pid")}
	if err := os.Mkdir(f.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	lo := freePort(t)
	f.setCluster(map[string]any{"torrent_pidfile": f.pidfile, "torrent_listen_port_min": lo, "torrent_listen_port_max": lo + 20})

	tr := &tracker.Tracker{Store: st, Settings: func(context.Context) (tracker.Settings, error) {
		return tracker.Settings{Interval: 1, MinInterval: 1, MaxPeers: 200}, nil
	}}
	mux := http.NewServeMux()
	mux.HandleFunc("/announce", func(w http.ResponseWriter, r *http.Request) {
		q, _ := url.ParseQuery(r.URL.RawQuery)
		port, _ := strconv.Atoi(q.Get("port"))
		f.mu.Lock()
		f.anns = append(f.anns, announceRec{peerID: q.Get("peer_id"), event: q.Get("event"), ip: q.Get("ip"), port: port,
			infoHash: hex.EncodeToString([]byte(q.Get("info_hash"))), uploaded: q.Get("uploaded")})
		f.mu.Unlock()
		tr.ServeAnnounce(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.announce = srv.URL + "/announce"
	return f
}

// setCluster writes cluster settings as an administrator would.
func (f *fixture) setCluster(set map[string]any) {
	f.t.Helper()
	c, err := f.svc.Cluster(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.st.Set(context.Background(), store.Clusters, c.ID, set); err != nil {
		f.t.Fatal(err)
	}
}

// timeouts sets torrent_soft_timeout and torrent_hard_timeout as
// `luna cluster change` does.
func (f *fixture) timeouts(soft, hard int) {
	f.t.Helper()
	if err := f.svc.ChangeCluster(context.Background(), luna.ClusterChange{TorrentSoftTimeout: &soft, TorrentHardTimeout: &hard}); err != nil {
		f.t.Fatal(err)
	}
}

// serverAnnounces returns what the tracker was told by the server peer about a
// torrent (hex info hash; "" = any).
func (f *fixture) serverAnnounces(infoHash string) []announceRec {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []announceRec
	for _, a := range f.anns {
		if a.peerID == ServerPeerID && (infoHash == "" || a.infoHash == infoHash) {
			out = append(out, a)
		}
	}
	return out
}

// image is one packed osimage tarball as luna osimage pack writes it.
type image struct {
	id, tarballID string
	torrent       string // file
	tarball       string // file
	infoHash      string // hex
	data          []byte
}

// pack writes a tarball of size random bytes and its torrent following the
// pack contract: creator Luna, comment = the torrent's uuid = its file
// name, exactly one file <tarball uuid>.tgz beside it, lweb's tracker.
func (f *fixture) pack(size int, creator string) *image {
	f.t.Helper()
	img := &image{id: newUUID(f.t), tarballID: newUUID(f.t), data: make([]byte, size)}
	if _, err := rand.Read(img.data); err != nil {
		f.t.Fatal(err)
	}
	img.tarball = filepath.Join(f.dir, img.tarballID+".tgz")
	if err := os.WriteFile(img.tarball, img.data, 0o644); err != nil {
		f.t.Fatal(err)
	}
	info := metainfo.Info{PieceLength: 256 << 10}
	if err := info.BuildFromFilePath(img.tarball); err != nil {
		f.t.Fatal(err)
	}
	mi := metainfo.MetaInfo{Announce: f.announce, CreatedBy: creator, Comment: img.id, CreationDate: time.Now().Unix()}
	var err error
	if mi.InfoBytes, err = bencode.Marshal(info); err != nil {
		f.t.Fatal(err)
	}
	img.infoHash = mi.HashInfoBytes().HexString()
	img.torrent = filepath.Join(f.dir, img.id+".torrent")
	var b bytes.Buffer
	if err := mi.Write(&b); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(img.torrent, b.Bytes(), 0o644); err != nil {
		f.t.Fatal(err)
	}
	return img
}

// osimage adds an osimage (on a minimal tree) that refers to img.
func (f *fixture) osimage(name string, img *image) {
	f.t.Helper()
	f.addOSImage(name, f.t.TempDir())
	f.point(name, img)
}

// addOSImage adds an osimage on root, with a kernel added to the tree.
func (f *fixture) addOSImage(name, root string) {
	f.t.Helper()
	for _, d := range []string{"lib/modules/6.1.0-1-amd64", "boot"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			f.t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "boot/vmlinuz-6.1.0-1-amd64"), []byte("kernel"), 0o644); err != nil {
		f.t.Fatal(err)
	}
	ctx := context.Background()
	if err := f.svc.AddOSImage(ctx, name, root, "", ""); err != nil {
		f.t.Fatal(err)
	}
}

// point makes osimage name refer to img, as osimage pack records it.
func (f *fixture) point(name string, img *image) {
	f.t.Helper()
	ctx := context.Background()
	id, err := f.svc.IDOf(ctx, store.OSImages, name)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.st.Set(ctx, store.OSImages, id, map[string]any{"torrent": img.id, "tarball": img.tarballID}); err != nil {
		f.t.Fatal(err)
	}
}

// ltorrent is one in-process ltorrent.
type ltorrent struct {
	addr   string
	port   int
	rescan chan struct{}
	cancel context.CancelFunc
	done   chan error
	log    *testpeer.SyncBuffer
}

// start runs ltorrent with a pass every 100 ms and waits until it listens.
func (f *fixture) start() *ltorrent { return f.startEvery(100 * time.Millisecond) }

// startEvery runs ltorrent with the given pass interval.
func (f *fixture) startEvery(pass time.Duration) *ltorrent {
	f.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	lt := &ltorrent{rescan: make(chan struct{}, 1), cancel: cancel, done: make(chan error, 1), log: &testpeer.SyncBuffer{}}
	ready := make(chan string, 1)
	log := slog.New(slog.NewTextHandler(lt.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() {
		lt.done <- Run(ctx, Config{Svc: f.svc, Log: log, Rescan: lt.rescan, Pass: pass,
			Ready: func(a string) { ready <- a }})
	}()
	select {
	case lt.addr = <-ready:
	case err := <-lt.done:
		f.t.Fatalf("ltorrent stopped: %v\n%s", err, lt.log)
	case <-time.After(20 * time.Second):
		f.t.Fatalf("ltorrent did not start\n%s", lt.log)
	}
	_, p, _ := net.SplitHostPort(lt.addr)
	lt.port, _ = strconv.Atoi(p)
	f.t.Cleanup(func() { lt.stop(f.t) })
	return lt
}

// stop ends ltorrent as SIGTERM does and returns Run's error.
func (lt *ltorrent) stop(t *testing.T) error {
	lt.cancel()
	select {
	case err, ok := <-lt.done:
		if ok {
			close(lt.done)
		}
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("ltorrent did not stop\n%s", lt.log)
	}
	return nil
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool, dump func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s\n%s", what, dump())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func newUUID(t *testing.T) string {
	t.Helper()
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:])
}

func freePort(t *testing.T) int {
	t.Helper()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if p < 65000 {
			return p
		}
	}
}
