package ltorrent

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/clustervision/luna-go/internal/testutil/testpeer"
)

// leecherScript downloads one torrent with libtorrent (the library Luna
// 1.2's nodes used) on 127.0.0.1, without DHT, LSD, UPnP or NAT-PMP: the
// tracker is its only source of peers.
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
    if s.is_seeding or s.is_finished:
        break
    if time.time() > deadline:
        print('timed out at progress %.3f peers %d' % (s.progress, s.num_peers), flush=True)
        sys.exit(1)
    time.sleep(0.2)
print('finished', flush=True)
`

// ariaDownload has aria2c download img from whatever the tracker names
// and returns what it wrote; extra are more aria2c options.
func ariaDownload(t *testing.T, ctx context.Context, img *image, extra ...string) ([]byte, error) {
	t.Helper()
	dir := t.TempDir()
	args := append([]string{"--dir=" + dir, "--seed-time=0", "--enable-dht=false", "--enable-dht6=false",
		"--bt-enable-lpd=false", "--enable-peer-exchange=false", "--disable-ipv6=true",
		"--listen-port=" + strconv.Itoa(freePort(t)), "--file-allocation=none", "--summary-interval=0",
		"--console-log-level=warn", "--bt-stop-timeout=60",
		"--stop-with-process=" + strconv.Itoa(os.Getpid())}, extra...)
	cmd := exec.CommandContext(ctx, testpeer.Aria2c(t), append(args, img.torrent)...)
	cmd.Env = testpeer.CleanEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("aria2c: %v\n%s", err, out)
	}
	return os.ReadFile(filepath.Join(dir, img.tarballID+".tgz"))
}

// TestSeedsToRealClients: aria2c and libtorrent (python3-libtorrent)
// download a packed image from ltorrent, finding it through lweb's
// tracker, and get the tarball's bytes; ltorrent announced with the
// server peer id, its bind address and port, and says `stopped` when it
// stops, removing its pidfile.
func TestSeedsToRealClients(t *testing.T) {
	python := testpeer.LibtorrentPython(t)
	f := newFixture(t)
	img := f.pack(6<<20+12345, "Luna")
	f.osimage("compute", img)
	lt := f.start()
	if pid, err := readPidfile(f.pidfile); err != nil || pid != os.Getpid() {
		t.Fatalf("pidfile %s holds %d (%v), want %d", f.pidfile, pid, err, os.Getpid())
	}
	waitFor(t, "ltorrent announces started", 10*time.Second, func() bool {
		for _, a := range f.serverAnnounces(img.infoHash) {
			if a.event == "started" {
				if a.ip != "127.0.0.1" || a.port != lt.port {
					t.Errorf("announce ip=%q port=%d, want 127.0.0.1 and %d", a.ip, a.port, lt.port)
				}
				return true
			}
		}
		return false
	}, lt.log.String)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	got, err := ariaDownload(t, ctx, img)
	if err != nil {
		t.Fatalf("%v\nltorrent:\n%s", err, lt.log)
	}
	if !bytes.Equal(got, img.data) {
		t.Fatalf("aria2c got %d bytes that differ from the tarball's %d", len(got), len(img.data))
	}

	dir := t.TempDir()
	script := filepath.Join(dir, "leech.py")
	if err := os.WriteFile(script, []byte(leecherScript), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, python, script, img.torrent, dir, strconv.Itoa(freePort(t)), "60")
	cmd.Env = testpeer.CleanEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("libtorrent: %v\n%s\nltorrent:\n%s", err, out, lt.log)
	}
	got, err = os.ReadFile(filepath.Join(dir, img.tarballID+".tgz"))
	if err != nil || !bytes.Equal(got, img.data) {
		t.Fatalf("libtorrent's copy differs from the tarball (%d bytes, %v)", len(got), err)
	}

	// The upload counter reaches the tracker.
	waitFor(t, "an announce reports the uploads", 10*time.Second, func() bool {
		for _, a := range f.serverAnnounces(img.infoHash) {
			if n, _ := strconv.Atoi(a.uploaded); n >= 2*len(img.data) {
				return true
			}
		}
		return false
	}, lt.log.String)

	if err := lt.stop(t); err != nil {
		t.Fatalf("Run returned %v", err)
	}
	stopped := false
	for _, a := range f.serverAnnounces(img.infoHash) {
		stopped = stopped || a.event == "stopped"
	}
	if !stopped {
		t.Errorf("no stopped announce\n%s", lt.log)
	}
	if exists(f.pidfile) {
		t.Errorf("pidfile %s left behind", f.pidfile)
	}
	if !exists(img.tarball) || !exists(img.torrent) {
		t.Errorf("a referenced torrent's files are gone")
	}
}

// TestRescanOnSIGHUP: with no pass due, a new torrent is seeded as soon as
// a rescan (SIGHUP) asks.
func TestRescanOnSIGHUP(t *testing.T) {
	f := newFixture(t)
	a := f.pack(300<<10, "Luna")
	f.osimage("a", a)
	lt := f.startEvery(time.Hour)
	waitFor(t, "the first torrent is announced", 10*time.Second, func() bool { return len(f.serverAnnounces(a.infoHash)) > 0 }, lt.log.String)
	b := f.pack(300<<10, "Luna")
	f.point("a", b)
	time.Sleep(time.Second)
	if n := len(f.serverAnnounces(b.infoHash)); n != 0 {
		t.Fatalf("the new torrent was announced %d times before the rescan", n)
	}
	lt.rescan <- struct{}{}
	waitFor(t, "the new torrent is announced after the rescan", 10*time.Second, func() bool { return len(f.serverAnnounces(b.infoHash)) > 0 }, lt.log.String)
	if !strings.Contains(lt.log.String(), "re-reading torrent files") {
		t.Errorf("the rescan is not logged\n%s", lt.log)
	}
}

// TestFollowsDatabaseAndRetires: ltorrent follows osimage changes without a
// signal; a torrent no osimage refers to is retired (stopped announce,
// .torrent and tarball deleted) once nothing was uploaded for
// torrent_soft_timeout; one pointed at again is kept; renames keep
// references; other torrents and referenced ones stay.
func TestFollowsDatabaseAndRetires(t *testing.T) {
	f := newFixture(t)
	f.timeouts(2, 3600)
	a, c, old := f.pack(300<<10, "Luna"), f.pack(300<<10, "Luna"), f.pack(300<<10, "Luna")
	foreign := f.pack(300<<10, "someone else")
	f.osimage("a", a)
	f.osimage("c", c)
	lt := f.start()
	announced := func(img *image) func() bool {
		return func() bool { return len(f.serverAnnounces(img.infoHash)) > 0 }
	}
	for _, img := range []*image{a, c, old} {
		waitFor(t, "the torrents on disk are announced", 10*time.Second, announced(img), lt.log.String)
	}
	if len(f.serverAnnounces(foreign.infoHash)) != 0 {
		t.Errorf("a torrent not created by Luna was seeded")
	}

	// A new pack of a (no signal), c pointed back at the older torrent,
	// a renamed.
	b := f.pack(300<<10, "Luna")
	f.point("a", b)
	f.point("c", old)
	if err := f.svc.Rename(context.Background(), "osimage", "osimage", "a", "a2"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new pack is announced", 10*time.Second, announced(b), lt.log.String)
	retired := func(img *image) func() bool {
		return func() bool { return !exists(img.torrent) && !exists(img.tarball) }
	}
	waitFor(t, "the replaced torrents are retired", 15*time.Second, func() bool { return retired(a)() && retired(c)() }, lt.log.String)
	for _, img := range []*image{a, c} {
		stopped := false
		for _, r := range f.serverAnnounces(img.infoHash) {
			stopped = stopped || r.event == "stopped"
		}
		if !stopped {
			t.Errorf("retired torrent %s: no stopped announce", img.id)
		}
	}
	time.Sleep(2500 * time.Millisecond) // more than the soft timeout
	for _, img := range []*image{b, old, foreign} {
		if !exists(img.torrent) || !exists(img.tarball) {
			t.Errorf("torrent %s (referenced, or not Luna's) was deleted\n%s", img.id, lt.log)
		}
	}

	// Deleting the osimage retires its torrent.
	if err := f.svc.DeleteOSImage(context.Background(), "c"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deleted osimage's torrent is retired", 15*time.Second, retired(old), lt.log.String)
	if !exists(b.tarball) || !exists(foreign.tarball) {
		t.Errorf("other files were deleted")
	}
}

// TestHardTimeout: an unreferenced torrent goes torrent_hard_timeout after
// it was found unreferenced, however long the soft timeout is.
func TestHardTimeout(t *testing.T) {
	f := newFixture(t)
	f.timeouts(3600, 2)
	keep, drop := f.pack(100<<10, "Luna"), f.pack(100<<10, "Luna")
	f.osimage("keep", keep)
	lt := f.start()
	start := time.Now()
	waitFor(t, "the unreferenced torrent is retired", 15*time.Second, func() bool { return !exists(drop.tarball) }, lt.log.String)
	if d := time.Since(start); d < 1500*time.Millisecond {
		t.Errorf("retired after %s, before the 2s hard timeout", d)
	}
	if exists(drop.torrent) || !exists(keep.tarball) {
		t.Errorf("wrong files deleted")
	}
	if !strings.Contains(lt.log.String(), "torrent_hard_timeout") {
		t.Errorf("the retirement does not name the hard timeout\n%s", lt.log)
	}
}

// TestRetireWaitsForDownloads: an unreferenced torrent keeps being seeded
// while a node downloads it, longer than the soft timeout, and goes after.
func TestRetireWaitsForDownloads(t *testing.T) {
	f := newFixture(t)
	f.timeouts(3, 3600)
	img := f.pack(16<<20, "Luna")
	f.osimage("x", img)
	lt := f.start()
	waitFor(t, "announced", 10*time.Second, func() bool { return len(f.serverAnnounces(img.infoHash)) > 0 }, lt.log.String)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	type result struct {
		data []byte
		err  error
	}
	res := make(chan result, 1)
	started := time.Now()
	go func() {
		d, err := ariaDownload(t, ctx, img, "--max-download-limit=2M")
		res <- result{d, err}
	}()
	time.Sleep(time.Second)
	if err := f.svc.DeleteOSImage(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
	r := <-res
	took := time.Since(started)
	if r.err != nil {
		t.Fatalf("%v\nltorrent:\n%s", r.err, lt.log)
	}
	if !bytes.Equal(r.data, img.data) {
		t.Fatalf("the download differs from the tarball")
	}
	if took < 5*time.Second {
		t.Fatalf("the download took %s: too fast to show anything about the 3s soft timeout", took)
	}
	waitFor(t, "retired after the download", 15*time.Second, func() bool { return !exists(img.tarball) }, lt.log.String)
}

// TestLtorrentClientDownloads: the nodes' own client (cmd/ltorrent-client,
// as the installer runs it) downloads a packed image from ltorrent.
func TestLtorrentClientDownloads(t *testing.T) {
	client := build(t, "ltorrent-client")
	f := newFixture(t)
	img := f.pack(5<<20+777, "Luna")
	f.osimage("compute", img)
	lt := f.start()
	waitFor(t, "ltorrent announces", 10*time.Second, func() bool { return len(f.serverAnnounces(img.infoHash)) > 0 }, lt.log.String)

	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, client, "-t", img.torrent, "-f", filepath.Join(dir, "client.pid"), "-d", "1")
	cmd.Dir = dir
	cmd.Env = testpeer.CleanEnv()
	var out testpeer.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	waitFor(t, "ltorrent-client completes", 40*time.Second, func() bool {
		return strings.Contains(out.String(), "complete and verified")
	}, func() string { return out.String() + "\nltorrent:\n" + lt.log.String() })
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := <-done; err != nil {
		t.Errorf("ltorrent-client after SIGTERM: %v\n%s", err, out.String())
	}
	got, err := os.ReadFile(filepath.Join(dir, img.tarballID+".tgz"))
	if err != nil || !bytes.Equal(got, img.data) {
		t.Fatalf("ltorrent-client's copy differs from the tarball (%d bytes, %v)", len(got), err)
	}
}

// TestTrackerDownloadersKeepTorrent: an unreferenced torrent that a node
// still downloads without ltorrent seeing it (from the web seed: the node
// announces left > 0 to the tracker but never connects to ltorrent) is not
// retired at the soft timeout; it is once the node said stopped.
func TestTrackerDownloadersKeepTorrent(t *testing.T) {
	f := newFixture(t)
	f.setCluster(map[string]any{"tracker_interval": 1})
	f.timeouts(2, 3600)
	keep, img := f.pack(100<<10, "Luna"), f.pack(100<<10, "Luna")
	f.osimage("keep", keep)
	lt := f.start()
	waitFor(t, "announced", 10*time.Second, func() bool { return len(f.serverAnnounces(img.infoHash)) > 0 }, lt.log.String)

	mi, err := metainfo.LoadFromFile(img.torrent)
	if err != nil {
		t.Fatal(err)
	}
	h := mi.HashInfoBytes()
	announce := func(event string) {
		q := url.Values{"info_hash": {string(h[:])}, "peer_id": {"-node0001-webseed-01"}, "port": {"6881"},
			"uploaded": {"0"}, "downloaded": {"1000"}, "left": {"50000"}, "compact": {"1"}}
		if event != "" {
			q.Set("event", event)
		}
		resp, err := http.Get(f.announce + "?" + q.Encode())
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
	}
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		announce("started")
		for {
			select {
			case <-stop:
				announce("stopped")
				return
			case <-time.After(500 * time.Millisecond):
				announce("")
			}
		}
	}()
	time.Sleep(5 * time.Second) // 2.5 soft timeouts
	if !exists(img.tarball) {
		close(stop)
		<-stopped
		t.Fatalf("retired while a node downloads it\n%s", lt.log)
	}
	close(stop)
	<-stopped
	waitFor(t, "retired once the node stopped", 15*time.Second, func() bool { return !exists(img.tarball) }, lt.log.String)
	if !exists(keep.tarball) {
		t.Errorf("the referenced tarball is gone")
	}
}
