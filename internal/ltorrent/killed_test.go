package ltorrent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/clustervision/luna-go/internal/netlab"
	"github.com/clustervision/luna-go/internal/testutil"
	"github.com/clustervision/luna-go/internal/testutil/testpeer"
	"github.com/clustervision/luna-go/internal/tracker"
)

// TestClientsFinishWhenLtorrentKilled: the ltorrent program seeds a packed
// image from a network namespace of its own; three ltorrent-clients, each
// in its own namespace on a 20 Mbit/s link, find it through lweb's tracker
// (its announce handler on the cluster's database) and the torrent's web
// seed (<path>/torrents/ over HTTP, as lweb serves it), both on the lab's
// hub. ltorrent is killed (SIGKILL) while every client is downloading and
// none is complete; every client still finishes, from the others and the
// web seed, with the tarball's exact bytes.
func TestClientsFinishWhenLtorrentKilled(t *testing.T) {
	ltorrentBin, clientBin := build(t, "ltorrent"), build(t, "ltorrent-client")
	ctx := context.Background()
	lab, err := netlab.New(ctx, "lc", netip.MustParsePrefix("192.0.2.128/26"))
	if err != nil {
		t.Fatalf("network namespaces: %v (the test needs root and iproute2: apt-get install iproute2)", err)
	}
	t.Cleanup(lab.Close)
	f := newFixture(t)
	hub := "http://" + netip.AddrPortFrom(lab.HubIP, 7050).String()

	// The database, reachable from the namespaces through the hub.
	db, err := url.Parse(testutil.URI())
	if err != nil {
		t.Fatal(err)
	}
	dbl, err := lab.Listen(27017)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dbl.Close() })
	go proxy(dbl, db.Host)

	// lweb's tracker and /torrents/ on the hub.
	tr := &tracker.Tracker{Store: f.st, Settings: func(context.Context) (tracker.Settings, error) {
		return tracker.Settings{Interval: 1, MinInterval: 1, MaxPeers: 200}, nil
	}}
	mux := http.NewServeMux()
	var ltAnnounced atomic.Bool
	mux.HandleFunc("/announce", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("peer_id") == ServerPeerID {
			ltAnnounced.Store(true)
		}
		tr.ServeAnnounce(w, r)
	})
	var webSeedBytes counter
	files := http.StripPrefix("/torrents/", http.FileServer(http.Dir(f.dir)))
	mux.Handle("/torrents/", webSeedBytes.wrap(files))
	hl, err := lab.Listen(7050)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(hl)
	t.Cleanup(func() { srv.Close() })

	// 8 MiB: at 20 Mbit/s ltorrent needs over 3 s for one copy.
	f.announce = hub + "/announce"
	img := f.pack(8<<20+4321, "Luna")
	mi, err := metainfo.LoadFromFile(img.torrent)
	if err != nil {
		t.Fatal(err)
	}
	mi.UrlList = []string{hub + "/torrents/"}
	var b bytes.Buffer
	if err := mi.Write(&b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(img.torrent, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	f.osimage("compute", img)

	seedHost, err := lab.AddHost(ctx, "master.cluster", 20)
	if err != nil {
		t.Fatal(err)
	}
	f.setCluster(map[string]any{"frontend_address": seedHost.IP.String()})
	conf := filepath.Join(t.TempDir(), "luna.conf")
	if err := os.WriteFile(conf, []byte("[MongoDB]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lt := seedHost.Command(ctx, ltorrentBin)
	lt.Env = append(testpeer.CleanEnv(), "LUNA_MONGO_URI=mongodb://"+netip.AddrPortFrom(lab.HubIP, 27017).String()+"/",
		"LUNA_DB="+f.db, "LUNA_CONF="+conf)
	var ltLog testpeer.SyncBuffer
	lt.Stdout, lt.Stderr = &ltLog, &ltLog
	if err := lt.Start(); err != nil {
		t.Fatal(err)
	}
	ltDone := make(chan struct{})
	go func() { _ = lt.Wait(); close(ltDone) }()
	t.Cleanup(func() { _ = lt.Process.Kill(); <-ltDone })
	waitFor(t, "ltorrent announces the image", 30*time.Second, func() bool {
		return ltAnnounced.Load()
	}, ltLog.String)

	type node struct {
		work string
		out  testpeer.SyncBuffer
		done chan struct{}
	}
	var nodes []*node
	for i := 1; i <= 3; i++ {
		h, err := lab.AddHost(ctx, fmt.Sprintf("node%03d.cluster", i), 20)
		if err != nil {
			t.Fatal(err)
		}
		n := &node{work: t.TempDir(), done: make(chan struct{})}
		cmd := h.Command(ctx, clientBin, "-t", img.torrent, "-f", filepath.Join(n.work, "client.pid"), "-d", "1", "-w", "3", "-s", "60")
		cmd.Dir = n.work
		cmd.Env = testpeer.CleanEnv()
		cmd.Stdout, cmd.Stderr = &n.out, &n.out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = cmd.Wait(); close(n.done) }()
		t.Cleanup(func() { _ = cmd.Process.Kill(); <-n.done })
		nodes = append(nodes, n)
	}
	logs := func() string {
		var s strings.Builder
		fmt.Fprintf(&s, "ltorrent:\n%s", ltLog.String())
		for i, n := range nodes {
			fmt.Fprintf(&s, "node %d:\n%s", i+1, n.out.String())
		}
		return s.String()
	}
	waitFor(t, "every node downloads", 30*time.Second, func() bool {
		for _, n := range nodes {
			if !strings.Contains(n.out.String(), "downloading") {
				return false
			}
		}
		return true
	}, logs)
	time.Sleep(500 * time.Millisecond)
	_ = lt.Process.Signal(syscall.SIGKILL)
	<-ltDone
	for i, n := range nodes {
		if strings.Contains(n.out.String(), "complete and verified") {
			t.Fatalf("node %d was complete before ltorrent was killed: make the image larger\n%s", i+1, logs())
		}
	}
	killedAt := webSeedBytes.load()
	for i, n := range nodes {
		waitFor(t, fmt.Sprintf("node %d completes", i+1), 90*time.Second, func() bool {
			return strings.Contains(n.out.String(), "complete and verified")
		}, logs)
		got, err := os.ReadFile(filepath.Join(n.work, img.tarballID+".tgz"))
		if err != nil || !bytes.Equal(got, img.data) {
			t.Fatalf("node %d's copy differs from the tarball (%d bytes, %v)\n%s", i+1, len(got), err, logs())
		}
	}
	t.Logf("web seed: %d bytes before ltorrent was killed, %d in all (image %d bytes, 3 nodes)", killedAt, webSeedBytes.load(), len(img.data))
	if webSeedBytes.load() >= int64(3*len(img.data)) {
		t.Errorf("the web seed served %d bytes, three whole images: the nodes did not share", webSeedBytes.load())
	}
}

// proxy forwards every connection on l to addr.
func proxy(l net.Listener, addr string) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			d, err := net.Dial("tcp", addr)
			if err != nil {
				return
			}
			defer d.Close()
			go func() { _, _ = io.Copy(d, c); d.(*net.TCPConn).CloseWrite() }()
			_, _ = io.Copy(c, d)
		}()
	}
}

// counter counts the bytes of the responses of a handler.
type counter struct{ n atomic.Int64 }

func (c *counter) load() int64 { return c.n.Load() }

func (c *counter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(countingWriter{w, c}, r)
	})
}

type countingWriter struct {
	http.ResponseWriter
	c *counter
}

func (w countingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.c.n.Add(int64(n))
	return n, err
}
