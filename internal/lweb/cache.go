package lweb

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clustervision/luna-go/internal/luna"
)

// bootCache holds a snapshot of what booting nodes ask for (every node's
// boot and install parameters, MACs and addresses), read with one query per
// collection. The snapshot is replaced whenever the store's change marker
// moves (any change of an object by luna): the poller reads the marker every
// interval and loads a new snapshot in the background while requests are
// answered from the previous one. A node that is not in the snapshot (added
// or bound since) is looked up in the store.
type bootCache struct {
	svc *luna.Service
	log *slog.Logger

	snap atomic.Pointer[luna.Snapshot]
	kick chan struct{} // asks the poller to reload now

	mu     sync.Mutex // serializes loads
	marker string     // change marker the current snapshot was read under ("" = reload)
}

func newBootCache(svc *luna.Service, log *slog.Logger) *bootCache {
	return &bootCache{svc: svc, log: log, kick: make(chan struct{}, 1)}
}

// current is the snapshot to answer from; nil before the first load.
func (c *bootCache) current() *luna.Snapshot { return c.snap.Load() }

// poll reloads the snapshot when the change marker moved; it runs every
// interval (or at once when kicked) until ctx ends.
func (c *bootCache) poll(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		c.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.kick:
		}
	}
}

// check loads a new snapshot if the change marker moved since the current
// one was read. The marker is read before the snapshot, so a change made
// during a load is seen by the next check.
func (c *bootCache) check(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.svc.ChangeMarker(ctx)
	if err != nil {
		c.log.Warn("boot cache: cannot read the change marker", "err", err)
		return
	}
	if m == c.marker && c.snap.Load() != nil {
		return
	}
	start := time.Now()
	sn, err := c.svc.LoadSnapshot(ctx)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn("boot cache: cannot load a snapshot; answering from the store", "err", err)
		}
		c.snap.Store(nil)
		return
	}
	c.snap.Store(sn)
	c.marker = m
	c.log.Debug("boot cache: snapshot loaded", "nodes", sn.Len(), "took", time.Since(start))
}

// invalidate makes the next check reload (a MAC was bound by discovery).
func (c *bootCache) invalidate() {
	c.mu.Lock()
	c.marker = ""
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// nodeByMAC returns the node a MAC is bound to, if the snapshot knows it.
func (c *bootCache) nodeByMAC(macs []string) (string, bool) {
	if sn := c.current(); sn != nil {
		return sn.NodeByMAC(macs)
	}
	return "", false
}

// bootParams returns a node's boot parameters, from the store on a miss.
func (c *bootCache) bootParams(ctx context.Context, name string) (*luna.BootParams, error) {
	if sn := c.current(); sn != nil {
		if p, ok := sn.BootParams(name); ok {
			return p, nil
		}
	}
	return c.svc.BootParams(ctx, name)
}

// installParams returns a node's install parameters, from the store on a miss.
func (c *bootCache) installParams(ctx context.Context, name string) (*luna.InstallParams, error) {
	if sn := c.current(); sn != nil {
		if p, ok := sn.InstallParams(name); ok {
			return p, nil
		}
	}
	return c.svc.InstallParams(ctx, name)
}

// node returns a node's document, from the store on a miss.
func (c *bootCache) node(ctx context.Context, name string) (*luna.Node, error) {
	if sn := c.current(); sn != nil {
		if nd, ok := sn.Node(name); ok {
			return nd, nil
		}
	}
	return c.svc.Node(ctx, name)
}

// nodeIPs returns a node's addresses, from the store on a miss.
func (c *bootCache) nodeIPs(ctx context.Context, name string) ([]string, error) {
	if sn := c.current(); sn != nil {
		if ips, ok := sn.NodeIPs(name); ok {
			return ips, nil
		}
	}
	return c.svc.NodeIPs(ctx, name)
}

// nodeNames returns the sorted node names.
func (c *bootCache) nodeNames(ctx context.Context) ([]string, error) {
	if sn := c.current(); sn != nil {
		return sn.Names(), nil
	}
	return c.svc.NodeNames(ctx)
}

// statusWriter batches the status (and boot token) updates of booting nodes:
// a thousand nodes asking at once cost one bulk write per flush, not a
// thousand round trips. The newest update of a node wins.
type statusWriter struct {
	st  statusStore
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	pending map[string]luna.StatusUpdate
	tokens  map[string]handedToken // the last token handed out to each node by this process
}

// handedToken is a boot token and the address it was handed to.
type handedToken struct{ token, addr string }

// statusStore is where statusWriter flushes (luna.Service).
type statusStore interface {
	SetNodeStatuses(ctx context.Context, ups []luna.StatusUpdate) error
}

func newStatusWriter(st statusStore, log *slog.Logger, now func() time.Time) *statusWriter {
	return &statusWriter{st: st, log: log, now: now, pending: map[string]luna.StatusUpdate{}, tokens: map[string]handedToken{}}
}

// record queues a node's status and, when token is not "", the boot token
// handed to addr.
func (w *statusWriter) record(id luna.ID, node, step, token, addr string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	u := luna.StatusUpdate{NodeID: id, Node: node, Status: luna.NodeStatus{Step: step, Time: w.now().UTC()}, Token: token, TokenAddr: addr}
	if old, ok := w.pending[node]; ok && token == "" {
		u.Token, u.TokenAddr = old.Token, old.TokenAddr
	}
	w.pending[node] = u
	if token != "" {
		w.tokens[node] = handedToken{token, addr}
	}
}

// pendingCount is the number of statuses not stored yet.
func (w *statusWriter) pendingCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending)
}

// token is the last boot token this process handed out to a node, and
// where to; ok is false when it handed none.
func (w *statusWriter) token(node string) (t handedToken, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok = w.tokens[node]
	return t, ok
}

// statusChunk is how many statuses one write stores.
const statusChunk = 200

// take removes up to n pending updates.
func (w *statusWriter) take(n int) []luna.StatusUpdate {
	w.mu.Lock()
	defer w.mu.Unlock()
	ups := make([]luna.StatusUpdate, 0, min(n, len(w.pending)))
	for k, u := range w.pending {
		if len(ups) == n {
			break
		}
		ups = append(ups, u)
		delete(w.pending, k)
	}
	return ups
}

// write stores updates; on failure they go back to pending unless newer ones arrived.
func (w *statusWriter) write(ctx context.Context, ups []luna.StatusUpdate) error {
	err := w.st.SetNodeStatuses(ctx, ups)
	if err != nil {
		w.log.Error("store node statuses", "nodes", len(ups), "err", err)
		w.mu.Lock()
		for _, u := range ups {
			if _, ok := w.pending[u.Node]; !ok {
				w.pending[u.Node] = u
			}
		}
		w.mu.Unlock()
	}
	return err
}

// flush stores everything pending now, without resting.
func (w *statusWriter) flush(ctx context.Context) { w.store(ctx, false) }

// drain stores what is pending in chunks, resting three times as long as
// each chunk took: status reports are the least urgent writes, and a mass
// boot must not keep the store busy with them (each costs about 2 ms on
// lunadb) while nodes wait for their boot scripts. Pending statuses are one
// per node, so what waits is bounded by the number of nodes.
func (w *statusWriter) drain(ctx context.Context) { w.store(ctx, true) }

func (w *statusWriter) store(ctx context.Context, rest bool) {
	for ctx.Err() == nil {
		ups := w.take(statusChunk)
		if len(ups) == 0 {
			return
		}
		start := time.Now()
		if w.write(ctx, ups) != nil {
			return
		}
		if !rest {
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(3 * time.Since(start)):
		}
	}
}

// run drains every interval until ctx ends; what is left then is stored
// by flushAll, once the requests in flight are done.
func (w *statusWriter) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.drain(ctx)
		}
	}
}

// flushAll stores everything pending and says how many statuses it could not store.
func (w *statusWriter) flushAll(ctx context.Context) error {
	w.flush(ctx)
	if n := w.pendingCount(); n > 0 {
		return fmt.Errorf("stopping with %d node statuses not stored", n)
	}
	return nil
}
