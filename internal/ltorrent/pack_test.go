package ltorrent

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/clustervision/luna-go/internal/luna"
)

// TestRealPack: what `luna osimage pack --image` writes is seeded. The pack
// reports that the pid in torrent_pidfile (this test process) is no
// ltorrent, the test sends the SIGHUP (forwarded as cmd/ltorrent does); aria2c downloads the tarball and it
// holds the image's files. A second pack replaces the torrent and the
// first one is retired.
func TestRealPack(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("osimage pack needs root rights: run this test as root")
	}
	f := newFixture(t)
	u, err := url.Parse(f.announce)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	f.setCluster(map[string]any{"frontend_port": port}) // pack names lweb's tracker: the fixture's
	f.timeouts(1, 3600)
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/hostname"), []byte("image\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.addOSImage("compute", root)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer func() {
		signal.Stop(hup)
		close(hup)
	}()
	lt := f.start()
	go func() {
		for range hup {
			select {
			case lt.rescan <- struct{}{}:
			default:
			}
		}
	}()

	pack := func() (*luna.PackResult, *metainfo.MetaInfo) {
		t.Helper()
		res, err := f.svc.PackOSImage(context.Background(), "compute", luna.PackOptions{Image: true})
		if err != nil {
			t.Fatalf("pack: %v", err)
		}
		mi, err := metainfo.LoadFromFile(filepath.Join(f.dir, res.Torrent+".torrent"))
		if err != nil {
			t.Fatal(err)
		}
		return res, mi
	}
	res, mi := pack()
	// The pidfile names this test process (ltorrent.test, not ltorrent):
	// pack's identity check (internal/pidfile) rightly refuses to signal it,
	// so the test sends the SIGHUP as `ltorrent reload` does. Pack's SIGHUP
	// to a process named ltorrent: internal/luna's TestSignalLtorrentChecksIdentity.
	if !strings.Contains(res.Ltorrent, "is not a live ltorrent") {
		t.Errorf("pack signalled the test process: %s", res.Ltorrent)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	h := mi.HashInfoBytes().HexString()
	waitFor(t, "the packed torrent is announced", 10*time.Second, func() bool { return len(f.serverAnnounces(h)) > 0 }, lt.log.String)
	if !strings.Contains(lt.log.String(), "re-reading torrent files") {
		t.Errorf("the SIGHUP did not reach ltorrent\n%s", lt.log)
	}

	img := &image{id: res.Torrent, tarballID: res.Tarball, torrent: filepath.Join(f.dir, res.Torrent+".torrent"),
		tarball: filepath.Join(f.dir, res.Tarball+".tgz")}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got, err := ariaDownload(t, ctx, img)
	if err != nil {
		t.Fatalf("%v\nltorrent:\n%s", err, lt.log)
	}
	want, err := os.ReadFile(img.tarball)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the download differs from the packed tarball (%v)", err)
	}
	if !tarHolds(t, got, "etc/hostname") {
		t.Errorf("the tarball has no etc/hostname")
	}

	res2, mi2 := pack()
	h2 := mi2.HashInfoBytes().HexString()
	waitFor(t, "the new pack is announced", 10*time.Second, func() bool { return len(f.serverAnnounces(h2)) > 0 }, lt.log.String)
	waitFor(t, "the first pack is retired", 15*time.Second, func() bool { return !exists(img.tarball) && !exists(img.torrent) }, lt.log.String)
	if !exists(filepath.Join(f.dir, res2.Tarball+".tgz")) {
		t.Errorf("the current tarball is gone")
	}
}

// tarHolds reports whether the gzipped tar data has a member named name.
func tarHolds(t *testing.T, data []byte, name string) bool {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimPrefix(h.Name, "./") == name {
			return true
		}
	}
}
