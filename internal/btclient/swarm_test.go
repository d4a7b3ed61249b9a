package btclient

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clustervision/luna-go/internal/luna"
	"github.com/clustervision/luna-go/internal/netlab"
	"github.com/clustervision/luna-go/internal/testutil/testpeer"
)

// TestSwarmSeederKilled: one ltorrent-client seeder and three
// ltorrent-client leechers, each in its own network namespace on a
// bridge with 20 Mbit/s links, lweb's tracker and a web seed on the hub.
// The seeder is killed before any leecher is complete; the leechers
// finish from each other and from the web seed.
func TestSwarmSeederKilled(t *testing.T) {
	ctx := context.Background()
	lab, err := netlab.New(ctx, "btclient", netip.MustParsePrefix("203.0.113.0/24"))
	if err != nil {
		t.Fatalf("network namespaces: %v (the test needs root and iproute2: apt-get install iproute2)", err)
	}
	t.Cleanup(lab.Close)
	l, err := lab.Listen(7050)
	if err != nil {
		t.Fatal(err)
	}
	tr := startTracker(t, l)
	dir := t.TempDir()
	data := randomData(t, 8<<20+1000)
	tr.seedFiles["image.tgz"] = data
	torrent := writeTorrent(t, dir, tr.URL+"/announce", []string{tr.URL + "/seed/"}, "image.tgz", data, 256<<10)

	start := func(h *netlab.Host, work string) *proc {
		p := &proc{done: make(chan struct{})}
		p.cmd = h.Command(ctx, clientBin, "-t", torrent, "-f", filepath.Join(work, "client.pid"), "-d", "1", "-w", "3", "-s", "40")
		p.cmd.Dir = work
		p.cmd.Env = testpeer.CleanEnv()
		p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
		if err := p.cmd.Start(); err != nil {
			t.Fatalf("start ltorrent-client in %s: %v", h.NS, err)
		}
		go func() { p.err = p.cmd.Wait(); close(p.done) }()
		t.Cleanup(func() { _ = p.cmd.Process.Kill(); <-p.done })
		return p
	}
	seedHost, err := lab.AddHost(ctx, "seeder.cluster", 20)
	if err != nil {
		t.Fatal(err)
	}
	seedDir := mkdir(t, dir, "seed")
	writeFile(t, filepath.Join(seedDir, "image.tgz"), data)
	seeder := start(seedHost, seedDir)
	waitFor(t, 15*time.Second, "the seeder announces", func() bool { return len(tr.announces()) > 0 }, seeder.out.String)

	var nodes []*proc
	var works []string
	var hosts []*netlab.Host
	for i := 1; i <= 3; i++ {
		h, err := lab.AddHost(ctx, fmt.Sprintf("node%03d.cluster", i), 20)
		if err != nil {
			t.Fatal(err)
		}
		work := mkdir(t, dir, h.Name)
		hosts = append(hosts, h)
		works = append(works, work)
	}
	for i, h := range hosts {
		nodes = append(nodes, start(h, works[i]))
	}
	logs := func() string {
		var b strings.Builder
		fmt.Fprintf(&b, "seeder:\n%s", seeder.out.String())
		for i, n := range nodes {
			fmt.Fprintf(&b, "node %d:\n%s", i+1, n.out.String())
		}
		return b.String()
	}
	// Kill the seeder once the nodes are under way (8 MiB at 20 Mbit/s
	// take the seeder over 3 s per copy).
	waitFor(t, 15*time.Second, "the nodes download", func() bool {
		for _, n := range nodes {
			if !strings.Contains(n.out.String(), "downloading") {
				return false
			}
		}
		return true
	}, logs)
	time.Sleep(500 * time.Millisecond)
	_ = seeder.cmd.Process.Signal(syscall.SIGKILL)
	<-seeder.done
	for i, n := range nodes {
		if strings.Contains(n.out.String(), "complete and verified") {
			t.Fatalf("node %d was complete before the seeder was killed: make the image larger\n%s", i+1, logs())
		}
	}

	for i, n := range nodes {
		waitFor(t, 60*time.Second, fmt.Sprintf("node %d completes", i+1), func() bool {
			return strings.Contains(n.out.String(), "complete and verified")
		}, logs)
		checkFile(t, filepath.Join(works[i], "image.tgz"), data, logs())
	}
	if tr.seedBytes.Load() == 0 {
		t.Errorf("the web seed served nothing\n%s", logs())
	}
	if n := tr.seedBytes.Load(); n >= int64(3*len(data)) {
		t.Errorf("the web seed served %d bytes, three whole copies: the nodes did not trade", n)
	}
	for i, n := range nodes {
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		if code := n.wait(10 * time.Second); code != 0 {
			t.Errorf("node %d: exit %d after SIGTERM\n%s", i+1, code, n.out.String())
		}
		if _, err := os.Stat(filepath.Join(works[i], "client.pid")); err == nil {
			t.Errorf("node %d left its pid file", i+1)
		}
	}

	// Each node announced with the peer id of its host name, and some
	// node uploaded to the others.
	ids := map[string]bool{}
	uploaded := false
	for _, a := range tr.announces() {
		ids[hex.EncodeToString([]byte(a.peerID))] = true
		uploaded = uploaded || (a.ip != seedHost.IP.String() && a.uploaded > 0)
	}
	for _, h := range hosts {
		if !ids[luna.PeerIDHex(h.Name)] {
			t.Errorf("no announce with %s's peer id %s", h.Name, luna.PeerIDHex(h.Name))
		}
	}
	if !uploaded {
		t.Errorf("no node reported an upload to the tracker: they did not trade\n%s", logs())
	}
	t.Logf("web seed served %.1f MiB for 3 nodes of %.1f MiB", float64(tr.seedBytes.Load())/(1<<20), float64(len(data))/(1<<20))
}
