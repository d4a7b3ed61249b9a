package tracker

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/clustervision/luna-go/internal/luna"
)

// swarmCopies are the tracker's copies of the peers of each torrent, used
// when Tracker.SwarmTTL is positive.
type swarmCopies struct {
	mu sync.Mutex
	m  map[string]*swarmCopy
	// io is held by every read of the store into a copy and by every
	// flush, so that no read sees a flush half done (its documents
	// deleted and not yet inserted again).
	io sync.Mutex
}

type peerKey struct {
	ip   string
	port int
}

// swarmCopy is every recorded peer of one torrent as last read from the
// store, with this tracker's announces applied since.
type swarmCopy struct {
	ready chan struct{} // closed when the first read is done
	err   error         // of the first read; the copy is then dropped

	mu    sync.Mutex
	peers map[peerKey]*luna.TrackerPeer // never changed in place: replaced
	// pending are the peers announced since the last flush; the value is
	// the _id of the peer's stored document when that is not PeerDocID
	// (written by Luna 1.2), to be deleted with it.
	pending  map[peerKey]luna.ID
	readAt   time.Time // when the last read began (tracker clock)
	reading  bool      // a read is under way in the background
	lastUsed time.Time
}

// change is one announce: an upsert, or a deletion ("stopped").
type change struct {
	peer    luna.TrackerPeer
	deleted bool
}

// apply records c in the copy as the store will hold it once flushed.
func (sc *swarmCopy) apply(infoHash string, c change) {
	k := peerKey{c.peer.IP, c.peer.Port}
	id := luna.PeerDocID(infoHash, k.ip, k.port)
	old, had := sc.peers[k]
	if legacy, ok := sc.pending[k]; !ok || legacy.IsZero() {
		legacy = luna.ID{}
		if had && old.ID != id && !old.ID.IsZero() {
			legacy = old.ID
		}
		sc.pending[k] = legacy
	}
	if c.deleted {
		delete(sc.peers, k)
		return
	}
	p := c.peer
	p.ID = id
	if had {
		if old.Updated.After(p.Updated) {
			return // a later announce of the same peer got here first
		}
		if p.Status == "" {
			p.Status = old.Status // an announce without an event keeps the last one
		}
		p.ID = old.ID
	}
	sc.peers[k] = &p
}

func index(peers []luna.TrackerPeer) map[peerKey]*luna.TrackerPeer {
	m := make(map[peerKey]*luna.TrackerPeer, len(peers))
	for i := range peers {
		p := &peers[i]
		k := peerKey{p.IP, p.Port}
		if old, ok := m[k]; ok && !p.Updated.After(old.Updated) {
			continue
		}
		m[k] = p
	}
	return m
}

// swarmFromCopy records c, this announce, in the copy of infoHash's peers
// and gives each peer of the copy that an answer may list (see eligible)
// to visit. The copy is read from the store when first needed, and again
// in the background once it is SwarmTTL old; announces are answered from
// the old copy meanwhile. c reaches the store at the next Flush.
func (t *Tracker) swarmFromCopy(ctx context.Context, infoHash string, c change, now time.Time, interval time.Duration, visit func(*luna.TrackerPeer)) error {
	t.copies.mu.Lock()
	if t.copies.m == nil {
		t.copies.m = map[string]*swarmCopy{}
	}
	sc, ok := t.copies.m[infoHash]
	if !ok {
		sc = &swarmCopy{ready: make(chan struct{}), readAt: now, pending: map[peerKey]luna.ID{}}
		t.copies.m[infoHash] = sc
	}
	t.dropUnused(now)
	t.copies.mu.Unlock()

	if !ok {
		t.copies.io.Lock()
		peers, err := t.Store.PeersOf(ctx, infoHash, time.Time{})
		t.copies.io.Unlock()
		sc.mu.Lock()
		if err != nil {
			sc.err = err
			t.copies.mu.Lock()
			delete(t.copies.m, infoHash)
			t.copies.mu.Unlock()
		} else {
			sc.peers = index(peers)
		}
		sc.mu.Unlock()
		close(sc.ready)
	} else {
		select {
		case <-sc.ready:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if sc.err != nil {
		return sc.err
	}

	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.apply(infoHash, c)
	if !sc.reading && now.Sub(sc.readAt) >= t.SwarmTTL {
		sc.reading, sc.readAt = true, now
		go t.reread(sc, infoHash)
	}
	sc.lastUsed = now
	e := newEligibility(now, interval)
	for _, p := range sc.peers {
		if e.eligible(p) {
			visit(p)
		}
	}
	return nil
}

// reread replaces a copy by what the store holds now, keeping what the
// copy says of the peers announced since the last flush.
func (t *Tracker) reread(sc *swarmCopy, infoHash string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t.copies.io.Lock()
	defer t.copies.io.Unlock()
	peers, err := t.Store.PeersOf(ctx, infoHash, time.Time{})
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.reading = false
	if err != nil {
		t.log().Warn("tracker: read the peers again", "info_hash", infoHash, "err", err)
		return // keep the copy; try again after another SwarmTTL
	}
	m := index(peers)
	for k := range sc.pending {
		if p, ok := sc.peers[k]; ok {
			m[k] = p
		} else {
			delete(m, k)
		}
	}
	sc.peers = m
}

// dropUnused forgets the copies of torrents nobody announced for within
// PeerExpiry and that have nothing left to store (t.copies.mu held).
func (t *Tracker) dropUnused(now time.Time) {
	for h, sc := range t.copies.m {
		if sc.mu.TryLock() {
			idle := !sc.lastUsed.IsZero() && now.Sub(sc.lastUsed) > PeerExpiry && len(sc.pending) == 0 && !sc.reading
			sc.mu.Unlock()
			if idle {
				delete(t.copies.m, h)
			}
		}
	}
}

// Flush stores the announces recorded in the copies since the last flush
// (with SwarmTTL positive): for each torrent, one deletion of the peers'
// documents and one insertion of their new state, whatever their number.
// What could not be stored is kept for the next flush.
func (t *Tracker) Flush(ctx context.Context) {
	t.copies.mu.Lock()
	copies := make(map[string]*swarmCopy, len(t.copies.m))
	for h, sc := range t.copies.m {
		copies[h] = sc
	}
	t.copies.mu.Unlock()
	t.copies.io.Lock()
	defer t.copies.io.Unlock()
	for h, sc := range copies {
		select {
		case <-sc.ready:
		default:
			continue // its first read is under way: nothing pending yet
		}
		sc.mu.Lock()
		if len(sc.pending) == 0 {
			sc.mu.Unlock()
			continue
		}
		pending := sc.pending
		sc.pending = map[peerKey]luna.ID{}
		ids := make([]luna.ID, 0, len(pending))
		docs := make([]luna.TrackerPeer, 0, len(pending))
		for k, legacy := range pending {
			id := luna.PeerDocID(h, k.ip, k.port)
			ids = append(ids, id)
			if !legacy.IsZero() {
				ids = append(ids, legacy)
			}
			if p, ok := sc.peers[k]; ok {
				d := *p
				d.ID = id
				sc.peers[k] = &d
				docs = append(docs, d)
			}
		}
		sc.mu.Unlock()
		if err := t.Store.ReplacePeers(ctx, ids, docs); err != nil {
			t.log().Error("tracker: store announces", "info_hash", h, "peers", len(pending), "err", err)
			sc.mu.Lock()
			for k, legacy := range pending {
				if l, ok := sc.pending[k]; !ok || l.IsZero() {
					sc.pending[k] = legacy
				}
			}
			sc.mu.Unlock()
		}
	}
}

// FlushLoop runs Flush every period, and once more when ctx ends.
func (t *Tracker) FlushLoop(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			t.Flush(fctx)
			cancel()
			return
		case <-tick.C:
			t.Flush(ctx)
		}
	}
}

// eligibility says whether a recorded peer belongs to the swarm an
// announce sees: not stopped (1.2 kept stopped peers), and announced within
// two intervals, or three for the server's seeder (ServerPeerID with a port).
type eligibility struct{ fresh, serverFresh time.Time }

func newEligibility(now time.Time, interval time.Duration) eligibility {
	return eligibility{fresh: now.Add(-2 * interval), serverFresh: now.Add(-3 * interval)}
}

func (e eligibility) eligible(p *luna.TrackerPeer) bool {
	if p.Status == "stopped" {
		return false
	}
	if !p.Updated.Before(e.fresh) {
		return true
	}
	return p.PeerID == luna.ServerPeerIDHex && p.Port != 0 && !p.Updated.Before(e.serverFresh)
}

// sampler counts the swarm and keeps a uniform random sample of up to want
// of the peers offered to it (reservoir sampling), without a list of all.
type sampler struct {
	want                 int
	seen                 int
	complete, incomplete int
	picked               []luna.TrackerPeer
}

// add counts p and offers it for the answer unless it is the requester.
func (s *sampler) add(p *luna.TrackerPeer, requester bool) {
	if p.Left == 0 {
		s.complete++
	} else {
		s.incomplete++
	}
	if requester || s.want <= 0 {
		return
	}
	s.seen++
	if len(s.picked) < s.want {
		s.picked = append(s.picked, *p)
		return
	}
	if i := rand.IntN(s.seen); i < s.want {
		s.picked[i] = *p
	}
}

// peers is the sample in random order.
func (s *sampler) peers() []luna.TrackerPeer {
	rand.Shuffle(len(s.picked), func(i, j int) { s.picked[i], s.picked[j] = s.picked[j], s.picked[i] })
	return s.picked
}
