// Package lweb is Luna's boot server: the iPXE menu, node discovery, the
// boot and install scripts and status reports under /luna, the static
// /boot/ and /torrents/ files, the BitTorrent tracker, /healthz and
// /metrics. A node booted by Luna 1.2 boots from it unchanged: same URLs,
// query parameters, kernel arguments and status strings.
package lweb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clustervision/luna-go/internal/luna"
	"github.com/clustervision/luna-go/internal/render"
	"github.com/clustervision/luna-go/internal/tracker"
)

// Server serves lweb's HTTP interface.
type Server struct {
	Svc         *luna.Service
	Log         *slog.Logger
	TrustProxy  bool // take the client address from X-Real-IP (lweb behind nginx)
	Announce    http.HandlerFunc
	Scrape      http.HandlerFunc
	MenuTimeout time.Duration
	Now         func() time.Time // the clock; nil = time.Now

	metrics *metrics
	cache   *bootCache
	writer  *statusWriter
	tracker *tracker.Tracker
	async   bool // Start ran: the cache is polled and statuses are flushed in the background

	mu        sync.Mutex
	cluster   *luna.Cluster
	clusterAt time.Time
	renderer  *render.Renderer
}

// now is the server's clock.
func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// clusterTTL bounds how stale the cached cluster settings may be.
const clusterTTL = 2 * time.Second

// settings returns the cluster document, cached for clusterTTL.
func (s *Server) settings(ctx context.Context) (*luna.Cluster, *render.Renderer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cluster != nil && s.now().Sub(s.clusterAt) < clusterTTL {
		return s.cluster, s.renderer, nil
	}
	c, err := s.Svc.Cluster(ctx)
	if err != nil {
		return nil, nil, err
	}
	dir := filepath.Join(c.Path, "templates")
	if s.renderer == nil || s.renderer.Dir != dir {
		s.renderer = &render.Renderer{Dir: dir}
	}
	s.cluster, s.clusterAt = c, s.now()
	return c, s.renderer, nil
}

// Handler is the whole HTTP interface.
func (s *Server) Handler() http.Handler {
	s.init()
	mux := http.NewServeMux()
	mux.HandleFunc("/luna", s.luna)
	mux.HandleFunc("/boot/", s.static("boot"))
	mux.HandleFunc("/torrents/", s.static("torrents"))
	mux.HandleFunc("/healthz", s.healthz)
	mux.Handle("/metrics", s.metrics.handler())
	if s.Announce != nil {
		mux.HandleFunc("/announce", s.count("announce", s.Announce))
	}
	if s.Scrape != nil {
		mux.HandleFunc("/scrape", s.count("scrape", s.Scrape))
	}
	return s.metrics.instrument(s.Log, s.clientIP, mux)
}

func (s *Server) count(name string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if name == "announce" {
			s.metrics.announces.Inc()
		}
		h(w, r)
	}
}

func (s *Server) init() {
	if s.metrics == nil {
		s.metrics = newMetrics(s.Svc)
		s.cache = newBootCache(s.Svc, s.Log)
		s.writer = newStatusWriter(s.Svc, s.Log, s.now)
		s.metrics.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "luna_node_status_pending", Help: "Node statuses received and not stored yet (at most one per node).",
		}, func() float64 { return float64(s.writer.pendingCount()) }))
		s.tracker = newTracker(s, s.Svc, s.Log)
		if s.Announce == nil {
			s.Announce, s.Scrape = s.tracker.ServeAnnounce, s.tracker.ServeScrape
		}
	}
}

// Start loads the first boot snapshot and returns the background work of
// a long-lived server, to run until ctx ends: it polls the change marker
// every 500 ms (loading a new snapshot when it moved), stores statuses
// every 500 ms, expires tracker peers, and has the tracker answer from its
// in-memory copy of the peers and store announces every trackerFlushEvery.
// Without it (tests), every request checks the marker, and statuses and
// announces are stored at once. What the workers leave pending is stored
// by the flushers, run once no request is in flight any more.
func (s *Server) Start(ctx context.Context) []func(context.Context) error {
	s.init()
	s.async = true
	s.cache.check(ctx) // the first snapshot, before lweb says it is ready
	s.tracker.SwarmTTL = trackerCopyTTL
	return []func(context.Context) error{
		func(ctx context.Context) error { s.cache.poll(ctx, 500*time.Millisecond); return nil },
		func(ctx context.Context) error { s.writer.run(ctx, 500*time.Millisecond); return nil },
		func(ctx context.Context) error { s.tracker.ExpireLoop(ctx, time.Minute); return nil },
		func(ctx context.Context) error { s.tracker.FlushLoop(ctx, trackerFlushEvery); return nil },
	}
}

// flushers store what is still pending: node statuses, then tracker announces.
func (s *Server) flushers() []func(context.Context) error {
	return []func(context.Context) error{
		s.writer.flushAll,
		func(ctx context.Context) error { s.tracker.Flush(ctx); return nil },
	}
}

// syncCache brings the boot snapshot up to date now when nothing polls it
// (no Start: tests), so each request sees the store as it is.
func (s *Server) syncCache(ctx context.Context) {
	if !s.async {
		s.cache.check(ctx)
	}
}

// record stores a node's status (and the boot token handed to addr),
// batched when running.
func (s *Server) record(ctx context.Context, id luna.ID, node, step, token, addr string) {
	s.writer.record(id, node, step, token, addr)
	if !s.async {
		s.writer.flush(ctx)
	}
}

// clientIP is the address of the requester (X-Real-IP only behind a proxy).
func (s *Server) clientIP(r *http.Request) string {
	if s.TrustProxy {
		if ip := strings.TrimSpace(r.Header.Get("X-Real-IP")); ip != "" {
			return ip
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// arg is a query value as 1.2 read it: the last one, trimmed.
func arg(r *http.Request, key string) string {
	vs := query(r)[key]
	if len(vs) == 0 {
		return ""
	}
	return strings.TrimSpace(vs[len(vs)-1])
}

// query is the request's parsed query: r.Form once luna has parsed it
// there, so that the arguments of a request are not parsed once each.
func query(r *http.Request) url.Values {
	if r.Form != nil {
		return r.Form
	}
	return r.URL.Query()
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

func writeScript(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(body)
}

func (s *Server) luna(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		httpError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	// A GET has no body: ParseForm parses the query into r.Form, skipping
	// malformed pairs as r.URL.Query does.
	_ = r.ParseForm()
	switch step := arg(r, "step"); step {
	case "boot":
		s.menu(w, r)
	case "discovery":
		s.discovery(w, r)
	case "install":
		s.install(w, r)
	case "":
		httpError(w, http.StatusBadRequest, "missing argument step")
	default:
		httpError(w, http.StatusBadRequest, "unknown step "+strings.ToValidUTF8(step, "?"))
	}
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.Log.Error("request failed", "url", r.URL.String(), "err", err)
	httpError(w, http.StatusInternalServerError, "internal error")
}

func (s *Server) menu(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, rd, err := s.settings(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.syncCache(ctx)
	names, err := s.cache.nodeNames(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	body, err := rd.Menu(render.MenuData{BaseURL: luna.ClusterURL(c), Nodes: names, TimeoutMS: int(s.MenuTimeout / time.Millisecond)})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeScript(w, body)
}

// maxHWData bounds the hwdata tokens read (asset tag + ${mac} + net0..net9).
const maxHWData = 16

// discoveryRequest is a parsed `step=discovery` request.
type discoveryRequest struct {
	Tokens []string // hwdata tokens in order (asset tag, ${mac}, net0..net9)
	MACs   []string // the valid MACs among them, lower case, in order, unique
	Node   string   // the name chosen in the menu, if any
	Kind   string   // ipxe or syslinux
}

// parseDiscovery reads the discovery parameters; a failure carries the
// HTTP status to answer with.
func parseDiscovery(q url.Values) (discoveryRequest, int, error) {
	last := func(k string) string {
		vs := q[k]
		if len(vs) == 0 {
			return ""
		}
		return strings.TrimSpace(vs[len(vs)-1])
	}
	d := discoveryRequest{Node: last("node"), Kind: last("type")}
	hw := last("hwdata")
	if hw == "" {
		return d, http.StatusBadRequest, errors.New("missing argument hwdata")
	}
	if d.Kind == "" {
		d.Kind = "ipxe"
	}
	if d.Kind != "ipxe" && d.Kind != "syslinux" {
		return d, http.StatusNotFound, errors.New("unknown type")
	}
	d.Tokens = strings.Split(hw, "|")
	if len(d.Tokens) > maxHWData {
		d.Tokens = d.Tokens[:maxHWData]
	}
	seen := map[string]bool{}
	for _, t := range d.Tokens {
		if m, err := luna.NormalizeMAC(strings.TrimSpace(t)); err == nil && !seen[m] {
			seen[m] = true
			d.MACs = append(d.MACs, m)
		}
	}
	return d, 0, nil
}

func (s *Server) discovery(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	d, code, err := parseDiscovery(r.URL.Query())
	if err != nil {
		httpError(w, code, err.Error())
		return
	}
	client, hw := s.clientIP(r), arg(r, "hwdata")
	s.syncCache(ctx)
	var disc luna.Discovery
	known := false
	if d.Node == "" {
		disc.Name, known = s.cache.nodeByMAC(d.MACs)
		disc.HadMAC = known
	}
	if !known {
		var err error
		disc, err = s.Svc.Discover(ctx, luna.DiscoverRequest{HWData: d.Tokens, Chosen: d.Node, Client: client})
		var le *luna.Error
		switch {
		case errors.Is(err, luna.ErrUnknownNode):
			s.Log.Info("discovery: unknown node", "hwdata", hw, "client", client)
			httpError(w, http.StatusNotFound, "node not identified")
			return
		case errors.Is(err, luna.ErrRebindRefused):
			s.Log.Warn("discovery refused", "client", client, "err", err)
			httpError(w, http.StatusForbidden, "forbidden: node "+disc.Name+" is bound to another MAC (or the MAC to another node)")
			return
		case errors.As(err, &le) && d.Node != "":
			httpError(w, http.StatusBadRequest, le.Msg)
			return
		case err != nil:
			s.fail(w, r, err)
			return
		}
		if disc.Bound {
			s.cache.invalidate()
		}
	}
	name := disc.Name
	c, rd, err := s.settings(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var p *luna.BootParams
	if disc.Bound { // the snapshot does not have the MAC yet
		p, err = s.Svc.BootParams(ctx, name)
	} else {
		p, err = s.cache.bootParams(ctx, name)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	id, err := s.identity(ctx, p.NodeID, name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p.Token = ""
	if id.MayHandToken(c, client, disc.Bound && !disc.HadMAC) {
		p.Token = luna.NewToken()
	}
	body, err := rd.NodeBoot(d.Kind, p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if p.Token != "" {
		s.record(ctx, p.NodeID, name, "boot.request", p.Token, client)
		s.Log.Debug("boot script", "node", name, "client", client)
	} else {
		s.Log.Info("discovery from an address that is not the node's, binding no first MAC: boot script without a boot token, status unchanged",
			"node", name, "client", client)
	}
	writeScript(w, body)
}

// identity is a node's boot identity: its addresses and the token of its
// current boot (the one this process handed out last, or else the stored
// one, handed out before a restart or by another lweb).
func (s *Server) identity(ctx context.Context, id luna.ID, name string) (*luna.BootIdentity, error) {
	ips, err := s.cache.nodeIPs(ctx, name)
	if err != nil {
		return nil, err
	}
	b := &luna.BootIdentity{Addrs: ips}
	if t, ok := s.writer.token(name); ok {
		b.Token, b.TokenAddr = t.token, t.addr
		return b, nil
	}
	b.Token, b.TokenAddr, err = s.Svc.BootState(ctx, id)
	return b, err
}

// authorized says whether a request may act for a node (fetch its install
// script, report its status): it comes from the node or carries the token
// of its current boot (luna.BootIdentity.MayAct), or the cluster runs open
// (insecure_install). It returns the node's id and identity.
func (s *Server) authorized(r *http.Request, c *luna.Cluster, name string) (luna.ID, *luna.BootIdentity, bool, error) {
	ctx := r.Context()
	nd, err := s.cache.node(ctx, name)
	if err != nil {
		return luna.ID{}, nil, false, err
	}
	id, err := s.identity(ctx, nd.ID, name)
	if err != nil {
		return luna.ID{}, nil, false, err
	}
	return nd.ID, id, c.InsecureInstall || id.MayAct(s.clientIP(r), arg(r, "token")), nil
}

func (s *Server) install(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	name := arg(r, "node")
	if name == "" {
		httpError(w, http.StatusBadRequest, "missing argument node")
		return
	}
	c, rd, err := s.settings(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.syncCache(ctx)
	id, ident, ok, err := s.authorized(r, c, name)
	var le *luna.Error
	switch {
	case errors.As(err, &le):
		httpError(w, http.StatusBadRequest, le.Msg)
		return
	case err != nil:
		s.fail(w, r, err)
		return
	case !ok:
		s.Log.Warn("install request refused: not from the node and no valid token", "node", name, "client", s.clientIP(r))
		httpError(w, http.StatusForbidden, "forbidden: not from the node's address and no valid boot token")
		return
	}
	if status := arg(r, "status"); status != "" {
		if !luna.StepRe.MatchString(status) {
			httpError(w, http.StatusBadRequest, "invalid status")
			return
		}
		s.record(ctx, id, name, status, "", "")
		w.WriteHeader(http.StatusOK)
		return
	}
	p, err := s.cache.installParams(ctx, name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if p.Torrent == "" {
		httpError(w, http.StatusNotFound, "the osimage of node "+name+" is not packed")
		return
	}
	p.Token = ident.Token
	body, err := rd.InstallScript(p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.record(ctx, id, name, "install.request", "", "")
	writeScript(w, body)
}

// static serves <cluster path>/<dir>/<file>: files only, no listings.
func (s *Server) static(dir string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			httpError(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		c, _, err := s.settings(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		rel := strings.TrimPrefix(path.Clean("/"+strings.TrimPrefix(r.URL.Path, "/"+dir+"/")), "/")
		if rel == "" || strings.Contains(rel, "/") {
			httpError(w, http.StatusNotFound, "not found")
			return
		}
		f, err := os.Open(filepath.Join(c.Path, dir, rel))
		if err != nil {
			httpError(w, http.StatusNotFound, "not found")
			return
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil || !st.Mode().IsRegular() {
			httpError(w, http.StatusNotFound, "not found")
			return
		}
		cw := &countingWriter{ResponseWriter: w}
		http.ServeContent(cw, r, rel, st.ModTime(), f)
		s.metrics.bytesServed.WithLabelValues(dir).Add(float64(cw.n))
	}
}

type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if _, err := s.Svc.Cluster(r.Context()); err != nil {
		httpError(w, http.StatusServiceUnavailable, "unhealthy: "+err.Error())
		return
	}
	fmt.Fprintln(w, "ok")
}
