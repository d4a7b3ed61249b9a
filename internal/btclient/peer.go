package btclient

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/anacrolix/torrent/bencode"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

// peer is one connection. Every field below conn is guarded by client.mu.
type peer struct {
	c        *client
	conn     net.Conn
	addr     string // remote ip:port
	ip       netip.Addr
	id       [20]byte
	outgoing bool
	known    *peerAddr // the tracker's entry we dialled, if outgoing

	has          bitfield
	useful       int // pieces it has that we lack
	amInterested bool
	peerChoking  bool
	pending      map[blockRef]time.Time // our requests to it, with when sent
	maxReq       int                    // how many requests to keep out
	reqq         int                    // its BEP 10 reqq, 0 if unknown
	snubbed      bool
	lastRecv     time.Time
	recvBytes    int64 // payload received since the last rate sample
	rate         float64
	closed       bool

	ctrl    []byte     // marshalled messages to send
	spare   []byte     // the writer's other buffer
	uploads []blockReq // its requests, in order
	wake    chan struct{}
}

type blockRef struct{ index, begin uint32 }

type blockReq struct{ index, begin, length uint32 }

var errClosed = errors.New("connection closed")

// runPeer handshakes on conn and serves it until it fails or ctx ends.
func (c *client) runPeer(ctx context.Context, conn net.Conn, outgoing bool, pa *peerAddr) {
	defer conn.Close()
	p, err := c.handshake(conn, outgoing, pa)
	if err != nil {
		if pa != nil {
			c.mu.Lock()
			pa.connecting, pa.connected = false, false
			pa.failures++
			pa.nextTry = time.Now().Add(time.Duration(min(pa.failures, 6)) * 5 * time.Second)
			c.mu.Unlock()
		}
		return
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	done := make(chan struct{})
	go func() { defer close(done); p.writeLoop() }()
	err = p.readLoop()
	c.mu.Lock()
	p.closeLocked()
	c.removePeer(p)
	if p.known != nil {
		p.known.connecting, p.known.connected = false, false
		p.known.nextTry = time.Now().Add(2 * time.Second)
	}
	c.refillAll()
	c.mu.Unlock()
	conn.Close()
	<-done
	_ = err
}

func (c *client) handshake(conn net.Conn, outgoing bool, pa *peerAddr) (*peer, error) {
	var hs [68]byte
	copy(hs[:20], pp.Protocol)
	hs[20+5] |= 0x10 // BEP 10 extension protocol
	copy(hs[28:48], c.infoHash[:])
	copy(hs[48:68], c.cfg.PeerID[:])
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(hs[:]); err != nil {
		return nil, err
	}
	var got [68]byte
	if _, err := io.ReadFull(conn, got[:]); err != nil {
		return nil, err
	}
	if string(got[:20]) != pp.Protocol || !bytes.Equal(got[28:48], c.infoHash[:]) {
		return nil, errors.New("bad handshake")
	}
	conn.SetDeadline(time.Time{})
	ap, _ := netip.ParseAddrPort(conn.RemoteAddr().String())
	p := &peer{
		c: c, conn: conn, addr: conn.RemoteAddr().String(), ip: ap.Addr().Unmap(), outgoing: outgoing, known: pa,
		has: newBitfield(c.numPieces), peerChoking: true, pending: map[blockRef]time.Time{},
		maxReq: minRequests, lastRecv: time.Now(), wake: make(chan struct{}, 1),
	}
	copy(p.id[:], got[48:68])
	local, _ := netip.ParseAddrPort(conn.LocalAddr().String())
	if p.id == c.cfg.PeerID && local.Addr().Unmap() == p.ip && (!outgoing || ap.Port() == uint16(c.port)) {
		return nil, errors.New("connected to itself")
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.banned[p.ip] >= 2 {
		return nil, errors.New("banned")
	}
	if len(c.peers) >= maxPeers {
		return nil, errors.New("too many peers")
	}
	for q := range c.peers {
		if q.id != p.id || q.ip != p.ip {
			continue
		}
		// Both ends dialled: keep the connection that the end with the
		// smaller (peer id, address) opened, which both ends agree on.
		weDial := bytes.Compare(c.cfg.PeerID[:], p.id[:]) < 0 ||
			(c.cfg.PeerID == p.id && local.Addr().Unmap().Less(p.ip))
		if q.outgoing == weDial {
			return nil, errors.New("duplicate connection")
		}
		q.closeLocked()
		c.removePeer(q)
		break
	}
	c.peers[p] = struct{}{}
	c.event(EventPeer, time.Time{}, map[string]any{"addr": p.addr})
	if pa != nil {
		pa.connecting, pa.connected, pa.failures = false, true, 0
	}
	if c.haveCount > 0 {
		p.ctrl = binary.BigEndian.AppendUint32(p.ctrl, uint32(1+len(c.have)))
		p.ctrl = append(p.ctrl, byte(pp.Bitfield))
		p.ctrl = append(p.ctrl, c.have...)
	}
	if got[20+5]&0x10 != 0 {
		payload, _ := bencode.Marshal(pp.ExtendedHandshakeMessage{
			M: map[pp.ExtensionName]pp.ExtensionNumber{}, V: "ltorrent-client", Reqq: ourReqq, Port: c.port,
		})
		p.queueCtrl(pp.Message{Type: pp.Extended, ExtendedID: pp.HandshakeExtendedID, ExtendedPayload: payload}.MustMarshalBinary())
	}
	// A trusted cluster: everyone is unchoked from the start.
	p.queueCtrl(pp.Message{Type: pp.Unchoke}.MustMarshalBinary())
	return p, nil
}

// removePeer forgets a peer that is closed: its requests and its
// pieces' availability. The caller holds mu.
func (c *client) removePeer(p *peer) {
	if _, ok := c.peers[p]; !ok {
		return
	}
	delete(c.peers, p)
	p.returnRequests()
	for i := 0; i < c.numPieces; i++ {
		if p.has.get(i) {
			c.avail[i]--
		}
	}
}

// queueCtrl adds a message for the writer; the caller holds mu.
func (p *peer) queueCtrl(msg []byte) {
	p.ctrl = append(p.ctrl, msg...)
	p.kick()
}

func (p *peer) kick() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// closeLocked marks the peer closed and closes its connection, which
// ends its reader and writer; the caller holds mu.
func (p *peer) closeLocked() {
	if !p.closed {
		p.closed = true
		p.conn.Close()
		p.kick()
	}
}

// updateInterest sends interested/not interested as the peer has pieces
// we lack or not; the caller holds mu.
func (p *peer) updateInterest() {
	want := p.useful > 0
	if want == p.amInterested {
		return
	}
	p.amInterested = want
	t := pp.NotInterested
	if want {
		t = pp.Interested
	}
	p.queueCtrl(pp.Message{Type: t}.MustMarshalBinary())
}

// returnRequests forgets the peer's outstanding requests so that others
// can ask for those blocks; the caller holds mu.
func (p *peer) returnRequests() {
	for ref := range p.pending {
		p.forget(ref)
	}
}

// forget drops one outstanding request; the caller holds mu.
func (p *peer) forget(ref blockRef) {
	delete(p.pending, ref)
	ap := p.c.findActive(int(ref.index))
	if ap == nil {
		return
	}
	b := int(ref.begin / blockSize)
	if ap.reqs[b] > 0 {
		ap.reqs[b]--
	}
	if b < ap.cursor {
		ap.cursor = b
	}
}

// fillRequests keeps up to maxReq requests out to the peer; the caller
// holds mu.
func (p *peer) fillRequests() {
	c := p.c
	if p.closed || p.peerChoking || !p.amInterested || c.isComplete() {
		return
	}
	limit := p.maxReq
	if p.reqq > 0 {
		limit = min(limit, p.reqq)
	}
	if p.snubbed {
		limit = 1 // a probe: it gets its rate back when it delivers
	}
	now := time.Now()
	if n := len(p.pending); n > 0 && n > limit-max(1, limit/4) {
		return // top up in batches: fewer, larger writes
	}
	for len(p.pending) < limit {
		ap, b := c.pickBlock(p)
		if ap == nil {
			break
		}
		begin := uint32(b * blockSize)
		length := uint32(min(blockSize, len(ap.buf)-int(begin)))
		p.pending[blockRef{uint32(ap.index), begin}] = now
		ap.reqs[b]++
		var m [17]byte
		binary.BigEndian.PutUint32(m[0:], 13)
		m[4] = byte(pp.Request)
		binary.BigEndian.PutUint32(m[5:], uint32(ap.index))
		binary.BigEndian.PutUint32(m[9:], begin)
		binary.BigEndian.PutUint32(m[13:], length)
		p.ctrl = append(p.ctrl, m[:]...)
	}
	p.kick()
}

// pickBlock chooses the next block to ask p for: the next free block of
// a piece in progress (oldest first, so pieces complete and can be
// passed on), else the first block of a new random piece, else (at the
// end, when nothing is left to start) a block another peer is already
// fetching. The caller holds mu.
func (c *client) pickBlock(p *peer) (*activePiece, int) {
	for _, ap := range c.active {
		if ap.webSeed || ap.verify || !p.has.get(ap.index) {
			continue
		}
		for ap.cursor < ap.nblocks && (ap.state[ap.cursor] != blockMissing || ap.reqs[ap.cursor] > 0) {
			ap.cursor++
		}
		if ap.cursor < ap.nblocks {
			b := ap.cursor
			ap.cursor++
			return ap, b
		}
	}
	if len(c.active) >= c.maxActive && c.unstarted > 0 {
		return nil, 0 // wait for a buffer
	}
	if i := c.pickNew(p.has.get); i >= 0 {
		ap := c.startPiece(i, false)
		ap.cursor = 1
		return ap, 0
	}
	// Nothing to start from this peer. In the end game (nothing left to
	// start and at most one piece's worth of blocks missing), duplicate
	// a missing block, at most twice in flight. Earlier, when a small
	// image has every piece in progress at once, duplicates would only
	// waste the links: blocks arrive twice and one copy is dropped.
	if c.unstarted > 0 || c.missingBlocks() > max(64, int(c.pieceLen/blockSize)) {
		return nil, 0
	}
	for _, ap := range c.active {
		if ap.webSeed || ap.verify || !p.has.get(ap.index) {
			continue
		}
		for b := 0; b < ap.nblocks; b++ {
			if ap.state[b] != blockMissing || ap.reqs[b] >= 2 {
				continue
			}
			if _, dup := p.pending[blockRef{uint32(ap.index), uint32(b * blockSize)}]; dup {
				continue
			}
			return ap, b
		}
	}
	return nil, 0
}

// missingBlocks counts the blocks of pieces in progress that are not
// in yet; the caller holds mu.
func (c *client) missingBlocks() int {
	n := 0
	for _, ap := range c.active {
		n += ap.nblocks - ap.done
	}
	return n
}

// readLoop reads and handles messages until the connection fails.
func (p *peer) readLoop() error {
	c := p.c
	br := bufio.NewReaderSize(p.conn, 64<<10)
	var hdr [4]byte
	var payload []byte
	maxLen := uint32(max(1<<20, len(c.have)+1))
	var deadlineSet time.Time
	for {
		if now := time.Now(); now.Sub(deadlineSet) > time.Second {
			p.conn.SetReadDeadline(now.Add(readIdle))
			deadlineSet = now
		}
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return err
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n == 0 {
			continue // keep-alive
		}
		if n > maxLen+9 {
			return fmt.Errorf("message of %d bytes", n)
		}
		t, err := br.ReadByte()
		if err != nil {
			return err
		}
		if pp.MessageType(t) == pp.Piece {
			if n < 9 {
				return errors.New("short piece message")
			}
			var ib [8]byte
			if _, err := io.ReadFull(br, ib[:]); err != nil {
				return err
			}
			if err := p.receiveBlock(binary.BigEndian.Uint32(ib[:4]), binary.BigEndian.Uint32(ib[4:]), int(n-9), br); err != nil {
				return err
			}
			continue
		}
		if cap(payload) < int(n-1) {
			payload = make([]byte, n-1)
		}
		payload = payload[:n-1]
		if _, err := io.ReadFull(br, payload); err != nil {
			return err
		}
		if err := p.handle(pp.MessageType(t), payload); err != nil {
			return err
		}
	}
}

func (p *peer) handle(t pp.MessageType, b []byte) error {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if p.closed {
		return errClosed
	}
	switch t {
	case pp.Choke:
		p.peerChoking = true
		p.returnRequests() // without the fast extension, a choke drops them
		c.refillAll()
	case pp.Unchoke:
		p.peerChoking = false
		p.fillRequests()
	case pp.Interested, pp.NotInterested:
		// Everyone stays unchoked.
	case pp.Have:
		if len(b) != 4 {
			return errors.New("bad have")
		}
		i := int(binary.BigEndian.Uint32(b))
		if i >= c.numPieces {
			return errors.New("have out of range")
		}
		if !p.has.get(i) {
			p.has.set(i)
			c.avail[i]++
			if !c.have.get(i) {
				p.useful++
				p.updateInterest()
				p.fillRequests()
			}
		}
	case pp.Bitfield:
		if len(b) != len(p.has) {
			return errors.New("bad bitfield")
		}
		p.useful = 0
		for i := 0; i < c.numPieces; i++ {
			had := p.has.get(i)
			if b[i>>3]&(0x80>>(i&7)) == 0 {
				continue
			}
			if !had {
				p.has.set(i)
				c.avail[i]++
			}
		}
		for i := 0; i < c.numPieces; i++ {
			if p.has.get(i) && !c.have.get(i) {
				p.useful++
			}
		}
		p.updateInterest()
		p.fillRequests()
	case pp.Request:
		if len(b) != 12 {
			return errors.New("bad request")
		}
		r := blockReq{binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:]), binary.BigEndian.Uint32(b[8:])}
		if int(r.index) >= c.numPieces || !c.have.get(int(r.index)) || r.length == 0 || r.length > maxRequestLen ||
			int64(r.begin)+int64(r.length) > c.pieceSize(int(r.index)) || len(p.uploads) >= maxUploadQueue {
			return nil // not served; without the fast extension there is no reject
		}
		p.uploads = append(p.uploads, r)
		p.kick()
	case pp.Cancel:
		if len(b) != 12 {
			return errors.New("bad cancel")
		}
		r := blockReq{binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:]), binary.BigEndian.Uint32(b[8:])}
		for k, u := range p.uploads {
			if u == r {
				p.uploads = append(p.uploads[:k], p.uploads[k+1:]...)
				break
			}
		}
	case pp.Extended:
		if len(b) > 0 && b[0] == pp.HandshakeExtendedID {
			var h pp.ExtendedHandshakeMessage
			if bencode.Unmarshal(b[1:], &h) == nil && h.Reqq > 0 {
				p.reqq = h.Reqq
			}
		}
	}
	return nil
}

// receiveBlock reads a block of n bytes from r into its piece's buffer,
// or discards it when it is not wanted.
func (p *peer) receiveBlock(index, begin uint32, n int, r io.Reader) error {
	c := p.c
	now := time.Now()
	c.mu.Lock()
	if p.closed {
		c.mu.Unlock()
		return errClosed
	}
	p.lastRecv = now
	p.snubbed = false
	ref := blockRef{index, begin}
	var ap *activePiece
	b := int(begin / blockSize)
	if a := c.findActive(int(index)); a != nil {
		if _, ok := p.pending[ref]; ok {
			delete(p.pending, ref)
			if a.reqs[b] > 0 {
				a.reqs[b]--
			}
		}
		if !a.webSeed && !a.verify && begin%blockSize == 0 && b < a.nblocks &&
			n == min(blockSize, len(a.buf)-int(begin)) && a.state[b] == blockMissing {
			ap = a
			ap.state[b] = blockWriting
		}
	}
	c.mu.Unlock()
	if ap == nil {
		c.wasted.Add(int64(n))
		_, err := io.CopyN(io.Discard, r, int64(n))
		c.mu.Lock()
		p.fillRequests()
		c.mu.Unlock()
		return err
	}
	_, err := io.ReadFull(r, ap.buf[begin:int(begin)+n])
	c.mu.Lock()
	if err != nil {
		ap.state[b] = blockMissing
		ap.cursor = min(ap.cursor, b)
		c.mu.Unlock()
		return err
	}
	c.event(EventFirstByte, now, map[string]any{"from": p.addr})
	ap.state[b] = blockDone
	ap.done++
	if k := len(ap.contribs); k == 0 || ap.contribs[k-1] != p {
		ap.contribs = append(ap.contribs, p)
	}
	c.downloaded.Add(int64(n))
	p.recvBytes += int64(n)
	c.recvFrom[p.ip] += int64(n)
	c.lastBlock = now
	if ap.reqs[b] > 0 { // end game: others were asked for it too
		for q := range c.peers {
			if _, ok := q.pending[ref]; ok {
				delete(q.pending, ref)
				q.queueCtrl(pp.MakeCancelMessage(pp.Integer(index), pp.Integer(begin), pp.Integer(n)).MustMarshalBinary())
			}
		}
		ap.reqs[b] = 0
	}
	complete := ap.done == ap.nblocks
	if complete {
		ap.verify = true
		ap.lastAt = now
	}
	p.fillRequests()
	c.mu.Unlock()
	if complete {
		c.finishPiece(ap)
	}
	return nil
}

// writeLoop sends queued messages and the blocks the peer asked for.
func (p *peer) writeLoop() {
	c := p.c
	bw := bufio.NewWriterSize(p.conn, 160<<10)
	keep := time.NewTimer(keepAlive)
	defer keep.Stop()
	var ups []blockReq
	for {
		c.mu.Lock()
		if p.closed {
			c.mu.Unlock()
			return
		}
		// Swap buffers: the writer owns ctrl until it hands it back as
		// spare, so the two never share memory.
		ctrl := p.ctrl
		p.ctrl, p.spare = p.spare[:0], nil
		k := min(len(p.uploads), 8)
		ups = append(ups[:0], p.uploads[:k]...)
		p.uploads = p.uploads[k:]
		if len(p.uploads) == 0 {
			p.uploads = nil
		}
		c.mu.Unlock()

		if len(ctrl) == 0 && len(ups) == 0 {
			p.spare = ctrl
			p.conn.SetWriteDeadline(time.Now().Add(time.Minute))
			if err := bw.Flush(); err != nil {
				p.fail()
				return
			}
			select {
			case <-p.wake:
			case <-keep.C:
				keep.Reset(keepAlive)
				if _, err := bw.Write([]byte{0, 0, 0, 0}); err != nil {
					p.fail()
					return
				}
			}
			continue
		}
		p.conn.SetWriteDeadline(time.Now().Add(time.Minute))
		if _, err := bw.Write(ctrl); err != nil {
			p.fail()
			return
		}
		p.spare = ctrl[:0]
		for _, u := range ups {
			var h [13]byte
			binary.BigEndian.PutUint32(h[0:], 9+u.length)
			h[4] = byte(pp.Piece)
			binary.BigEndian.PutUint32(h[5:], u.index)
			binary.BigEndian.PutUint32(h[9:], u.begin)
			if _, err := bw.Write(h[:]); err != nil {
				p.fail()
				return
			}
			if bw.Available() < int(u.length) {
				if err := bw.Flush(); err != nil {
					p.fail()
					return
				}
			}
			buf := bw.AvailableBuffer()[:u.length]
			if _, err := c.file.ReadAt(buf, int64(u.index)*c.pieceLen+int64(u.begin)); err != nil {
				p.fail()
				return
			}
			if _, err := bw.Write(buf); err != nil {
				p.fail()
				return
			}
			c.uploaded.Add(int64(u.length))
		}
		if !keep.Stop() {
			select {
			case <-keep.C:
			default:
			}
		}
		keep.Reset(keepAlive)
	}
}

func (p *peer) fail() {
	p.c.mu.Lock()
	p.closeLocked()
	p.c.mu.Unlock()
}
