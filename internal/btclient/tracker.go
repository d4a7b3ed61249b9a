package btclient

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/anacrolix/torrent/bencode"
)

// trackerAnswer is the part of an announce answer the client uses.
type trackerAnswer struct {
	Failure     string        `bencode:"failure reason"`
	Interval    int           `bencode:"interval"`
	MinInterval int           `bencode:"min interval"`
	Peers       bencode.Bytes `bencode:"peers"`
	Peers6      bencode.Bytes `bencode:"peers6"`
}

func (c *client) httpClient(timeout time.Duration) *http.Client {
	d := c.dialer
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                 nil, // the cluster network, never a proxy
			DialContext:           d.DialContext,
			ResponseHeaderTimeout: 15 * time.Second,
			MaxIdleConnsPerHost:   2,
		},
	}
}

// announceLoop announces "started" at once, then at the tracker's
// interval (sooner, but never before its min interval, while no peer is
// connected during the download), "completed" as soon as the file is
// complete and "stopped" when ctx ends.
func (c *client) announceLoop(ctx context.Context) {
	if c.announce == "" {
		return
	}
	hc := c.httpClient(20 * time.Second)
	event := "started"
	sentCompleted := c.isComplete() // a seeder from the start does not say "completed"
	interval, minInterval := 30*time.Second, 5*time.Second
	var lastOK time.Time
	failures := 0
	for {
		a, err := c.announceOnce(ctx, hc, event)
		if ctx.Err() != nil {
			break
		}
		wait := interval
		if err != nil {
			failures++
			if failures == 1 || failures%10 == 0 {
				fmt.Fprintf(c.out, "ltorrent-client: announce to %s: %v\n", c.announce, err)
			}
			wait = min(time.Duration(failures)*2*time.Second, 30*time.Second)
		} else {
			failures = 0
			lastOK = time.Now()
			if n, err := parsePeers(a.Peers, 6); err == nil {
				c.event(EventAnnounce, lastOK, map[string]any{"peers": len(n)})
			}
			if event == "completed" {
				sentCompleted = true
			}
			event = ""
			if a.Interval > 0 {
				interval = time.Duration(a.Interval) * time.Second
			}
			if a.MinInterval > 0 {
				minInterval = time.Duration(a.MinInterval) * time.Second
			}
			wait = interval
			c.addPeers(ctx, a)
		}
		// Wait for the next announce.
		t := time.NewTimer(wait)
		for waiting := true; waiting; {
			var completed <-chan struct{}
			if !sentCompleted && event == "" {
				completed = c.completed
			}
			select {
			case <-ctx.Done():
				t.Stop()
				waiting = false
			case <-t.C:
				waiting = false
			case <-completed:
				// An event, not a re-announce: sent at once.
				event = "completed"
				t.Stop()
				waiting = false
			case <-c.wakeAnn:
				c.mu.Lock()
				lonely := len(c.peers) == 0 && !c.isComplete()
				c.mu.Unlock()
				if lonely && err == nil {
					t.Reset(max(0, time.Until(lastOK.Add(minInterval))))
				}
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	// "stopped", with a short deadline of its own.
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, _ = c.announceOnce(sctx, hc, "stopped")
}

func (c *client) announceOnce(ctx context.Context, hc *http.Client, event string) (*trackerAnswer, error) {
	u, err := url.Parse(c.announce)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("only HTTP trackers are supported, not %q", u.Scheme)
	}
	c.mu.Lock()
	left := c.length - int64(c.haveCount)*c.pieceLen
	if c.have.get(c.numPieces - 1) {
		left += c.pieceLen - c.pieceSize(c.numPieces-1)
	}
	c.mu.Unlock()
	q := u.Query()
	q.Set("info_hash", string(c.infoHash[:]))
	q.Set("peer_id", string(c.cfg.PeerID[:]))
	q.Set("port", strconv.Itoa(c.port))
	q.Set("uploaded", strconv.FormatInt(c.uploaded.Load(), 10))
	q.Set("downloaded", strconv.FormatInt(c.downloaded.Load(), 10))
	q.Set("left", strconv.FormatInt(max(0, left), 10))
	q.Set("compact", "1")
	q.Set("numwant", "200")
	if event != "" {
		q.Set("event", event)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	var a trackerAnswer
	if err := bencode.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("HTTP %d, not a tracker answer: %.80q", resp.StatusCode, body)
	}
	if a.Failure != "" {
		return nil, fmt.Errorf("tracker: %s", a.Failure)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return &a, nil
}

// addPeers records the peers of an answer and connects to the new ones.
func (c *client) addPeers(ctx context.Context, a *trackerAnswer) {
	addrs, err := parsePeers(a.Peers, 6)
	if err != nil {
		fmt.Fprintf(c.out, "ltorrent-client: tracker peers: %v\n", err)
	}
	if len(a.Peers6) > 0 {
		if more, err := parsePeers(a.Peers6, 18); err == nil {
			addrs = append(addrs, more...)
		}
	}
	c.mu.Lock()
	for _, ap := range addrs {
		if ap.Port() == 0 || c.banned[ap.Addr()] >= 2 {
			continue
		}
		if ap.Port() == uint16(c.port) && isLocal(ap.Addr()) {
			continue // ourselves
		}
		k := ap.String()
		if c.known[k] == nil {
			c.known[k] = &peerAddr{addr: k}
		}
	}
	c.mu.Unlock()
	c.connectPeers(ctx)
}

// connectPeers dials every known peer that is not connected.
func (c *client) connectPeers(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for _, pa := range c.known {
		if pa.connecting || pa.connected || now.Before(pa.nextTry) || len(c.peers) >= maxPeers {
			continue
		}
		if ap, err := netip.ParseAddrPort(pa.addr); err == nil && c.banned[ap.Addr().Unmap()] >= 2 {
			continue
		}
		pa.connecting = true
		go func() {
			conn, err := c.dialer.DialContext(ctx, "tcp", pa.addr)
			if err != nil {
				c.mu.Lock()
				pa.connecting = false
				pa.failures++
				pa.nextTry = time.Now().Add(time.Duration(min(pa.failures, 6)) * 5 * time.Second)
				c.mu.Unlock()
				return
			}
			c.runPeer(ctx, conn, true, pa)
		}()
	}
}

func (c *client) acceptLoop(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() { c.listener.Close() })
	defer stop()
	for {
		conn, err := c.listener.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		go c.runPeer(ctx, conn, false, nil)
	}
}

// parsePeers reads a compact peer string (size 6 for IPv4, 18 for IPv6)
// or a BEP 3 list of dictionaries.
func parsePeers(raw bencode.Bytes, size int) ([]netip.AddrPort, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var out []netip.AddrPort
	if raw[0] == 'l' {
		var list []struct {
			IP   string `bencode:"ip"`
			Port int    `bencode:"port"`
		}
		if err := bencode.Unmarshal(raw, &list); err != nil {
			return nil, err
		}
		for _, d := range list {
			if a, err := netip.ParseAddr(d.IP); err == nil && d.Port > 0 && d.Port < 65536 {
				out = append(out, netip.AddrPortFrom(a.Unmap(), uint16(d.Port)))
			}
		}
		return out, nil
	}
	var s string
	if err := bencode.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	if len(s)%size != 0 {
		return nil, fmt.Errorf("compact peers of %d bytes", len(s))
	}
	for i := 0; i < len(s); i += size {
		a, _ := netip.AddrFromSlice([]byte(s[i : i+size-2]))
		out = append(out, netip.AddrPortFrom(a.Unmap(), binary.BigEndian.Uint16([]byte(s[i+size-2:i+size]))))
	}
	return out, nil
}

func isLocal(a netip.Addr) bool {
	if a.IsLoopback() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, x := range addrs {
		if n, ok := x.(*net.IPNet); ok {
			if l, ok := netip.AddrFromSlice(n.IP); ok && l.Unmap() == a {
				return true
			}
		}
	}
	return false
}
