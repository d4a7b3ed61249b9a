package btclient

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// webSeedLoop fetches pieces over HTTP (BEP 19) while the peers do not
// deliver: every missing piece once no peer has sent a block for
// WebSeedAfter (at the start: no peer yet), and at any time after the
// first WebSeedAfter the pieces no connected peer has.
func (c *client) webSeedLoop(ctx context.Context) {
	if len(c.webSeeds) == 0 {
		return
	}
	hc := c.httpClient(0)
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	failures := 0
	seed := 0
	for !c.isComplete() {
		pieces := c.claimForWebSeed(start)
		if len(pieces) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-c.completed:
				return
			case <-tick.C:
			case <-c.wakeWebSeed:
			}
			continue
		}
		url := c.webSeeds[seed%len(c.webSeeds)]
		err := c.fetchPieces(ctx, hc, url, pieces)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			seed++
			if failures == 1 || failures%10 == 0 {
				fmt.Fprintf(c.out, "ltorrent-client: web seed %s: %v\n", url, err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(min(time.Duration(failures), 5) * time.Second):
			}
			continue
		}
		failures = 0
	}
}

// claimForWebSeed chooses up to 4 MiB of consecutive missing pieces for
// one HTTP range, marks them as the web seed's and returns them.
func (c *client) claimForWebSeed(start time.Time) []*activePiece {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	stalled := now.Sub(c.lastBlock) > c.cfg.WebSeedAfter
	if !stalled && now.Sub(start) <= c.cfg.WebSeedAfter {
		return nil
	}
	// A piece is the web seed's to take when no connected peer has it,
	// or when the peers are stalled; an active piece only when no block
	// of it is on the way.
	anyPeerHas := func(i int) bool {
		for p := range c.peers {
			if p.has.get(i) {
				return true
			}
		}
		return false
	}
	takeable := func(i int) (*activePiece, bool) {
		if c.have.get(i) {
			return nil, false
		}
		ap := c.findActive(i)
		if ap != nil {
			if ap.webSeed || ap.verify {
				return nil, false
			}
			for b := range ap.state {
				if ap.reqs[b] > 0 || ap.state[b] == blockWriting {
					return nil, false
				}
			}
		}
		if !stalled && anyPeerHas(i) {
			return nil, false
		}
		return ap, true
	}
	first := -1
	if !stalled {
		// Pieces no peer has: prefer the ones not started.
		first = c.pickNew(func(i int) bool { _, ok := takeable(i); return ok })
	} else {
		first = c.pickNew(func(int) bool { return true })
	}
	if first < 0 {
		for _, ap := range c.active {
			if _, ok := takeable(ap.index); ok {
				first = ap.index
				break
			}
		}
	}
	if first < 0 {
		return nil
	}
	var out []*activePiece
	limit := max(1, int((4<<20)/c.pieceLen))
	for i := first; i < c.numPieces && len(out) < limit; i++ {
		ap, ok := takeable(i)
		if !ok {
			break
		}
		if ap == nil {
			ap = c.startPiece(i, true)
		} else {
			for b := range ap.state {
				ap.state[b] = blockMissing
			}
			ap.done, ap.cursor, ap.contribs, ap.webSeed = 0, 0, nil, true
		}
		out = append(out, ap)
	}
	return out
}

// fetchPieces gets the pieces (consecutive) with one range request,
// verifying and writing each as it arrives. Pieces not fetched are given
// back to the peers.
func (c *client) fetchPieces(ctx context.Context, hc *http.Client, url string, pieces []*activePiece) (err error) {
	next := 0
	defer func() {
		c.mu.Lock()
		for _, ap := range pieces[next:] {
			ap.webSeed = false
		}
		c.refillAll()
		c.mu.Unlock()
	}()
	from := int64(pieces[0].index) * c.pieceLen
	to := int64(pieces[len(pieces)-1].index)*c.pieceLen + int64(len(pieces[len(pieces)-1].buf))
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second+time.Duration((to-from)>>16)*time.Second/16)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", from, to-1))
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body := io.Reader(resp.Body)
	switch resp.StatusCode {
	case http.StatusPartialContent:
	case http.StatusOK: // the server ignored the range
		if _, err := io.CopyN(io.Discard, body, from); err != nil {
			return err
		}
	default:
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	for next < len(pieces) {
		ap := pieces[next]
		if _, err := io.ReadFull(body, ap.buf); err != nil {
			return err
		}
		c.downloaded.Add(int64(len(ap.buf)))
		now := time.Now()
		c.event(EventFirstByte, now, map[string]any{"from": "web seed"})
		c.mu.Lock()
		ap.verify = true
		ap.lastAt = now
		c.mu.Unlock()
		next++
		c.finishPiece(ap)
	}
	return nil
}
