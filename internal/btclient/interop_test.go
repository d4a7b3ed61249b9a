package btclient

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clustervision/luna-go/internal/luna"
	"github.com/clustervision/luna-go/internal/testutil/testpeer"
)

// startClient runs ltorrent-client in dir on 127.0.0.1.
func startClient(t *testing.T, dir, torrent string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"-t", torrent, "-f", filepath.Join(dir, "client.pid"), "-b", "127.0.0.1", "-d", "1", "-w", "2", "-s", "40"}, extra...)
	return startProc(t, dir, clientBin, args...)
}

// waitFor waits until cond holds or fails the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool, logs func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s\n%s", what, logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stopClient sends SIGTERM and expects exit 0 with the pid file gone.
func stopClient(t *testing.T, p *proc, dir string) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Errorf("exit code after SIGTERM while seeding: %d, want 0\n%s", code, p.out.String())
	}
	if exists(filepath.Join(dir, "client.pid")) {
		t.Errorf("pid file left behind")
	}
}

func TestDownloadFromAria2c(t *testing.T) {
	aria2 := testpeer.Aria2c(t)
	tr := startTracker(t, listenLocal(t))
	dir := t.TempDir()
	data := randomData(t, 3<<20+12345)
	torrent := writeTorrent(t, dir, tr.URL+"/announce", nil, "image.tgz", data, 64<<10)
	seedDir, leechDir := mkdir(t, dir, "seed"), mkdir(t, dir, "leech")
	writeFile(t, filepath.Join(seedDir, "image.tgz"), data)
	seedPort := freePort(t)
	seeder := startProc(t, seedDir, aria2, aria2Args(seedDir, seedPort, torrent, true)...)
	waitFor(t, 20*time.Second, "aria2c announces", func() bool {
		for _, a := range tr.announces() {
			if a.port == seedPort {
				return true
			}
		}
		return false
	}, seeder.out.String)

	c := startClient(t, leechDir, torrent, "-e")
	waitFor(t, 40*time.Second, "ltorrent-client completes", func() bool {
		return strings.Contains(c.out.String(), "complete and verified")
	}, func() string { return c.out.String() + "\naria2c:\n" + seeder.out.String() })
	checkFile(t, filepath.Join(leechDir, "image.tgz"), data, c.out.String())
	checkEvents(t, c.out.String(), "127.0.0.1:"+strconv.Itoa(seedPort), int64(len(data)))
	if tr.seedBytes.Load() != 0 {
		t.Errorf("the web seed was used")
	}
	stopClient(t, c, leechDir)

	// The announces: started at once, completed, stopped; the peer id
	// is the one `luna node show` looks for.
	host, _ := os.Hostname()
	var events []string
	for _, a := range tr.announces() {
		if a.port == seedPort {
			continue
		}
		events = append(events, a.event)
		if got := hex.EncodeToString([]byte(a.peerID)); got != luna.PeerIDHex(host) {
			t.Errorf("peer id %q, want the host name rule's %s", a.peerID, luna.PeerIDHex(host))
		}
	}
	if len(events) < 3 || events[0] != "started" || !contains(events, "completed") || events[len(events)-1] != "stopped" {
		t.Errorf("announce events %q, want started ... completed ... stopped", events)
	}
}

// checkEvents checks the -e lines in out: each event once, in the order
// of a download, with times that do not go back, the first peer and the
// first block from the seeder.
func checkEvents(t *testing.T, out, seeder string, size int64) {
	t.Helper()
	want := []string{EventStart, EventAnnounce, EventPeer, EventFirstByte, EventFirstPiece, EventLastByte, EventVerified}
	var got []string
	var last float64
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		if !strings.HasPrefix(line, `{"event":`) {
			t.Errorf("event line %q: want \"event\" first", line)
		}
		var e struct {
			Event  string           `json:"event"`
			T      int64            `json:"t"`
			S      float64          `json:"s"`
			Addr   string           `json:"addr"`
			From   string           `json:"from"`
			Peers  *int             `json:"peers"`
			ByPeer map[string]int64 `json:"by_peer"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("event line %q: %v", line, err)
		}
		got = append(got, e.Event)
		if e.S < last || e.T < time.Now().Add(-time.Minute).UnixMilli() {
			t.Errorf("event %s at %.3f s (t %d) after one at %.3f s", e.Event, e.S, e.T, last)
		}
		last = e.S
		switch e.Event {
		case EventAnnounce:
			if e.Peers == nil || *e.Peers < 1 {
				t.Errorf("announce event %q: want the seeder among the peers", line)
			}
		case EventPeer:
			if e.Addr != seeder {
				t.Errorf("peer event %q: want addr %s", line, seeder)
			}
		case EventFirstByte:
			if e.From != seeder {
				t.Errorf("first_byte event %q: want from %s", line, seeder)
			}
		case EventVerified:
			if e.ByPeer["127.0.0.1"] != size {
				t.Errorf("verified event %q: want by_peer 127.0.0.1 = %d", line, size)
			}
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("events %q, want %q\n%s", got, want, out)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestDownloadFromLibtorrent(t *testing.T) {
	python := testpeer.LibtorrentPython(t)
	tr := startTracker(t, listenLocal(t))
	dir := t.TempDir()
	data := randomData(t, 2<<20+777)
	torrent := writeTorrent(t, dir, tr.URL+"/announce", nil, "image.tgz", data, 32<<10)
	seedDir, leechDir := mkdir(t, dir, "seed"), mkdir(t, dir, "leech")
	writeFile(t, filepath.Join(seedDir, "image.tgz"), data)
	seedPort := freePort(t)
	seeder := startProc(t, dir, python, writeScript(t, dir), torrent, seedDir, strconv.Itoa(seedPort), "seed", "60")
	waitFor(t, 20*time.Second, "libtorrent announces", func() bool {
		for _, a := range tr.announces() {
			if a.port == seedPort {
				return true
			}
		}
		return false
	}, seeder.out.String)

	c := startClient(t, leechDir, torrent)
	waitFor(t, 40*time.Second, "ltorrent-client completes", func() bool {
		return strings.Contains(c.out.String(), "complete and verified")
	}, func() string { return c.out.String() + "\nlibtorrent:\n" + seeder.out.String() })
	checkFile(t, filepath.Join(leechDir, "image.tgz"), data, c.out.String())
	if tr.seedBytes.Load() != 0 {
		t.Errorf("the web seed was used")
	}
	stopClient(t, c, leechDir)
}

// TestSeedToAria2cAndLibtorrent: ltorrent-client seeds; a real aria2c and
// a real libtorrent download from it at the same time.
func TestSeedToAria2cAndLibtorrent(t *testing.T) {
	aria2, python := testpeer.Aria2c(t), testpeer.LibtorrentPython(t)
	tr := startTracker(t, listenLocal(t))
	dir := t.TempDir()
	data := randomData(t, 3<<20+4321)
	torrent := writeTorrent(t, dir, tr.URL+"/announce", nil, "image.tgz", data, 64<<10)
	seedDir, ariaDir, ltDir := mkdir(t, dir, "seed"), mkdir(t, dir, "aria2c"), mkdir(t, dir, "lt")
	writeFile(t, filepath.Join(seedDir, "image.tgz"), data)
	seeder := startClient(t, seedDir, torrent)
	waitFor(t, 20*time.Second, "the seeder announces", func() bool { return len(tr.announces()) > 0 }, seeder.out.String)

	a := startProc(t, ariaDir, aria2, aria2Args(ariaDir, freePort(t), torrent, false)...)
	l := startProc(t, dir, python, writeScript(t, dir), torrent, ltDir, strconv.Itoa(freePort(t)), "leech", "45")
	if code := a.wait(45 * time.Second); code != 0 {
		t.Errorf("aria2c exit %d\n%s\nseeder:\n%s", code, a.out.String(), seeder.out.String())
	}
	if code := l.wait(45 * time.Second); code != 0 {
		t.Errorf("libtorrent exit %d\n%s\nseeder:\n%s", code, l.out.String(), seeder.out.String())
	}
	checkFile(t, filepath.Join(ariaDir, "image.tgz"), data, a.out.String())
	checkFile(t, filepath.Join(ltDir, "image.tgz"), data, l.out.String())
	stopClient(t, seeder, seedDir)
}

// TestWebSeedOnly: a torrent without a tracker, only a BEP 19 web seed.
func TestWebSeedOnly(t *testing.T) {
	tr := startTracker(t, listenLocal(t))
	dir := t.TempDir()
	data := randomData(t, 5<<20+3)
	tr.seedFiles["image.tgz"] = data
	torrent := writeTorrent(t, dir, "", []string{tr.URL + "/seed/"}, "image.tgz", data, 256<<10)
	leechDir := mkdir(t, dir, "leech")
	c := startClient(t, leechDir, torrent, "-w", "1")
	waitFor(t, 30*time.Second, "ltorrent-client completes", func() bool {
		return strings.Contains(c.out.String(), "complete and verified")
	}, c.out.String)
	checkFile(t, filepath.Join(leechDir, "image.tgz"), data, c.out.String())
	if n := tr.seedBytes.Load(); n < int64(len(data)) {
		t.Errorf("web seed served %d bytes, want at least %d", n, len(data))
	}
	stopClient(t, c, leechDir)
}
