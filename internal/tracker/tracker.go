// Package tracker is the BitTorrent tracker that lweb serves at /announce
// and /scrape. Peers live in the store's tracker collection, one document
// per (info_hash, ip, port) with hex info_hash and peer_id as in Luna 1.2,
// so that `luna node show` and ltorrent read them as before.
//
// Differences from 1.2 (all fixes of its known bugs) are listed in
// docs/tracker.md: errors are bencoded "failure reason"s with HTTP 200, a
// numwant above tracker_maxpeers is clamped, "stopped" deletes the peer,
// the requester and stopped or stale peers are never handed out, counts
// come from "left", IPv6 peers go to "peers6", scrape follows BEP 48, and
// the ip parameter is believed only from the tracker's own host.
package tracker

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/clustervision/luna-go/internal/luna"
)

// ServerPeerID is the peer id of ltorrent, the master's seeder. Its peers
// are handed out even when they announced up to three intervals ago.
const ServerPeerID = "lunalunalunalunaluna"

// PeerExpiry is how long a peer that stops announcing stays recorded;
// ExpireLoop deletes it after that (1.2 had a TTL index of 3600 s).
const PeerExpiry = time.Hour

// Settings are the cluster's tracker options.
type Settings struct {
	// Interval is tracker_interval: the seconds a client should wait
	// between announces. Peers are fresh for twice that (server peers
	// for three times).
	Interval int
	// MinInterval is tracker_min_interval, sent as "min interval".
	MinInterval int
	// MaxPeers is tracker_maxpeers, the most peers given in one answer.
	MaxPeers int
}

// DefaultSettings are Luna's defaults; a zero or negative field of the
// settings in use is replaced by its default.
var DefaultSettings = Settings{Interval: 10, MinInterval: 5, MaxPeers: 200}

func (s Settings) withDefaults() Settings {
	if s.Interval <= 0 {
		s.Interval = DefaultSettings.Interval
	}
	if s.MinInterval <= 0 {
		s.MinInterval = DefaultSettings.MinInterval
	}
	if s.MaxPeers <= 0 {
		s.MaxPeers = DefaultSettings.MaxPeers
	}
	return s
}

// PeerCount is the number of peers to give for an announce's NumWant:
// DefaultNumWant (at most MaxPeers) for -1; the value itself up to
// MaxPeers; MaxPeers for anything above it (1.2 refused those, breaking
// libtorrent's default of 200 when tracker_maxpeers was lower). A numwant
// above 10 × MaxPeers is not a client default but a broken or hostile
// request and is refused with an error.
func (s Settings) PeerCount(numWant int) (int, error) {
	s = s.withDefaults()
	limit := math.MaxInt
	if s.MaxPeers <= math.MaxInt/10 {
		limit = 10 * s.MaxPeers
	}
	switch {
	case numWant < 0:
		return min(DefaultNumWant, s.MaxPeers), nil
	case numWant > limit:
		return 0, fmt.Errorf("numwant %d is over the limit of %d (10 x tracker_maxpeers)", numWant, limit)
	}
	return min(numWant, s.MaxPeers), nil
}

// Tracker answers announces and scrapes.
//
// Which address a peer is recorded under: the address the request came
// from, which is the TCP peer address, or, only when TrustProxyHeaders is
// set (lweb behind a reverse proxy that sets it, such as the nginx
// configuration in contrib/), the X-Real-IP header. The announce's ip
// parameter replaces that address only when the request comes from the
// tracker's own host (a loopback address, the address the request was
// received on, or any address of this host's interfaces): that is
// ltorrent, which announces with ip=<its bind address>. From anywhere else
// the ip parameter is ignored, so that no client can record peers under
// another machine's address (1.2 believed it from anyone). A value that is
// not a literal address, 0.0.0.0 or :: is always ignored.
type Tracker struct {
	Store PeerStore
	// Settings returns the current tracker options (read on every
	// request, so that changes apply without a restart); nil means
	// DefaultSettings.
	Settings func(ctx context.Context) (Settings, error)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives diagnostics; nil discards them.
	Log *slog.Logger
	// TrustProxyHeaders takes the client address from X-Real-IP.
	TrustProxyHeaders bool
	// SwarmTTL, when positive, keeps each torrent's recorded peers in
	// memory and answers announces from that copy, and stores announces
	// in batches: Flush (or FlushLoop) must then run, and until it does
	// an announce is in the copy only (the store, and with it scrape and
	// `luna node show`, lag by up to the flush period). The copy is read
	// from the store at a torrent's first announce and again once
	// SwarmTTL old, so peers recorded by another tracker on the same
	// database show up at most SwarmTTL late. Zero writes and reads the
	// store at every announce.
	//
	// On FerretDB's SQLite backend, which scans the whole collection for
	// any filter and for every update, storing an announce at once costs
	// a scan of every recorded peer; a batch costs one.
	SwarmTTL time.Duration

	copies swarmCopies
}

func (t *Tracker) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Tracker) log() *slog.Logger {
	if t.Log != nil {
		return t.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (t *Tracker) settings(ctx context.Context) (Settings, error) {
	if t.Settings == nil {
		return DefaultSettings, nil
	}
	s, err := t.Settings(ctx)
	if err != nil {
		return s, err
	}
	return s.withDefaults(), nil
}

// query reads the query of a GET; anything else is answered (405, or a
// bencoded failure for a malformed query) and ok is false.
func (t *Tracker) query(w http.ResponseWriter, r *http.Request) (q url.Values, ok bool) {
	if !allowGet(w, r) {
		return nil, false
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		t.fail(w, r, "malformed query: "+err.Error())
		return nil, false
	}
	return q, true
}

// ServeAnnounce answers GET /announce (BEP 3, BEP 7, BEP 23); other
// methods get 405.
func (t *Tracker) ServeAnnounce(w http.ResponseWriter, r *http.Request) {
	q, ok := t.query(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	a, err := ParseAnnounce(q, t.clientIP(r))
	if err != nil {
		t.fail(w, r, err.Error())
		return
	}
	set, err := t.settings(ctx)
	if err != nil {
		t.internal(w, r, fmt.Errorf("read tracker settings: %w", err))
		return
	}
	want, err := set.PeerCount(a.NumWant)
	if err != nil {
		t.fail(w, r, err.Error())
		return
	}
	if a.ClaimedIP != "" && a.ClaimedIP != a.IP && fromThisHost(r, a.IP) {
		a.IP = a.ClaimedIP
	}

	now := t.now()
	c := change{peer: luna.TrackerPeer{
		InfoHash: a.InfoHash, IP: a.IP, Port: a.Port, PeerID: a.PeerID, Updated: now,
		Uploaded: a.Uploaded, Downloaded: a.Downloaded, Left: a.Left, Status: a.Event,
	}}
	if a.Event == "stopped" {
		c.deleted = true
		want = 0
	}
	switch {
	case t.SwarmTTL > 0: // stored by Flush
	case c.deleted:
		err = t.Store.DeletePeer(ctx, a.InfoHash, a.IP, a.Port)
	default:
		err = t.Store.UpsertPeer(ctx, c.peer)
	}
	if err != nil {
		t.internal(w, r, err)
		return
	}

	interval := time.Duration(set.Interval) * time.Second
	s := sampler{want: want}
	offer := func(p *luna.TrackerPeer) { s.add(p, p.IP == a.IP && p.Port == a.Port) }
	if t.SwarmTTL > 0 {
		err = t.swarmFromCopy(ctx, a.InfoHash, c, now, interval, offer)
	} else {
		err = t.swarmFromStore(ctx, a.InfoHash, now, interval, offer)
	}
	if err != nil {
		t.internal(w, r, err)
		return
	}
	candidates, complete, incomplete := s.peers(), s.complete, s.incomplete

	resp := map[string]any{
		"interval":     set.Interval,
		"min interval": set.MinInterval,
		"complete":     complete,
		"incomplete":   incomplete,
	}
	if a.TrackerID != "" {
		resp["tracker id"] = a.TrackerID
	}
	if a.Compact {
		v4, v6 := compactPeers(candidates)
		resp["peers"] = v4
		if len(v6) > 0 {
			resp["peers6"] = v6
		}
	} else {
		resp["peers"] = peerDicts(candidates, !a.NoPeerID)
	}
	t.log().Debug("announce", "info_hash", a.InfoHash, "ip", a.IP, "port", a.Port,
		"event", a.Event, "peers", len(candidates), "complete", complete, "incomplete", incomplete)
	t.reply(w, r, http.StatusOK, resp)
}

// swarmFromStore gives each peer of infoHash that an answer may list to
// visit, read from the store: the fresh peers and the server's seeders.
func (t *Tracker) swarmFromStore(ctx context.Context, infoHash string, now time.Time, interval time.Duration, visit func(*luna.TrackerPeer)) error {
	fresh, err := t.Store.PeersOf(ctx, infoHash, now.Add(-2*interval))
	if err != nil {
		return err
	}
	servers, err := t.Store.ServerPeers(ctx, infoHash, now.Add(-3*interval))
	if err != nil {
		return err
	}
	swarm := dedup(append(fresh, servers...))
	for i := range swarm {
		visit(&swarm[i])
	}
	return nil
}

// ServeScrape answers GET /scrape (BEP 48): for each info_hash asked for,
// or for every torrent with a recorded peer when none is, "files" maps the
// raw 20-byte info hash to complete (fresh seeders), incomplete (fresh
// leechers) and downloaded (recorded peers whose last event was
// "completed").
func (t *Tracker) ServeScrape(w http.ResponseWriter, r *http.Request) {
	q, ok := t.query(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	asked := q["info_hash"]
	hexes := make([]string, len(asked))
	for i, h := range asked {
		if len(h) != 20 {
			t.fail(w, r, fmt.Sprintf("info_hash must be 20 bytes, got %d", len(h)))
			return
		}
		hexes[i] = hex.EncodeToString([]byte(h))
	}
	set, err := t.settings(ctx)
	if err != nil {
		t.internal(w, r, fmt.Errorf("read tracker settings: %w", err))
		return
	}
	since := t.now().Add(-2 * time.Duration(set.Interval) * time.Second)
	counts, err := t.Store.ScrapeCounts(ctx, hexes, since)
	if err != nil {
		t.internal(w, r, err)
		return
	}
	if len(hexes) == 0 {
		for h := range counts {
			hexes = append(hexes, h)
		}
	}
	files := map[string]any{}
	for _, h := range hexes {
		raw, err := hex.DecodeString(h)
		if err != nil || len(raw) != 20 {
			continue // a document not written by this tracker
		}
		c := counts[h]
		files[string(raw)] = map[string]any{
			"complete":   c.Complete,
			"downloaded": c.Downloaded,
			"incomplete": c.Incomplete,
		}
	}
	t.reply(w, r, http.StatusOK, map[string]any{"files": files})
}

// ExpireLoop deletes the peers that have not announced for PeerExpiry,
// now and then every period, until ctx ends.
func (t *Tracker) ExpireLoop(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		n, err := t.Store.ExpirePeers(ctx, t.now().Add(-PeerExpiry))
		switch {
		case err != nil && ctx.Err() == nil:
			t.log().Warn("tracker: expire peers", "err", err)
		case n > 0:
			t.log().Debug("tracker: expired peers", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func allowGet(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet {
		return true
	}
	w.Header().Set("Allow", "GET")
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}

// fail answers a request the tracker refuses: HTTP 200 with a bencoded
// failure reason, which is what BitTorrent clients read (BEP 3).
func (t *Tracker) fail(w http.ResponseWriter, r *http.Request, reason string) {
	t.log().Debug("tracker: refused", "path", r.URL.Path, "remote", r.RemoteAddr, "reason", reason)
	t.reply(w, r, http.StatusOK, map[string]any{"failure reason": reason})
}

// internal answers a request the tracker could not serve (database or
// settings unavailable): HTTP 500, with a failure reason for clients that
// read the body anyway; the detail goes to the log only.
func (t *Tracker) internal(w http.ResponseWriter, r *http.Request, err error) {
	t.log().Error("tracker: "+r.URL.Path, "remote", r.RemoteAddr, "err", err)
	t.reply(w, r, http.StatusInternalServerError, map[string]any{"failure reason": "internal tracker error"})
}

func (t *Tracker) reply(w http.ResponseWriter, r *http.Request, status int, v map[string]any) {
	body, err := appendBencode(nil, v)
	if err != nil {
		t.log().Error("tracker: encode answer", "path", r.URL.Path, "err", err)
		http.Error(w, "internal tracker error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// clientIP is the address the request came from (see Tracker).
func (t *Tracker) clientIP(r *http.Request) string {
	if t.TrustProxyHeaders {
		if v := strings.TrimSpace(r.Header.Get("X-Real-IP")); v != "" {
			if a, err := netip.ParseAddr(v); err == nil {
				return a.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// fromThisHost reports whether client, the address a request came from,
// belongs to the tracker's own host.
func fromThisHost(r *http.Request, client string) bool {
	c, err := netip.ParseAddr(client)
	if err != nil {
		return false
	}
	c = c.Unmap()
	if c.IsLoopback() {
		return true
	}
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if host, _, err := net.SplitHostPort(la.String()); err == nil {
			if l, err := netip.ParseAddr(host); err == nil && l.Unmap() == c {
				return true
			}
		}
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if l, ok := netip.AddrFromSlice(n.IP); ok && l.Unmap() == c {
				return true
			}
		}
	}
	return false
}

// dedup keeps one document per ip:port (the newest) and drops peers whose
// last event was "stopped" (written by 1.2, which kept them).
func dedup(peers []luna.TrackerPeer) []luna.TrackerPeer {
	type key struct {
		ip   string
		port int
	}
	at := map[key]int{}
	out := peers[:0:0]
	for _, p := range peers {
		if p.Status == "stopped" {
			continue
		}
		k := key{p.IP, p.Port}
		if i, ok := at[k]; ok {
			if p.Updated.After(out[i].Updated) {
				out[i] = p
			}
			continue
		}
		at[k] = len(out)
		out = append(out, p)
	}
	return out
}

// compactPeers packs peers as BEP 23 (IPv4: 4 address + 2 port bytes) and
// BEP 7 (IPv6: 16 + 2) strings. Addresses that do not parse (not written by
// this tracker) are skipped.
func compactPeers(peers []luna.TrackerPeer) (v4, v6 []byte) {
	v4, v6 = []byte{}, []byte{}
	for _, p := range peers {
		a, err := netip.ParseAddr(p.IP)
		if err != nil || p.Port < 1 || p.Port > 65535 {
			continue
		}
		a = a.Unmap()
		if a.Is4() {
			v4 = append(v4, a.AsSlice()...)
			v4 = binary.BigEndian.AppendUint16(v4, uint16(p.Port))
		} else {
			v6 = append(v6, a.AsSlice()...)
			v6 = binary.BigEndian.AppendUint16(v6, uint16(p.Port))
		}
	}
	return v4, v6
}

// peerDicts is the BEP 3 list of {"peer id", "ip", "port"} dictionaries;
// "peer id" (the raw 20 bytes) is left out when not wanted or not known.
func peerDicts(peers []luna.TrackerPeer, withID bool) []any {
	out := make([]any, 0, len(peers))
	for _, p := range peers {
		d := map[string]any{"ip": p.IP, "port": p.Port}
		if withID {
			if id, err := hex.DecodeString(p.PeerID); err == nil && len(id) == 20 {
				d["peer id"] = id
			}
		}
		out = append(out, d)
	}
	return out
}

// PeerStore is where the tracker keeps its peers: a *luna.Service (lweb),
// or in tests and benches the store itself.
type PeerStore interface {
	UpsertPeer(ctx context.Context, p luna.TrackerPeer) error
	ReplacePeers(ctx context.Context, ids []luna.ID, docs []luna.TrackerPeer) error
	PeersOf(ctx context.Context, infoHash string, since time.Time) ([]luna.TrackerPeer, error)
	ServerPeers(ctx context.Context, infoHash string, since time.Time) ([]luna.TrackerPeer, error)
	DeletePeer(ctx context.Context, infoHash, ip string, port int) error
	ExpirePeers(ctx context.Context, before time.Time) (int64, error)
	ScrapeCounts(ctx context.Context, infoHashes []string, since time.Time) (map[string]luna.ScrapeCount, error)
}
