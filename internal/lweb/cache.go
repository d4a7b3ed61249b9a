package lweb

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/clustervision/luna-go/internal/luna"
	"github.com/clustervision/luna-go/internal/store"
)

// bootCache keeps what discovery needs in memory: which node a MAC belongs
// to and each node's boot parameters. It is dropped whenever the store's
// change marker moves (any change of an object by luna), so a node never
// boots with settings older than one poll interval.
type bootCache struct {
	svc *luna.Service
	log *slog.Logger

	mu     sync.RWMutex
	marker string
	byMAC  map[string]string           // MAC -> node name
	params map[string]*luna.BootParams // node name -> boot parameters (no token)
	names  []string                    // sorted node names, for the menu
}

func newBootCache(svc *luna.Service, log *slog.Logger) *bootCache {
	return &bootCache{svc: svc, log: log, byMAC: map[string]string{}, params: map[string]*luna.BootParams{}}
}

// poll drops the cache when the change marker moved; it runs every interval until ctx ends.
func (c *bootCache) poll(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		c.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (c *bootCache) check(ctx context.Context) {
	m, err := c.svc.St.ChangeMarker(ctx)
	if err != nil {
		c.log.Warn("boot cache: cannot read the change marker; dropping the cache", "err", err)
		m = "?" + time.Now().String()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if m != c.marker {
		c.marker = m
		c.byMAC = map[string]string{}
		c.params = map[string]*luna.BootParams{}
		c.names = nil
	}
}

// invalidate drops everything now (a MAC was bound by discovery).
func (c *bootCache) invalidate() {
	c.mu.Lock()
	c.byMAC = map[string]string{}
	c.params = map[string]*luna.BootParams{}
	c.names = nil
	c.mu.Unlock()
}

// nodeByMAC returns the node a MAC is bound to, if the cache knows it.
func (c *bootCache) nodeByMAC(macs []string) (string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, m := range macs {
		if n, ok := c.byMAC[m]; ok {
			return n, true
		}
	}
	return "", false
}

// bootParams returns a copy of a node's boot parameters, loading them on a miss.
func (c *bootCache) bootParams(ctx context.Context, name string) (*luna.BootParams, error) {
	c.mu.RLock()
	p, ok := c.params[name]
	c.mu.RUnlock()
	if !ok {
		var err error
		if p, err = c.svc.BootParams(ctx, name); err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.params[name] = p
		if p.MAC != "" {
			c.byMAC[p.MAC] = name
		}
		c.mu.Unlock()
	}
	cp := *p
	return &cp, nil
}

// nodeNames returns the sorted node names, loading them on a miss.
func (c *bootCache) nodeNames(ctx context.Context) ([]string, error) {
	c.mu.RLock()
	names := c.names
	c.mu.RUnlock()
	if names != nil {
		return names, nil
	}
	names, err := c.svc.NodeNames(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.names = names
	c.mu.Unlock()
	return names, nil
}

// statusWriter batches the status (and boot token) updates of booting nodes:
// a thousand nodes asking at once cost one bulk write per flush, not a
// thousand round trips. The newest update of a node wins.
type statusWriter struct {
	st  *store.Store
	log *slog.Logger

	mu      sync.Mutex
	pending map[string]store.StatusUpdate
	tokens  map[string]string // tokens handed out, until they are stored
}

func newStatusWriter(st *store.Store, log *slog.Logger) *statusWriter {
	return &statusWriter{st: st, log: log, pending: map[string]store.StatusUpdate{}, tokens: map[string]string{}}
}

func (w *statusWriter) record(node, step, token string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	u := store.StatusUpdate{Node: node, Status: store.NodeStatus{Step: step, Time: time.Now().UTC()}, Token: token}
	if old, ok := w.pending[node]; ok && token == "" {
		u.Token = old.Token
	}
	w.pending[node] = u
	if token != "" {
		w.tokens[node] = token
	}
}

// token is a boot token handed out but perhaps not stored yet.
func (w *statusWriter) token(node string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.tokens[node]
}

// flush stores what is pending.
func (w *statusWriter) flush(ctx context.Context) {
	w.mu.Lock()
	if len(w.pending) == 0 {
		w.mu.Unlock()
		return
	}
	ups := make([]store.StatusUpdate, 0, len(w.pending))
	for _, u := range w.pending {
		ups = append(ups, u)
	}
	w.pending = map[string]store.StatusUpdate{}
	w.mu.Unlock()
	if err := w.st.SetNodeStatuses(ctx, ups); err != nil {
		w.log.Error("store node statuses", "nodes", len(ups), "err", err)
		w.mu.Lock()
		for _, u := range ups { // keep them for the next flush unless newer ones arrived
			if _, ok := w.pending[u.Node]; !ok {
				w.pending[u.Node] = u
			}
		}
		w.mu.Unlock()
		return
	}
	w.mu.Lock()
	for _, u := range ups {
		if u.Token != "" && w.tokens[u.Node] == u.Token {
			delete(w.tokens, u.Node)
		}
	}
	w.mu.Unlock()
}

// run flushes every interval and once more when ctx ends.
func (w *statusWriter) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			w.flush(fctx)
			cancel()
			return
		case <-t.C:
			w.flush(ctx)
		}
	}
}
