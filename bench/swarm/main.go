// Command swarm is the swarm benchmark: N nodes, each a network
// namespace on one bridge with its link limited to -rate Mbit/s each way
// (tc htb), fetch one image from host 0, in the same run with each flow
// of -clients:
//
//   - luna: the real stack. Host 0 is a Luna frontend: bin/lunadb, the
//     cluster configured with bin/luna (frontend address = host 0),
//     bin/lweb (its tracker) and bin/ltorrent, and the image packed by
//     `luna osimage pack --image` (tarball and torrent, 1 MiB pieces),
//     packed again before each run so that every run has a new info hash.
//     The nodes run bin/ltorrent-client on that torrent, as the install
//     script does, with -e: their events give a per-node timeline.
//   - aria2c: an aria2c seeder in host 0 and aria2c 1.36 on the nodes,
//     through the bench's own copy of lweb's tracker (internal/tracker on
//     an embedded FerretDB, in the hub).
//   - ltorrent-client: the same with ltorrent-client on the nodes.
//   - http: curl on every node from a Go file server in host 0.
//
// With luna among the flows, every flow gets the same tarball and piece
// length (the pack's). It reports T, the time from starting the nodes
// until every node has the verified image, against the Kumar-Ross floor
// F = max(S/B, S/b, N*S/(B+N*b)) (B = b = the link rate), the server's
// upload per image delivered, CPU and peak RSS per node, and for luna the
// median and max over the nodes of each event (start, announce, first
// peer, first byte, last byte, verified).
//
//	make build && go run ./bench/swarm -n 1,4,8,16,32,64
//
// Nodes find each other only through the tracker (no DHT, LSD or PEX).
// Every node keeps seeding until the last one is done; after the run
// every node's file is compared with the image. -fault injects a fault
// once host 0 has sent half an image (luna: ltorrent or lweb killed and
// started again). -rss1g measures instead the peak RSS of one
// ltorrent-client (and one aria2c) downloading a 1 GiB image over an
// unlimited link. Needs root, iproute2, aria2 and curl.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
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
	lab       *netlab.Lab
	announce  string
	dir       string
	bin       string
	binDir    string // the other programs (lunadb, lweb, ltorrent, luna)
	lunaPiece int    // -luna-piece in bytes, 0: pack's
	fe        *frontend
	timeline  *os.File
	aria2     string
	seeder    string
	pieceLen  int
	rate      int
	verbose   bool
	fault     string
	srv       *http.Server
	mux       *http.ServeMux
}

func run() error {
	var (
		ns       = flag.String("n", "1,8,32", "node counts, comma-separated")
		sizeMiB  = flag.Int("size", 24, "image size in MiB")
		pieceKiB = flag.Int("piece", 256, "piece length in KiB")
		rate     = flag.Int("rate", 20, "link rate of every host in Mbit/s")
		clients  = flag.String("clients", "luna,aria2c,http", "flows to compare, in this order: luna (ltorrent, lweb's tracker, ltorrent-client, the tarball and torrent of luna osimage pack), luna-Kk (an experiment: the same with pack's torrent replaced by one of K KiB pieces), aria2c, ltorrent-client (both with the -seeder and the bench's tracker), http (curl from a file server on the seeder host)")
		seeder   = flag.String("seeder", "aria2c", "seeder program: aria2c or ltorrent-client")
		bin      = flag.String("bin", "bin/ltorrent-client", "the ltorrent-client binary; lunadb, lweb, ltorrent and luna are taken from its directory")
		timeline = flag.String("timeline", "", "write every luna node's events (seconds from the nodes' start) to this TSV file")
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
	b.binDir = filepath.Dir(b.bin)
	for _, prog := range []string{b.bin, "lunadb", "lweb", "ltorrent", "luna"} {
		if _, err := os.Stat(filepath.Join(b.binDir, filepath.Base(prog))); err != nil {
			return fmt.Errorf("%s: %w (run make build)", prog, err)
		}
	}
	if *timeline != "" {
		if b.timeline, err = os.Create(*timeline); err != nil {
			return err
		}
		defer b.timeline.Close()
		fmt.Fprintln(b.timeline, "flow\tN\tnode\tstart\tannounce\tpeer\tfirst_byte\tfirst_piece\tlast_byte\tverified\tT\tfrom_seeder\twasted")
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
	withLuna := slices.ContainsFunc(strings.Split(*clients, ","), func(c string) bool { _, ok := lunaFlow(c); return ok })
	if withLuna {
		// The other flows get the same tarball and piece length as the
		// Luna flow: the one `luna osimage pack` writes.
		if b.fe, err = b.startFrontend(ctx, data); err != nil {
			return fmt.Errorf("the Luna frontend: %w", err)
		}
		defer b.fe.close()
		pk, err := b.fe.pack(ctx, "first", 0)
		if err != nil {
			return err
		}
		data, b.pieceLen = pk.data, int(pk.pieceLen)
	}
	S := float64(len(data)) * 8
	B, bn := float64(*rate)*1e6, float64(*rate)*1e6 // server link, node link (bit/s)
	fmt.Printf("swarm: image %.1f MiB (payload %d MiB%s), pieces %d KiB, links %d Mbit/s, seeder of the aria2c and ltorrent-client flows %s, %s\n",
		float64(len(data))/(1<<20), *sizeMiB, map[bool]string{true: ", tarball of luna osimage pack"}[withLuna], b.pieceLen>>10, *rate, b.seeder, time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("| client | N | T (s) | floor F (s) | T/F | server upload per image | CPU s per node (median, max) | run-queue wait s per node (median, max) | peak RSS per node (median, max) | load |\n|---|---|---|---|---|---|---|---|---|---|\n")
	var timelines []string
	failed := 0
	for _, n := range counts {
		N := float64(n)
		for _, client := range strings.Split(*clients, ",") {
			// Kumar-Ross: the P2P floor max(S/B, S/b, N*S/(B+N*b)) for
			// every flow; HTTP's own (client-server) floor is max(N*S/B, S/b).
			f := max(S/B, S/bn, N*S/(B+N*bn))
			limit := 20*f + 60
			if client == "http" {
				limit = 3*max(N*S/B, S/bn) + 60
			}
			r, err := b.runSwarm(ctx, client, n, data, time.Duration(limit*float64(time.Second)))
			if err != nil {
				// One failed run does not lose the others: its row says so.
				fmt.Printf("| %s | %d | failed | %.1f | | | | | | %s |\n", client, n, f, loadavg())
				fmt.Fprintf(os.Stderr, "swarm: %s, N=%d: %v\n", client, n, err)
				failed++
				continue
			}
			fmt.Printf("| %s | %d | %.1f | %.1f | %.2f | %.2f | %.2f, %.2f | %.2f, %.2f | %.0f MB, %.0f MB | %s |\n", client, n, r.T.Seconds(), f, r.T.Seconds()/f,
				float64(r.upload)/float64(r.size)/N, median(r.cpu), slices.Max(r.cpu), median(r.wait), slices.Max(r.wait), median(r.rss)/1e6, slices.Max(r.rss)/1e6, loadavg())
			if r.timeline != "" {
				timelines = append(timelines, r.timeline)
			}
		}
	}
	if len(timelines) > 0 {
		fmt.Printf("\nluna flow, per-node timeline: seconds from starting the nodes, median / max over the nodes (ltorrent-client -e)\n")
		fmt.Printf("| timeline | N | start | announce | first peer | first byte | first piece | last byte | verified | T | images from the seeder | images wasted |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, t := range timelines {
			fmt.Print(t)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d runs failed", failed)
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
	size     int64 // of the image
	cpu, rss []float64
	wait     []float64 // seconds each node process was runnable but not running
	timeline string    // the luna flow's summary row
}

// node is one client process in a host.
type node struct {
	cmd  *exec.Cmd
	work string
	done chan struct{}
	at   time.Time // when it had the verified image
	file string    // the image's name in work
	mu   sync.Mutex
	out  bytes.Buffer
	// events of ltorrent-client -e, by name
	events map[string]time.Time
	// from its verified event: bytes received and not used, and bytes
	// received from the seeder's host
	wasted, fromServer int64
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
	nd := &node{work: work, done: make(chan struct{}), file: "image.tgz", events: map[string]time.Time{}}
	switch client {
	case "ltorrent-client", "luna", "luna-node":
		every := "60"
		if b.verbose {
			every = "1"
		}
		mi, err := metainfo.LoadFromFile(torrent)
		if err != nil {
			return nil, err
		}
		info, err := mi.UnmarshalInfo()
		if err != nil {
			return nil, err
		}
		nd.file = info.Name
		// As the install script runs it (web seed after 5 s without a
		// block from a peer), with the events on stderr.
		nd.cmd = host.Command(ctx, b.bin, "-t", torrent, "-f", filepath.Join(work, "client.pid"), "-d", every, "-s", "300", "-e")
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
			if line := sc.Bytes(); bytes.HasPrefix(line, []byte(`{"event"`)) {
				var e struct {
					Event  string           `json:"event"`
					T      int64            `json:"t"`
					Wasted int64            `json:"wasted"`
					ByPeer map[string]int64 `json:"by_peer"`
				}
				if json.Unmarshal(line, &e) == nil {
					nd.events[e.Event] = time.UnixMilli(e.T)
					if e.Event == "verified" {
						nd.wasted, nd.fromServer = e.Wasted, e.ByPeer[b.lab.Hosts[0].IP.String()]
					}
				}
				nd.mu.Unlock()
				continue
			}
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

// runqueueWait is how long the threads of the process waited, runnable,
// for a CPU, summed (/proc/PID/task/*/schedstat, second field): on a
// loaded machine, time the node lost to other work. Threads that ended
// are not counted.
func (nd *node) runqueueWait() float64 {
	var total float64
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", nd.cmd.Process.Pid))
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", nd.cmd.Process.Pid, t.Name()))
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) >= 2 {
			ns, _ := strconv.ParseFloat(f[1], 64)
			total += ns / 1e9
		}
	}
	return total
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
	var seeder *node
	seederProg := b.seeder
	lunaPiece, luna := lunaFlow(client)
	if luna {
		// A new pack (new info hash) that ltorrent seeds and announces
		// to lweb's tracker; the nodes get its torrent file.
		pk, err := b.fe.pack(ctx, tag, lunaPiece)
		if err != nil {
			return nil, err
		}
		data = pk.data
		t, err := os.ReadFile(pk.torrent)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(torrent, t, 0o644); err != nil {
			return nil, err
		}
	} else {
		if err := os.WriteFile(filepath.Join(seedDir, "image.tgz"), data, 0o644); err != nil {
			return nil, err
		}
		if err := b.writeTorrent(torrent, tag, int64(len(data)), b.pieceHashes(data)); err != nil {
			return nil, err
		}
		if client == "http" {
			seederProg = "http-server"
		}
		var err error
		if seeder, err = b.start(ctx, seederProg, 0, seedDir, torrent, true); err != nil {
			return nil, err
		}
		defer func() { seeder.stop() }()
		time.Sleep(2 * time.Second) // it checks the file and announces
	}
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
		prog := client
		if luna {
			prog = "luna-node"
		}
		nd, err := b.start(ctx, prog, i, work, torrent, false)
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
			var err error
			switch {
			case b.fault == "seeder" && luna:
				err = b.fe.restart(ctx, "ltorrent", 3*time.Second)
			case b.fault == "tracker" && luna:
				err = b.fe.restart(ctx, "lweb", 3*time.Second)
			case b.fault == "seeder":
				_ = seeder.cmd.Process.Kill()
				<-seeder.done
				time.Sleep(3 * time.Second)
				seeder, err = b.start(ctx, seederProg, 0, seedDir, torrent, true)
			case b.fault == "tracker":
				b.srv.Close()
				time.Sleep(3 * time.Second)
				var l net.Listener
				if l, err = b.lab.Listen(7050); err == nil {
					b.srv = &http.Server{Handler: b.mux}
					go b.srv.Serve(l)
				}
			case b.fault == "node":
				killed = nodes[0]
				_ = killed.cmd.Process.Kill()
				<-killed.done
				nodes = nodes[1:]
			}
			if err != nil {
				return nil, fmt.Errorf("fault %s: %w", b.fault, err)
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
			var sb strings.Builder
			for i, nd := range nodes {
				if nd.finished().IsZero() {
					nd.mu.Lock()
					fmt.Fprintf(&sb, "node %d:\n%s\n", i+1, nd.out.String())
					nd.mu.Unlock()
					break
				}
			}
			if luna {
				for _, name := range []string{"ltorrent", "lweb"} {
					if lb, err := os.ReadFile(filepath.Join(b.fe.dir, name+".log")); err == nil {
						lines := strings.Split(strings.TrimSpace(string(lb)), "\n")
						fmt.Fprintf(&sb, "%s.log, last lines:\n%s\n", name, strings.Join(lines[max(0, len(lines)-15):], "\n"))
					}
				}
			}
			return nil, fmt.Errorf("not every node done after %s\n%s", limit, sb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	r := &result{T: last.Sub(t0), upload: b.txBytes(ctx, 0) - tx0, size: int64(len(data))}
	for _, nd := range nodes {
		r.rss = append(r.rss, nd.peakRSS())
		r.wait = append(r.wait, nd.runqueueWait())
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
		got, err := os.ReadFile(filepath.Join(nd.work, nd.file))
		if err != nil || sha1.Sum(got) != want {
			return nil, fmt.Errorf("node %d: the image differs (%v)", i+1, err)
		}
	}
	if killed != nil {
		if !killed.finished().IsZero() {
			return nil, fmt.Errorf("node 1 reported the image although it was killed")
		}
		if got, err := os.ReadFile(filepath.Join(killed.work, killed.file)); err == nil && sha1.Sum(got) == want {
			fmt.Println("fault node: node 1 had the whole image before it was killed")
		}
	}
	if luna {
		r.timeline = b.timelineRow(client, n, t0, nodes, r.T, r.size)
	}
	nodes = nil
	return r, nil
}

// lunaFlow tells whether client is a Luna flow: "luna" (pack's torrent,
// piece 0) or "luna-Kk" (pack's tarball in a torrent of K KiB pieces).
func lunaFlow(client string) (piece int, ok bool) {
	if client == "luna" {
		return 0, true
	}
	k, found := strings.CutPrefix(client, "luna-")
	if !found || !strings.HasSuffix(k, "k") {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSuffix(k, "k"))
	if err != nil || n < 16 || n%16 != 0 {
		return 0, false
	}
	return n << 10, true
}

// The events of a node's timeline, in order.
var phases = []string{"start", "announce", "peer", "first_byte", "first_piece", "last_byte", "verified"}

// timelineRow writes each node's events (seconds from t0) to -timeline
// and returns the summary row: median / max of each event over the nodes.
func (b *bench) timelineRow(client string, n int, t0 time.Time, nodes []*node, T time.Duration, size int64) string {
	at := make([][]float64, len(phases))
	var fromServer, wasted []float64
	for i, nd := range nodes {
		nd.mu.Lock()
		fromServer = append(fromServer, float64(nd.fromServer)/float64(size))
		wasted = append(wasted, float64(nd.wasted)/float64(size))
		row := []string{client, strconv.Itoa(n), strconv.Itoa(i + 1)}
		for k, ph := range phases {
			if t, ok := nd.events[ph]; ok {
				s := t.Sub(t0).Seconds()
				at[k] = append(at[k], s)
				row = append(row, fmt.Sprintf("%.3f", s))
			} else {
				row = append(row, "")
			}
		}
		nd.mu.Unlock()
		if b.timeline != nil {
			fmt.Fprintln(b.timeline, strings.Join(append(row, fmt.Sprintf("%.3f", T.Seconds()),
				fmt.Sprintf("%.3f", fromServer[i]), fmt.Sprintf("%.3f", wasted[i])), "\t"))
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "| %s timeline | %d |", client, n)
	for _, v := range at {
		if len(v) == 0 {
			sb.WriteString(" - |")
			continue
		}
		fmt.Fprintf(&sb, " %.2f / %.2f |", median(v), slices.Max(v))
	}
	fmt.Fprintf(&sb, " %.2f | %.2f / %.2f | %.2f / %.2f |\n", T.Seconds(), median(fromServer), slices.Max(fromServer), median(wasted), slices.Max(wasted))
	return sb.String()
}

// rss: one node downloads a 1 GiB image from the seeder over an
// unlimited link; its peak RSS.
func (b *bench) rss(ctx context.Context, clients []string) error {
	data := make([]byte, 1<<30)
	fill(data)
	fmt.Printf("swarm -rss1g: 1 GiB image, pieces %d KiB, seeder %s, %s\n", b.pieceLen>>10, b.seeder, time.Now().UTC().Format(time.RFC3339))
	for _, client := range clients {
		if client == "luna" {
			client = "ltorrent-client" // the same node client, from the -seeder
		}
		r, err := b.runSwarm(ctx, client, 1, data, 10*time.Minute)
		if err != nil {
			return fmt.Errorf("%s: %w", client, err)
		}
		fmt.Printf("%s: 1 GiB in %.1f s (%.0f MB/s), peak RSS %.1f MB, CPU %.2f s\n", client, r.T.Seconds(),
			float64(len(data))/r.T.Seconds()/1e6, r.rss[0]/1e6, r.cpu[0])
	}
	return nil
}
