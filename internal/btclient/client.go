package btclient

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"golang.org/x/sys/unix"
)

// ErrInterrupted is Run's error when ctx ended before the file was
// complete.
var ErrInterrupted = errors.New("interrupted before the download completed")

// Config is one run of the client.
type Config struct {
	Torrent string // path of the .torrent file
	Dir     string // where the file is written
	Bind    string // listen (ports 6881-6889) and connect from this address; "" = any
	PeerID  [20]byte
	// Progress is the time between progress lines on Stdout.
	Progress time.Duration
	// WebSeedAfter: the web seed is used once no peer has delivered a
	// block for this long (at once when no peer is connected).
	WebSeedAfter time.Duration
	// StallTimeout ends the download with an error after this long
	// without a verified piece.
	StallTimeout time.Duration
	// Timeout, when positive, bounds the whole download.
	Timeout time.Duration
	// Ports to listen on, the first free one is taken; nil = 6881-6889.
	Ports []int
	// MemoryBudget bounds the buffers of pieces being downloaded; 0 =
	// 32 MiB (at least two pieces).
	MemoryBudget int
	Stdout       io.Writer
	// Events, when set, gets one JSON line per event of the download
	// (events.go); ltorrent-client -e sends them to stderr.
	Events io.Writer
	// CompletedHook runs once, when the file is complete and verified.
	CompletedHook func()
}

const (
	blockSize      = 16 << 10
	maxRequestLen  = 128 << 10
	requestDepth   = 250  // most block requests out to one peer
	minRequests    = 16   // fewest, and the number at the start
	maxUploadQueue = 2048 // requests a peer may queue at us
	ourReqq        = 1024 // what we tell peers (BEP 10 "reqq")
	maxPeers       = 300
	snubAfter      = 15 * time.Second
	requestTimeout = 10 * time.Second
	keepAlive      = 60 * time.Second
	readIdle       = 3 * time.Minute
)

// client is the state of one torrent download and seed.
type client struct {
	cfg       Config
	infoHash  [20]byte
	info      metainfo.Info
	length    int64
	pieceLen  int64
	numPieces int
	hashes    [][20]byte
	webSeeds  []string
	announce  string
	file      *os.File
	path      string
	port      int
	listener  net.Listener
	dialer    net.Dialer
	out       io.Writer

	downloaded, uploaded atomic.Int64 // payload bytes
	wasted               atomic.Int64

	mu          sync.Mutex
	have        bitfield
	avail       []int32 // connected peers that have each piece
	haveCount   int
	active      []*activePiece // pieces being downloaded, oldest first
	byIndex     []*activePiece // the same by piece index
	unstarted   int            // pieces neither had nor active
	maxActive   int
	bufPool     [][]byte
	peers       map[*peer]struct{}
	known       map[string]*peerAddr // by ip:port from the tracker
	banned      map[netip.Addr]int   // strikes by address
	lastBlock   time.Time            // last block received from a peer
	lastPiece   time.Time            // last verified piece (peer or web seed)
	completed   chan struct{}        // closed when every piece is had
	wakeWebSeed chan struct{}
	wakeAnn     chan struct{}
	rng         *rand.Rand
	started     time.Time // when Run began
	events      eventLog
	recvFrom    map[netip.Addr]int64 // payload bytes received, by peer address
}

type peerAddr struct {
	addr       string
	connecting bool
	connected  bool
	failures   int
	nextTry    time.Time
}

// activePiece is a piece being downloaded: its buffer and the state of
// each block.
type activePiece struct {
	index    int
	buf      []byte
	nblocks  int
	state    []uint8 // blockMissing, blockWriting, blockDone
	reqs     []uint8 // outstanding requests per block
	done     int
	cursor   int // blocks before it are requested or done
	webSeed  bool
	verify   bool // all blocks in, being hashed
	contribs []*peer
	lastAt   time.Time // when its last block arrived
}

const (
	blockMissing = iota
	blockWriting
	blockDone
)

// Run downloads and then seeds until ctx ends. It returns nil when ctx
// ends after the file was complete, ErrInterrupted when it ends before,
// and an error on anything fatal.
func Run(ctx context.Context, cfg Config) error {
	c, err := newClient(cfg)
	if err != nil {
		return err
	}
	defer c.file.Close()
	defer c.listener.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	if err := c.checkExisting(); err != nil {
		return err
	}
	if c.haveCount < c.numPieces {
		fmt.Fprintf(c.out, "ltorrent-client: %s, %d bytes in %d pieces, listening on port %d\n", c.info.Name, c.length, c.numPieces, c.port)
		c.event(EventStart, c.started, map[string]any{"bytes": c.length, "pieces": c.numPieces})
	}

	wg.Add(4)
	go func() { defer wg.Done(); c.acceptLoop(ctx) }()
	go func() { defer wg.Done(); c.announceLoop(ctx) }()
	go func() { defer wg.Done(); c.webSeedLoop(ctx) }()
	go func() { defer wg.Done(); c.housekeeping(ctx) }()

	// The download.
	start := time.Now()
	var deadline <-chan time.Time
	if cfg.Timeout > 0 {
		t := time.NewTimer(cfg.Timeout)
		defer t.Stop()
		deadline = t.C
	}
	stallTick := time.NewTicker(time.Second)
	defer stallTick.Stop()
	progress := time.NewTicker(cfg.Progress)
	defer progress.Stop()
	var last int64
	lastAt := start
	for done := false; !done; {
		select {
		case <-ctx.Done():
			c.progressLine(&last, &lastAt)
			return ErrInterrupted
		case <-c.completed:
			done = true
		case <-deadline:
			return fmt.Errorf("download not complete after %s (%s)", cfg.Timeout, c.summary())
		case <-stallTick.C:
			c.mu.Lock()
			idle := time.Since(c.lastPiece)
			c.mu.Unlock()
			if idle > cfg.StallTimeout {
				return fmt.Errorf("no progress for %s (%s)", cfg.StallTimeout.Round(time.Second), c.summary())
			}
		case <-progress.C:
			c.progressLine(&last, &lastAt)
		}
	}
	c.file.Sync()
	c.mu.Lock()
	from := map[string]int64{}
	for a, n := range c.recvFrom {
		from[a.String()] = n
	}
	c.mu.Unlock()
	c.event(EventVerified, time.Time{}, map[string]any{"downloaded": c.downloaded.Load(), "wasted": c.wasted.Load(), "by_peer": from})
	c.progressLine(&last, &lastAt)
	fmt.Fprintf(c.out, "ltorrent-client: complete and verified: %s (%d bytes in %.1f s)\n", c.path, c.length, time.Since(start).Seconds())
	if cfg.CompletedHook != nil {
		cfg.CompletedHook()
	}
	c.wakeAnnounce()

	// Seeding.
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-progress.C:
			c.progressLine(&last, &lastAt)
		}
	}
}

func newClient(cfg Config) (*client, error) {
	mi, err := metainfo.LoadFromFile(cfg.Torrent)
	if err != nil {
		return nil, fmt.Errorf("load torrent %s: %w", cfg.Torrent, err)
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return nil, fmt.Errorf("torrent %s: bad info dictionary: %w", cfg.Torrent, err)
	}
	c := &client{cfg: cfg, info: info, out: cfg.Stdout}
	if c.out == nil {
		c.out = io.Discard
	}
	switch {
	case len(info.Files) > 0:
		return nil, fmt.Errorf("torrent %s has several files; ltorrent-client takes one-file torrents", cfg.Torrent)
	case info.Length <= 0:
		return nil, fmt.Errorf("torrent %s: no file length", cfg.Torrent)
	case info.PieceLength < blockSize || info.PieceLength > 64<<20 || info.PieceLength%blockSize != 0:
		return nil, fmt.Errorf("torrent %s: piece length %d is not a multiple of 16 KiB up to 64 MiB", cfg.Torrent, info.PieceLength)
	}
	name, err := safeName(info.Name)
	if err != nil {
		return nil, fmt.Errorf("torrent %s: %w", cfg.Torrent, err)
	}
	c.length, c.pieceLen = info.Length, info.PieceLength
	c.numPieces = int((c.length + c.pieceLen - 1) / c.pieceLen)
	if len(info.Pieces) != 20*c.numPieces {
		return nil, fmt.Errorf("torrent %s: %d bytes of piece hashes for %d pieces", cfg.Torrent, len(info.Pieces), c.numPieces)
	}
	c.hashes = make([][20]byte, c.numPieces)
	for i := range c.hashes {
		copy(c.hashes[i][:], info.Pieces[20*i:])
	}
	c.infoHash = mi.HashInfoBytes()
	c.announce = mi.Announce
	if c.announce == "" {
		for _, tier := range mi.AnnounceList {
			if len(tier) > 0 {
				c.announce = tier[0]
				break
			}
		}
	}
	for _, u := range mi.UrlList {
		if u == "" {
			continue
		}
		if u[len(u)-1] == '/' {
			u += name // BEP 19: a directory URL gets the file name
		}
		c.webSeeds = append(c.webSeeds, u)
	}
	if c.announce == "" && len(c.webSeeds) == 0 {
		return nil, fmt.Errorf("torrent %s has neither a tracker nor a web seed", cfg.Torrent)
	}

	budget := cfg.MemoryBudget
	if budget <= 0 {
		budget = 32 << 20
	}
	c.maxActive = max(2, budget/int(c.pieceLen))
	c.have = newBitfield(c.numPieces)
	c.avail = make([]int32, c.numPieces)
	c.byIndex = make([]*activePiece, c.numPieces)
	c.unstarted = c.numPieces
	c.peers = map[*peer]struct{}{}
	c.known = map[string]*peerAddr{}
	c.banned = map[netip.Addr]int{}
	c.recvFrom = map[netip.Addr]int64{}
	c.completed = make(chan struct{})
	c.wakeWebSeed = make(chan struct{}, 1)
	c.wakeAnn = make(chan struct{}, 1)
	c.rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	now := time.Now()
	c.started = now
	c.lastBlock, c.lastPiece = now, now

	if cfg.Bind != "" {
		ip := net.ParseIP(cfg.Bind)
		if ip == nil {
			return nil, fmt.Errorf("-b %q is not an IP address", cfg.Bind)
		}
		c.dialer.LocalAddr = &net.TCPAddr{IP: ip}
	}
	c.dialer.Timeout = 5 * time.Second
	ports := cfg.Ports
	if ports == nil {
		for p := 6881; p <= 6889; p++ {
			ports = append(ports, p)
		}
	}
	var lerr error
	for _, p := range ports {
		l, err := net.Listen("tcp", net.JoinHostPort(cfg.Bind, fmt.Sprint(p)))
		if err == nil {
			c.listener, c.port = l, l.Addr().(*net.TCPAddr).Port
			break
		}
		lerr = err
	}
	if c.listener == nil {
		return nil, fmt.Errorf("cannot listen on any port of %v: %w", ports, lerr)
	}

	c.path = filepath.Join(cfg.Dir, name)
	f, err := os.OpenFile(c.path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		c.listener.Close()
		return nil, fmt.Errorf("open %s: %w", c.path, err)
	}
	c.file = f
	return c, nil
}

// checkExisting verifies a file already there with the torrent's size
// (a seeder, or a restart) and otherwise sizes the file, allocating its
// blocks so that a full disk shows at once.
func (c *client) checkExisting() error {
	st, err := c.file.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", c.path, err)
	}
	if st.Size() == c.length {
		buf := make([]byte, c.pieceLen)
		for i := 0; i < c.numPieces; i++ {
			n := c.pieceSize(i)
			if _, err := c.file.ReadAt(buf[:n], int64(i)*c.pieceLen); err != nil {
				return fmt.Errorf("read %s: %w", c.path, err)
			}
			if sha1.Sum(buf[:n]) == c.hashes[i] {
				c.have.set(i)
				c.haveCount++
				c.unstarted--
			}
		}
		if c.haveCount == c.numPieces {
			close(c.completed)
		} else if c.haveCount > 0 {
			fmt.Fprintf(c.out, "ltorrent-client: %d of %d pieces already in %s\n", c.haveCount, c.numPieces, c.path)
		}
		return nil
	}
	if err := c.file.Truncate(c.length); err != nil {
		return fmt.Errorf("size %s: %w", c.path, err)
	}
	if err := unix.Fallocate(int(c.file.Fd()), 0, 0, c.length); err != nil && !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("allocate %d bytes for %s: %w", c.length, c.path, err)
	}
	return nil
}

func (c *client) pieceSize(i int) int64 {
	if i == c.numPieces-1 {
		return c.length - int64(i)*c.pieceLen
	}
	return c.pieceLen
}

func (c *client) isComplete() bool {
	select {
	case <-c.completed:
		return true
	default:
		return false
	}
}

func (c *client) summary() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("%d of %d pieces, %d peers", c.haveCount, c.numPieces, len(c.peers))
}

func (c *client) progressLine(last *int64, lastAt *time.Time) {
	c.mu.Lock()
	have, n := c.haveCount, len(c.peers)
	c.mu.Unlock()
	now := time.Now()
	state, counter := "downloading", c.downloaded.Load()
	if c.isComplete() {
		state, counter = "seeding", c.uploaded.Load()
	}
	rate := float64(counter-*last) / now.Sub(*lastAt).Seconds() / 1e6
	if *last > counter {
		rate = 0
	}
	*last, *lastAt = counter, now
	dir := "down"
	if state == "seeding" {
		dir = "up"
	}
	fmt.Fprintf(c.out, "%s %5.1f%% %s %.2f MB/s peers %d\n", state, 100*float64(have)/float64(c.numPieces), dir, rate, n)
}

// getBuf takes a piece buffer; the caller holds mu.
func (c *client) getBuf() []byte {
	if n := len(c.bufPool); n > 0 {
		b := c.bufPool[n-1]
		c.bufPool = c.bufPool[:n-1]
		return b
	}
	return make([]byte, c.pieceLen)
}

// startPiece makes piece i active; the caller holds mu and has checked
// that it is neither had nor active.
func (c *client) startPiece(i int, webSeed bool) *activePiece {
	size := c.pieceSize(i)
	nb := int((size + blockSize - 1) / blockSize)
	ap := &activePiece{index: i, buf: c.getBuf()[:size], nblocks: nb, state: make([]uint8, nb), reqs: make([]uint8, nb), webSeed: webSeed}
	c.active = append(c.active, ap)
	c.byIndex[i] = ap
	c.unstarted--
	return ap
}

func (c *client) findActive(i int) *activePiece { return c.byIndex[i] }

func (c *client) isActive(i int) bool { return c.byIndex[i] != nil }

// pickNew chooses a piece to start that has(i) says a source has: the
// rarest among the connected peers, a random one of those, so that the
// seeder's bandwidth goes to pieces no node has yet and the nodes fetch
// different pieces and can trade. The caller holds mu.
func (c *client) pickNew(has func(int) bool) int {
	if c.unstarted == 0 {
		return -1
	}
	best, bestAvail, ties := -1, int32(math.MaxInt32), 0
	start := c.rng.IntN(c.numPieces)
	for k := 0; k < c.numPieces; k++ {
		i := start + k
		if i >= c.numPieces {
			i -= c.numPieces
		}
		if c.have.get(i) || c.avail[i] > bestAvail || !has(i) || c.isActive(i) {
			continue
		}
		if a := c.avail[i]; a < bestAvail {
			best, bestAvail, ties = i, a, 1
		} else {
			ties++
			if c.rng.IntN(ties) == 0 {
				best = i
			}
		}
	}
	return best
}

// finishPiece verifies a piece whose blocks are all in and writes it.
// Called without mu.
func (c *client) finishPiece(ap *activePiece) {
	ok := sha1.Sum(ap.buf) == c.hashes[ap.index]
	var werr error
	if ok {
		_, werr = c.file.WriteAt(ap.buf, int64(ap.index)*c.pieceLen)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if werr != nil {
		// A disk error is fatal: there is no other place to put the piece.
		fmt.Fprintf(c.out, "ltorrent-client: write piece %d: %v\n", ap.index, werr)
		c.lastPiece = time.Time{} // ends the download at the next stall check
		return
	}
	if !ok {
		c.wasted.Add(int64(len(ap.buf)))
		c.blame(ap)
		for b := range ap.state {
			ap.state[b], ap.reqs[b] = blockMissing, 0
		}
		ap.done, ap.cursor, ap.verify, ap.contribs, ap.webSeed = 0, 0, false, nil, false
		c.refillAll()
		return
	}
	for k, a := range c.active {
		if a == ap {
			c.active = append(c.active[:k], c.active[k+1:]...)
			c.byIndex[ap.index] = nil
			break
		}
	}
	c.bufPool = append(c.bufPool, ap.buf[:cap(ap.buf)])
	c.have.set(ap.index)
	c.haveCount++
	c.lastPiece = time.Now()
	c.event(EventFirstPiece, c.lastPiece, map[string]any{"piece": ap.index})
	have := pp.Message{Type: pp.Have, Index: pp.Integer(ap.index)}.MustMarshalBinary()
	for p := range c.peers {
		if p.has.get(ap.index) {
			p.useful--
		} else {
			p.queueCtrl(have)
		}
		p.updateInterest()
	}
	if c.haveCount == c.numPieces {
		c.event(EventLastByte, ap.lastAt, nil)
		c.bufPool = nil
		close(c.completed)
		return
	}
	c.refillAll()
}

// blame gives a strike to every peer that sent a block of a piece that
// failed its hash check; one that sent it alone, or has two strikes, is
// disconnected and not connected again. The caller holds mu.
func (c *client) blame(ap *activePiece) {
	seen := map[*peer]bool{}
	for _, p := range ap.contribs {
		if seen[p] {
			continue
		}
		seen[p] = true
		c.banned[p.ip]++
		if len(seen) == 1 && len(ap.contribs) > 0 && allSame(ap.contribs) || c.banned[p.ip] >= 2 {
			c.banned[p.ip] = 2
			fmt.Fprintf(c.out, "ltorrent-client: piece %d from %s failed its hash check; dropping the peer\n", ap.index, p.addr)
			p.closeLocked()
		} else {
			fmt.Fprintf(c.out, "ltorrent-client: piece %d failed its hash check (%d peers sent blocks)\n", ap.index, len(seen))
		}
	}
	if ap.webSeed && len(ap.contribs) == 0 {
		fmt.Fprintf(c.out, "ltorrent-client: piece %d from the web seed failed its hash check\n", ap.index)
	}
}

func allSame(ps []*peer) bool {
	for _, p := range ps[1:] {
		if p != ps[0] {
			return false
		}
	}
	return true
}

// refillAll lets every peer request more; the caller holds mu.
func (c *client) refillAll() {
	for p := range c.peers {
		p.fillRequests()
	}
	c.wakeWeb()
}

func (c *client) wakeWeb() {
	select {
	case c.wakeWebSeed <- struct{}{}:
	default:
	}
}

func (c *client) wakeAnnounce() {
	select {
	case c.wakeAnn <- struct{}{}:
	default:
	}
}

// housekeeping takes requests back from peers that stopped delivering.
func (c *client) housekeeping(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c.mu.Lock()
			for p := range c.peers {
				p.closeLocked()
			}
			c.mu.Unlock()
			return
		case <-t.C:
		}
		c.mu.Lock()
		now := time.Now()
		for p := range c.peers {
			if len(p.pending) > 0 && now.Sub(p.lastRecv) > snubAfter {
				p.snubbed = true
				p.returnRequests()
			}
			// A request unanswered for long is asked again (of anyone):
			// some peers drop requests silently.
			for ref, at := range p.pending {
				if now.Sub(at) > requestTimeout {
					p.forget(ref)
				}
			}
			// Keep about three seconds of its rate in flight (as
			// libtorrent does), at least minRequests: on a rate-limited
			// link the queue in front of it adds hundreds of milliseconds,
			// and a queue shorter than that delay caps the rate.
			rate := float64(p.recvBytes) / 2
			p.recvBytes = 0
			p.rate = 0.5*p.rate + 0.5*rate
			p.maxReq = max(minRequests, min(requestDepth, int(3*p.rate/blockSize)))
		}
		c.refillAll()
		lonely := len(c.peers) == 0
		c.mu.Unlock()
		if lonely {
			c.wakeAnnounce()
		}
		c.connectPeers(ctx)
	}
}

// bitfield is a BEP 3 bitfield (the high bit of byte 0 is piece 0).
type bitfield []byte

func newBitfield(n int) bitfield { return make(bitfield, (n+7)/8) }
func (b bitfield) get(i int) bool {
	return b[i>>3]&(0x80>>(i&7)) != 0
}
func (b bitfield) set(i int) { b[i>>3] |= 0x80 >> (i & 7) }
