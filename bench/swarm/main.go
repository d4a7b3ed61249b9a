// Command swarm is the node-client benchmark: N nodes, each a network
// namespace on one bridge with its link limited to -rate Mbit/s each way
// (tc htb), download one image from one seeder through lweb's tracker
// (internal/tracker on an embedded FerretDB, in the hub namespace), once
// with ltorrent-client on every node and once with aria2c, in the same
// run. It reports T/F, where T is the time from starting the nodes until
// every node has the verified image and F = size/rate is the floor (one
// node's link), with CPU seconds and peak RSS per node.
//
//	make build && go run ./bench/swarm -n 1,8,32,64
//
// The seeder is the same program for both clients (-seeder, default
// aria2c, a mature seeder that neither node client controls). Every node
// keeps seeding until the last one is done; nodes find each other only
// through the tracker (no DHT, LSD or PEX). A node is done when its client
// says the file is complete and verified (ltorrent-client's line, aria2c's
// --on-bt-download-complete hook); after the run every node's file is
// compared with the image. -rss1g measures instead the peak RSS of one
// ltorrent-client (and one aria2c) downloading a 1 GiB image over an
// unlimited link. Needs root, iproute2 and aria2 (apt-get install aria2).
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/clustervision/luna-go/internal/embeddb"
	"github.com/clustervision/luna-go/internal/netlab"
	"github.com/clustervision/luna-go/internal/store"
	"github.com/clustervision/luna-go/internal/tracker"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "swarm:", err)
		os.Exit(1)
	}
}

type bench struct {
	lab      *netlab.Lab
	announce string
	dir      string
	bin      string
	aria2    string
	seeder   string
	pieceLen int
	rate     int
	verbose  bool
	fault    string
	srv      *http.Server
	mux      *http.ServeMux
}

func run() error {
	var (
		ns       = flag.String("n", "1,8,32", "node counts, comma-separated")
		sizeMiB  = flag.Int("size", 24, "image size in MiB")
		pieceKiB = flag.Int("piece", 256, "piece length in KiB")
		rate     = flag.Int("rate", 20, "link rate of every host in Mbit/s")
		clients  = flag.String("clients", "ltorrent-client,aria2c,http", "node clients to compare, in this order (http: curl from a file server on the seeder host)")
		seeder   = flag.String("seeder", "aria2c", "seeder program: aria2c or ltorrent-client")
		bin      = flag.String("bin", "bin/ltorrent-client", "the ltorrent-client binary")
		rss1g    = flag.Bool("rss1g", false, "measure peak RSS downloading a 1 GiB image instead")
		verbose  = flag.Bool("v", false, "print the first node's output after each run")
		plotFrom = flag.String("plot", "", "draw the result table in this file (run's output) to -png and exit")
		png      = flag.String("png", "docs/swarm.png", "the PNG -plot writes")
		fault    = flag.String("fault", "", "inject a fault once the seeder has sent half an image: seeder (killed, restarted 3 s later), tracker (lweb's tracker down for 3 s), node (node 1 killed)")
		serve    = flag.String("serve", "", "internal: serve this directory over HTTP on :8080 (the http flow's server)")
	)
	flag.Parse()
	if *plotFrom != "" {
		return plotTable(*plotFrom, *png, fmt.Sprintf("bench/swarm: %d MiB image, %d Mbit/s links", *sizeMiB, *rate))
	}
	if *serve != "" {
		return http.ListenAndServe(":8080", http.FileServer(http.Dir(*serve)))
	}
	ctx := context.Background()
	b := &bench{seeder: *seeder, pieceLen: *pieceKiB << 10, rate: *rate, verbose: *verbose, fault: *fault}
	switch *fault {
	case "", "seeder", "tracker", "node":
	default:
		return fmt.Errorf("-fault: %q is not seeder, tracker or node", *fault)
	}
	var err error
	if b.bin, err = filepath.Abs(*bin); err != nil {
		return err
	}
	if _, err := os.Stat(b.bin); err != nil {
		return fmt.Errorf("%s: %w (run make build)", b.bin, err)
	}
	if b.aria2, err = exec.LookPath("aria2c"); err != nil {
		return fmt.Errorf("aria2c not found: apt-get install aria2")
	}
	// In RAM, as on a diskless node, and out of the way of other disk use.
	tmp := ""
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		tmp = "/dev/shm"
	}
	if b.dir, err = os.MkdirTemp(tmp, "bench-swarm-"); err != nil {
		return err
	}
	defer os.RemoveAll(b.dir)

	// lweb's tracker on an embedded FerretDB.
	db, err := embeddb.Start(ctx, embeddb.Config{Listen: "127.0.0.1:0", DataDir: filepath.Join(b.dir, "db")})
	if err != nil {
		return err
	}
	defer db.Stop()
	st, err := store.Open(ctx, db.URI(), "swarm", "bench", 10*time.Second)
	if err != nil {
		return err
	}
	defer st.Close(ctx)
	tr := &tracker.Tracker{Store: st, SwarmTTL: 2 * time.Second, Settings: func(context.Context) (tracker.Settings, error) {
		return tracker.Settings{Interval: 10, MinInterval: 2, MaxPeers: 200}, nil
	}}
	fctx, stopFlush := context.WithCancel(ctx)
	defer stopFlush()
	go tr.FlushLoop(fctx, time.Second)

	maxN := 1
	var counts []int
	for _, s := range strings.Split(*ns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 200 {
			return fmt.Errorf("-n: bad node count %q", s)
		}
		counts = append(counts, n)
		maxN = max(maxN, n)
	}
	if *rss1g {
		maxN = 1
	}
	if b.lab, err = netlab.New(ctx, "sw", netip.MustParsePrefix("203.0.113.0/24")); err != nil {
		return err
	}
	defer b.lab.Close()
	linkRate := *rate
	if *rss1g {
		linkRate = 0
	}
	for i := 0; i <= maxN; i++ {
		name := "seeder.cluster"
		if i > 0 {
			name = fmt.Sprintf("node%03d.cluster", i)
		}
		if _, err := b.lab.AddHost(ctx, name, linkRate); err != nil {
			return err
		}
	}
	if err := b.lab.StaticNeighbours(ctx); err != nil {
		return err
	}
	l, err := b.lab.Listen(7050)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/announce", tr.ServeAnnounce)
	b.mux = mux
	b.srv = &http.Server{Handler: mux}
	go b.srv.Serve(l)
	defer func() { b.srv.Close() }()
	b.announce = fmt.Sprintf("http://%s:7050/announce", b.lab.HubIP)

	if *rss1g {
		return b.rss(ctx, strings.Split(*clients, ","))
	}
	data := make([]byte, *sizeMiB<<20)
	fill(data)
	S := float64(len(data)) * 8
	B, bn := float64(*rate)*1e6, float64(*rate)*1e6 // server link, node link (bit/s)
	fmt.Printf("swarm: image %d MiB, pieces %d KiB, links %d Mbit/s, seeder %s, %s\n",
		*sizeMiB, *pieceKiB, *rate, b.seeder, time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("| client | N | T (s) | floor F (s) | T/F | server upload per image | CPU s per node (median, max) | peak RSS per node (median, max) | load |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, n := range counts {
		N := float64(n)
		for _, client := range strings.Split(*clients, ",") {
			// Kumar-Ross: P2P floor max(S/B, S/b, N*S/(B+N*b)); client-server max(N*S/B, S/b).
			f := max(S/B, S/bn, N*S/(B+N*bn))
			if client == "http" {
				f = max(N*S/B, S/bn)
			}
			r, err := b.runSwarm(ctx, client, n, data, time.Duration(20*f*float64(time.Second))+60*time.Second)
			if err != nil {
				return fmt.Errorf("%s, N=%d: %w", client, n, err)
			}
			fmt.Printf("| %s | %d | %.1f | %.1f | %.2f | %.2f | %.2f, %.2f | %.0f MB, %.0f MB | %s |\n", client, n, r.T.Seconds(), f, r.T.Seconds()/f,
				float64(r.upload)/float64(len(data))/N, median(r.cpu), slices.Max(r.cpu), median(r.rss)/1e6, slices.Max(r.rss)/1e6, loadavg())
		}
	}
	return nil
}

func fill(b []byte) {
	r := rand.NewChaCha8([32]byte{1, 2, 3})
	_, _ = r.Read(b)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// txBytes is what host h has sent on its link.
func (b *bench) txBytes(ctx context.Context, h int) int64 {
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", b.lab.Hosts[h].NS, "cat", "/sys/class/net/eth0/statistics/tx_bytes").Output()
	if err != nil {
		return 0
	}
	v, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	return v
}

type result struct {
	T        time.Duration
	upload   int64 // bytes the seeder host sent
	cpu, rss []float64
}

// node is one client process in a host.
type node struct {
	cmd  *exec.Cmd
	work string
	done chan struct{}
	at   time.Time // when it had the verified image
	mu   sync.Mutex
	out  bytes.Buffer
}

// writeTorrent makes a torrent of data with a fresh info hash.
func (b *bench) writeTorrent(path, tag string, length int64, pieces []byte) error {
	info := metainfo.Info{PieceLength: int64(b.pieceLen), Name: "image.tgz", Length: length, Pieces: pieces, Source: tag}
	ib, err := bencode.Marshal(info)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return (&metainfo.MetaInfo{InfoBytes: ib, Announce: b.announce, CreatedBy: "bench/swarm"}).Write(f)
}

func (b *bench) pieceHashes(data []byte) []byte {
	var out []byte
	for off := 0; off < len(data); off += b.pieceLen {
		s := sha1.Sum(data[off:min(off+b.pieceLen, len(data))])
		out = append(out, s[:]...)
	}
	return out
}

// start runs client in host number h with work as its directory.
func (b *bench) start(ctx context.Context, client string, h int, work, torrent string, seed bool) (*node, error) {
	host := b.lab.Hosts[h]
	nd := &node{work: work, done: make(chan struct{})}
	switch client {
	case "ltorrent-client":
		every := "60"
		if b.verbose {
			every = "1"
		}
		nd.cmd = host.Command(ctx, b.bin, "-t", torrent, "-f", filepath.Join(work, "client.pid"), "-d", every, "-s", "300")
	case "http-server":
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		nd.cmd = host.Command(ctx, self, "-serve", work)
	case "http":
		url := fmt.Sprintf("http://%s:8080/image.tgz", b.lab.Hosts[0].IP)
		nd.cmd = host.Command(ctx, "sh", "-c", `curl -sSf -o "$0/image.tgz" "$1" && touch "$0/image.tgz.done"`, work, url)
	case "aria2c":
		hook := filepath.Join(b.dir, "done-hook")
		if err := os.WriteFile(hook, []byte("#!/bin/sh\ntouch \"$3.done\"\n"), 0o755); err != nil {
			return nil, err
		}
		args := []string{"--dir=" + work, "--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false",
			"--enable-peer-exchange=false", "--disable-ipv6=true", "--listen-port=6881", "--file-allocation=none",
			"--summary-interval=0", "--console-log-level=warn", "--seed-ratio=0.0", "--on-bt-download-complete=" + hook}
		if seed {
			args = append(args, "--check-integrity=true", "--bt-seed-unverified=false")
		}
		nd.cmd = host.Command(ctx, b.aria2, append(args, torrent)...)
	default:
		return nil, fmt.Errorf("unknown client %q", client)
	}
	nd.cmd.Dir = work
	pr, pw := io.Pipe()
	nd.cmd.Stdout, nd.cmd.Stderr = pw, pw
	if err := nd.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			nd.mu.Lock()
			if nd.at.IsZero() && strings.Contains(sc.Text(), "complete and verified") {
				nd.at = time.Now()
			}
			if nd.out.Len() < 1<<16 {
				nd.out.WriteString(sc.Text() + "\n")
			}
			nd.mu.Unlock()
		}
	}()
	go func() { _ = nd.cmd.Wait(); pw.Close(); close(nd.done) }()
	return nd, nil
}

// finished reports when the node had the image (zero: not yet).
func (nd *node) finished() time.Time {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.at.IsZero() {
		if st, err := os.Stat(filepath.Join(nd.work, "image.tgz.done")); err == nil {
			nd.at = st.ModTime()
		}
	}
	return nd.at
}

// peakRSS is the process's VmHWM (the high-water mark since its exec:
// rusage's maxrss would count the Go parent's memory it was forked from).
func (nd *node) peakRSS() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", nd.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb * 1024
		}
	}
	return 0
}

func (nd *node) stop() {
	_ = nd.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-nd.done:
	case <-time.After(10 * time.Second):
		_ = nd.cmd.Process.Kill()
		<-nd.done
	}
}

func (nd *node) cpu() float64 {
	ps := nd.cmd.ProcessState
	if ps == nil {
		return 0
	}
	return (ps.UserTime() + ps.SystemTime()).Seconds()
}

func (b *bench) runSwarm(ctx context.Context, client string, n int, data []byte, limit time.Duration) (*result, error) {
	tag := fmt.Sprintf("%s-%d-%d", client, n, time.Now().UnixNano())
	runDir := filepath.Join(b.dir, tag)
	torrent := filepath.Join(runDir, "image.torrent")
	seedDir := filepath.Join(runDir, "seed")
	if err := os.MkdirAll(seedDir, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(runDir)
	if err := os.WriteFile(filepath.Join(seedDir, "image.tgz"), data, 0o644); err != nil {
		return nil, err
	}
	if err := b.writeTorrent(torrent, tag, int64(len(data)), b.pieceHashes(data)); err != nil {
		return nil, err
	}
	seederProg := b.seeder
	if client == "http" {
		seederProg = "http-server"
	}
	seeder, err := b.start(ctx, seederProg, 0, seedDir, torrent, true)
	if err != nil {
		return nil, err
	}
	defer seeder.stop()
	time.Sleep(2 * time.Second) // it checks the file and announces
	var nodes []*node
	defer func() {
		for _, nd := range nodes {
			nd.stop()
		}
	}()
	tx0 := b.txBytes(ctx, 0)
	t0 := time.Now()
	for i := 1; i <= n; i++ {
		work := filepath.Join(runDir, fmt.Sprintf("node%d", i))
		if err := os.MkdirAll(work, 0o755); err != nil {
			return nil, err
		}
		nd, err := b.start(ctx, client, i, work, torrent, false)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, nd)
	}
	var killed *node
	faulted := b.fault == ""
	var last time.Time
	for {
		if !faulted && b.txBytes(ctx, 0)-tx0 >= int64(len(data)/2) {
			faulted = true
			fmt.Printf("fault %s at %.1f s\n", b.fault, time.Since(t0).Seconds())
			switch b.fault {
			case "seeder":
				_ = seeder.cmd.Process.Kill()
				<-seeder.done
				time.Sleep(3 * time.Second)
				if seeder, err = b.start(ctx, seederProg, 0, seedDir, torrent, true); err != nil {
					return nil, err
				}
				defer seeder.stop()
			case "tracker":
				b.srv.Close()
				time.Sleep(3 * time.Second)
				l, err := b.lab.Listen(7050)
				if err != nil {
					return nil, err
				}
				b.srv = &http.Server{Handler: b.mux}
				go b.srv.Serve(l)
			case "node":
				killed = nodes[0]
				_ = killed.cmd.Process.Kill()
				<-killed.done
				nodes = nodes[1:]
			}
		}
		last = time.Time{}
		all := true
		for _, nd := range nodes {
			at := nd.finished()
			if at.IsZero() {
				all = false
				break
			}
			if at.After(last) {
				last = at
			}
		}
		if all {
			break
		}
		if time.Since(t0) > limit {
			var b strings.Builder
			for i, nd := range nodes {
				if nd.finished().IsZero() {
					nd.mu.Lock()
					fmt.Fprintf(&b, "node %d:\n%s\n", i+1, nd.out.String())
					nd.mu.Unlock()
					break
				}
			}
			return nil, fmt.Errorf("not every node done after %s\n%s", limit, b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	r := &result{T: last.Sub(t0), upload: b.txBytes(ctx, 0) - tx0}
	for _, nd := range nodes {
		r.rss = append(r.rss, nd.peakRSS())
	}
	for i, nd := range nodes {
		nd.stop()
		r.cpu = append(r.cpu, nd.cpu())
		if i == 0 && b.verbose {
			nd.mu.Lock()
			fmt.Printf("node 1 of %d (%s):\n%s", n, client, nd.out.String())
			nd.mu.Unlock()
		}
	}
	want := sha1.Sum(data)
	for i, nd := range nodes {
		got, err := os.ReadFile(filepath.Join(nd.work, "image.tgz"))
		if err != nil || sha1.Sum(got) != want {
			return nil, fmt.Errorf("node %d: the image differs (%v)", i+1, err)
		}
	}
	if killed != nil {
		if !killed.finished().IsZero() {
			return nil, fmt.Errorf("node 1 reported the image although it was killed")
		}
		if got, err := os.ReadFile(filepath.Join(killed.work, "image.tgz")); err == nil && sha1.Sum(got) == want {
			fmt.Println("fault node: node 1 had the whole image before it was killed")
		}
	}
	nodes = nil
	return r, nil
}

// rss: one node downloads a 1 GiB image from the seeder over an
// unlimited link; its peak RSS.
func (b *bench) rss(ctx context.Context, clients []string) error {
	data := make([]byte, 1<<30)
	fill(data)
	fmt.Printf("swarm -rss1g: 1 GiB image, pieces %d KiB, seeder %s, %s\n", b.pieceLen>>10, b.seeder, time.Now().UTC().Format(time.RFC3339))
	for _, client := range clients {
		r, err := b.runSwarm(ctx, client, 1, data, 10*time.Minute)
		if err != nil {
			return fmt.Errorf("%s: %w", client, err)
		}
		fmt.Printf("%s: 1 GiB in %.1f s (%.0f MB/s), peak RSS %.1f MB, CPU %.2f s\n", client, r.T.Seconds(),
			float64(len(data))/r.T.Seconds()/1e6, r.rss[0]/1e6, r.cpu[0])
	}
	return nil
}
