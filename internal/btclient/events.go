package btclient

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// The events of a download, each written at most once as one JSON line
// to Config.Events (ltorrent-client -e), "event" first:
// {"event":"announce","t":UNIX_MS,"s":SECONDS_SINCE_START,"peers":3}.
// They give a node's timeline (bench/swarm): when the first tracker
// answer came, the first peer was connected, the first and the last
// block of the file arrived and the file was verified.
const (
	EventStart      = "start"       // the client is listening, the download starts
	EventAnnounce   = "announce"    // the first successful tracker answer (with "peers")
	EventPeer       = "peer"        // the first peer connection (handshake done)
	EventFirstByte  = "first_byte"  // the first block of the file received (peer or web seed)
	EventFirstPiece = "first_piece" // the first piece verified (from then on the node can serve others)
	EventLastByte   = "last_byte"   // the last missing block received
	EventVerified   = "verified"    // every piece verified and written: the file is complete
)

// eventLog writes each event once.
type eventLog struct {
	mu   sync.Mutex
	seen map[string]bool
}

// event writes event name at time at (zero: now) unless it was written
// before; extra fields are added to the line. Safe without client.mu.
func (c *client) event(name string, at time.Time, extra map[string]any) {
	e := &c.events
	if c.cfg.Events == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.seen[name] {
		return
	}
	if e.seen == nil {
		e.seen = map[string]bool{}
	}
	e.seen[name] = true
	if at.IsZero() {
		at = time.Now()
	}
	// "event" first, so a reader can pick the lines out by their start.
	b := fmt.Appendf(nil, `{"event":%q,"t":%d,"s":%.3f`, name, at.UnixMilli(), at.Sub(c.started).Seconds())
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		v, _ := json.Marshal(extra[k])
		b = fmt.Appendf(b, ",%q:%s", k, v)
	}
	b = append(b, '}')
	_, _ = c.cfg.Events.Write(append(b, '\n'))
}
