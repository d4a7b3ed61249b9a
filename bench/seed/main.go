// Command seed measures ltorrent as a seeder against aria2c as a seeder:
// one aria2c leecher downloads the same image on loopback from each in
// turn, and the report gives the throughput ratio and the seeders' CPU.
//
//	go run ./bench/seed -size 1024 -rounds 3
//
// The image is -size MiB of pseudo-random bytes in a temporary directory
// (under /dev/shm when it exists, so the disk measures nothing), with a
// torrent as luna osimage pack writes it (creator Luna, comment = the id,
// one file, anacrolix's default piece length for the size). ltorrent runs
// in this process (internal/ltorrent.Run, its settings given directly
// instead of read from a database); aria2c 1.x seeds the same file with
// --bt-seed-unverified (no hash check, as ltorrent) from its own process.
// Both run the whole time. A minimal tracker in this process answers every
// announce with the one seeder under test, so the leecher (aria2c, a fresh
// directory each round, --seed-time=0) has exactly one peer. The seeders
// take turns, ltorrent first, for -rounds each; a round is timed from
// starting the leecher until it exits (it verifies every piece) and the
// file is checked for its length. Seeder CPU is user+system time over the
// round: getrusage of this process for ltorrent (it includes the tracker
// and this loop, which are idle), /proc/<pid>/stat for aria2c.
//
// It also times what ltorrent avoids at start: a verification pass over the
// tarball (read and SHA-1 every piece against the torrent, one goroutine),
// against ltorrent's start (Run called until its first announce).
package main

import (
	"bytes"
	"context"
	"crypto/sha1"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/clustervision/luna-go/internal/ltorrent"
	"github.com/clustervision/luna-go/internal/luna"
)

func main() {
	size := flag.Int("size", 1024, "image size in MiB")
	rounds := flag.Int("rounds", 3, "rounds per seeder")
	dirFlag := flag.String("dir", "", "work directory (default: a new one under /dev/shm or $TMPDIR)")
	flag.Parse()
	if err := run(*size, *rounds, *dirFlag); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

// staticService gives ltorrent its settings without a database: the image
// is referenced, nothing ever changes.
type staticService struct {
	set *luna.Seeding
	id  string
}

func (s staticService) SeedingSettings(context.Context) (*luna.Seeding, error) {
	c := *s.set
	return &c, nil
}
func (s staticService) SeedingMarker(context.Context) (string, error) { return "fixed", nil }
func (s staticService) ReferencedTorrents(context.Context) (map[string]bool, error) {
	return map[string]bool{s.id: true}, nil
}
func (s staticService) Downloading(context.Context, []string) (map[string]int, error) {
	return nil, nil
}

// miniTracker answers every announce with one peer, the seeder under test,
// and notes the server peer's announces.
type miniTracker struct {
	mu        sync.Mutex
	peer      *net.TCPAddr
	announced chan struct{}
	once      sync.Once
}

func (m *miniTracker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("peer_id") == ltorrent.ServerPeerID {
		m.once.Do(func() { close(m.announced) })
	}
	m.mu.Lock()
	p := m.peer
	m.mu.Unlock()
	var peers []byte
	if p != nil {
		peers = append(append(peers, p.IP.To4()...), byte(p.Port>>8), byte(p.Port))
	}
	b, _ := bencode.Marshal(map[string]any{"interval": 10, "peers": string(peers)})
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write(b)
}

func (m *miniTracker) set(p *net.TCPAddr) {
	m.mu.Lock()
	m.peer = p
	m.mu.Unlock()
}

func run(sizeMiB, rounds int, dir string) error {
	aria, err := exec.LookPath("aria2c")
	if err != nil {
		return fmt.Errorf("aria2c not found: apt-get install aria2")
	}
	if dir == "" {
		base := ""
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			base = "/dev/shm"
		}
		if dir, err = os.MkdirTemp(base, "luna-bench-seed-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	torrents := filepath.Join(dir, "torrents")
	if err := os.MkdirAll(torrents, 0o755); err != nil {
		return err
	}

	// The image and its torrent.
	size := int64(sizeMiB) << 20
	id, tarballID := "bench-torrent-0000", "bench-tarball-0000"
	tarball := filepath.Join(torrents, tarballID+".tgz")
	if err := writeRandom(tarball, size); err != nil {
		return err
	}
	mt := &miniTracker{announced: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mt}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	info := metainfo.Info{PieceLength: metainfo.ChoosePieceLength(size)}
	if err := info.BuildFromFilePath(tarball); err != nil {
		return err
	}
	mi := metainfo.MetaInfo{Announce: "http://" + ln.Addr().String() + "/announce", CreatedBy: ltorrent.Creator, Comment: id}
	if mi.InfoBytes, err = bencode.Marshal(info); err != nil {
		return err
	}
	torrentFile := filepath.Join(torrents, id+".torrent")
	var tb bytes.Buffer
	if err := mi.Write(&tb); err != nil {
		return err
	}
	if err := os.WriteFile(torrentFile, tb.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Printf("image %d MiB, piece length %d KiB, %d pieces, work dir %s\n", sizeMiB, info.PieceLength>>10, info.NumPieces(), dir)

	// What a verification pass at start would cost.
	vstart := time.Now()
	if err := verify(tarball, &info); err != nil {
		return err
	}
	verifyTook := time.Since(vstart)

	// ltorrent, in this process.
	lo := freePort()
	set := &luna.Seeding{TorrentsDir: torrents, BindIP: "127.0.0.1", PortMin: lo, PortMax: lo + 50,
		SoftTimeout: time.Hour, HardTimeout: time.Hour, Pidfile: filepath.Join(dir, "ltorrent.pid")}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	lstart := time.Now()
	go func() {
		done <- ltorrent.Run(ctx, ltorrent.Config{Svc: staticService{set, id},
			Log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
			Ready: func(a string) { ready <- a }})
	}()
	var ltAddr string
	select {
	case ltAddr = <-ready:
	case err := <-done:
		return fmt.Errorf("ltorrent: %v", err)
	}
	<-mt.announced
	startTook := time.Since(lstart)
	defer func() {
		cancel()
		<-done
	}()

	// aria2c, seeding the same file.
	ariaPort := freePort()
	seeder := exec.Command(aria, "--dir="+torrents, "--bt-seed-unverified=true", "--check-integrity=false",
		"--seed-ratio=0.0", "--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false",
		"--enable-peer-exchange=false", "--disable-ipv6=true", "--listen-port="+strconv.Itoa(ariaPort),
		"--file-allocation=none", "--summary-interval=0", "--console-log-level=warn",
		"--stop-with-process="+strconv.Itoa(os.Getpid()), torrentFile)
	seeder.Env = cleanEnv()
	if err := seeder.Start(); err != nil {
		return err
	}
	defer func() { _ = seeder.Process.Kill(); _ = seeder.Wait() }()
	for !canDial(ariaPort) {
		time.Sleep(50 * time.Millisecond)
	}

	ltTCP, _ := net.ResolveTCPAddr("tcp", ltAddr)
	ariaTCP := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: ariaPort}
	type sample struct{ wall, seederCPU, leecherCPU time.Duration }
	res := map[string][]sample{}
	for r := 0; r < rounds; r++ {
		for _, side := range []string{"ltorrent", "aria2c"} {
			var cpu func() time.Duration
			if side == "ltorrent" {
				mt.set(ltTCP)
				cpu = selfCPU
			} else {
				mt.set(ariaTCP)
				pid := seeder.Process.Pid
				cpu = func() time.Duration { return procCPU(pid) }
			}
			c0 := cpu()
			wall, lcpu, err := leech(aria, torrentFile, filepath.Join(dir, "leech"), tarballID+".tgz", size)
			if err != nil {
				return fmt.Errorf("%s round %d: %v", side, r+1, err)
			}
			s := sample{wall, cpu() - c0, lcpu}
			res[side] = append(res[side], s)
			fmt.Printf("round %d %-8s %6.2f s  %7.1f MiB/s  seeder CPU %5.2f s  leecher CPU %5.2f s\n", r+1, side,
				s.wall.Seconds(), float64(sizeMiB)/s.wall.Seconds(), s.seederCPU.Seconds(), s.leecherCPU.Seconds())
		}
	}
	med := func(side string, f func(sample) time.Duration) time.Duration {
		var v []time.Duration
		for _, s := range res[side] {
			v = append(v, f(s))
		}
		sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
		return v[len(v)/2]
	}
	wall := func(s sample) time.Duration { return s.wall }
	scpu := func(s sample) time.Duration { return s.seederCPU }
	lw, aw := med("ltorrent", wall), med("aria2c", wall)
	fmt.Printf("\nmedian of %d rounds, one aria2c leecher on loopback, %d MiB:\n", rounds, sizeMiB)
	fmt.Printf("| seeder | time | MiB/s | seeder CPU s | seeder CPU s per GiB |\n|---|---|---|---|---|\n")
	for _, side := range []string{"ltorrent", "aria2c"} {
		w, c := med(side, wall), med(side, scpu)
		fmt.Printf("| %s | %.2f s | %.1f | %.2f | %.2f |\n", side, w.Seconds(), float64(sizeMiB)/w.Seconds(), c.Seconds(),
			c.Seconds()*1024/float64(sizeMiB))
	}
	fmt.Printf("throughput ratio ltorrent/aria2c: %.2f\n", aw.Seconds()/lw.Seconds())
	fmt.Printf("seeder CPU ratio ltorrent/aria2c: %.2f\n", med("ltorrent", scpu).Seconds()/med("aria2c", scpu).Seconds())
	fmt.Printf("\nltorrent start (Run until its first announce, no hashing): %.3f s\n", startTook.Seconds())
	fmt.Printf("a verification pass over the tarball (SHA-1 of every piece, one goroutine): %.2f s (%.0f MiB/s)\n",
		verifyTook.Seconds(), float64(sizeMiB)/verifyTook.Seconds())
	return nil
}

// leech downloads with aria2c into a fresh directory and returns the wall
// time and the leecher's CPU.
func leech(aria, torrentFile, dir, name string, size int64) (time.Duration, time.Duration, error) {
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command(aria, "--dir="+dir, "--seed-time=0", "--enable-dht=false", "--enable-dht6=false",
		"--bt-enable-lpd=false", "--enable-peer-exchange=false", "--disable-ipv6=true",
		"--listen-port="+strconv.Itoa(freePort()), "--file-allocation=none", "--summary-interval=0",
		"--console-log-level=warn", "--bt-stop-timeout=60", "--stop-with-process="+strconv.Itoa(os.Getpid()), torrentFile)
	cmd.Env = cleanEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("aria2c leecher: %v\n%s", err, out.String())
	}
	st, err := os.Stat(filepath.Join(dir, name))
	if err != nil || st.Size() != size {
		return 0, 0, fmt.Errorf("the leecher's file: %v (size %v)", err, st)
	}
	return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

// verify reads the file and checks every piece's SHA-1.
func verify(path string, info *metainfo.Info) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, info.PieceLength)
	for i := 0; i < info.NumPieces(); i++ {
		p := info.Piece(i)
		n, err := io.ReadFull(f, buf[:p.Length()])
		if err != nil {
			return fmt.Errorf("piece %d: %v", i, err)
		}
		sum := sha1.Sum(buf[:n])
		if !bytes.Equal(sum[:], p.V1Hash().Unwrap().Bytes()) {
			return fmt.Errorf("piece %d does not match", i)
		}
	}
	return nil
}

func writeRandom(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	rng := rand.NewChaCha8([32]byte{1, 2, 3})
	buf := make([]byte, 1<<20)
	for left := size; left > 0; left -= int64(len(buf)) {
		_, _ = rng.Read(buf)
		if _, err := f.Write(buf[:min(int64(len(buf)), left)]); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is a process's user+system time from /proc (clock ticks of 10 ms).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func canDial(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 200*time.Millisecond)
	if err == nil {
		c.Close()
	}
	return err == nil
}

func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasSuffix(strings.ToLower(k), "_proxy") {
			out = append(out, kv)
		}
	}
	return out
}
