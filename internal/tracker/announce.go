package tracker

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// DefaultNumWant is the number of peers given to a client that does not
// send numwant (or sends a negative one), as in Luna 1.2.
const DefaultNumWant = 50

// Announce is one parsed announce request.
type Announce struct {
	// InfoHash and PeerID are the 20 raw bytes as 40 lower-case hex
	// digits, the form stored in the tracker collection.
	InfoHash string
	PeerID   string
	// IP is the address the request came from (the remoteIP given to
	// ParseAnnounce), in canonical form; IPv4-mapped IPv6 addresses are
	// unmapped. Tracker.ServeAnnounce may replace it with ClaimedIP.
	IP string
	// ClaimedIP is the ip parameter when it is a literal IPv4 or IPv6
	// address other than an unspecified one (0.0.0.0, ::), canonical;
	// otherwise empty (host names and garbage are ignored).
	ClaimedIP string
	Port      int
	// Uploaded, Downloaded and Left are byte counts; Left may be
	// math.MaxInt64, which anacrolix sends when the size is unknown.
	Uploaded, Downloaded, Left int64
	// Event is "started", "completed", "stopped", "paused" (BEP 21) or
	// empty ("empty" is read as empty, as BEP 3 allows).
	Event string
	// NumWant is the number of peers asked for, or -1 when numwant is
	// absent or negative (a request for the default). A value too large
	// for an int is math.MaxInt, so that it fails the limit check.
	NumWant int
	// Compact is true unless compact=0 was sent (BEP 23).
	Compact bool
	// NoPeerID asks to leave "peer id" out of a non-compact peer list.
	NoPeerID bool
	// TrackerID is echoed back as "tracker id" when not empty.
	TrackerID string
}

// ParseAnnounce reads an announce query. remoteIP is the address the
// request came from; it becomes IP. The value of a repeated parameter is
// its last one, as in Luna 1.2. info_hash and peer_id are raw bytes
// (already percent-decoded in query). The error, when not nil, is the
// message for the client's "failure reason".
//
// ParseAnnounce checks the request on its own; the numwant limit, which
// depends on the tracker's settings, is Settings.PeerCount's.
func ParseAnnounce(query url.Values, remoteIP string) (Announce, error) {
	var a Announce
	addr, err := netip.ParseAddr(remoteIP)
	if err != nil {
		return a, fmt.Errorf("cannot tell the address of the request (%s)", quote(remoteIP))
	}
	a.IP = addr.Unmap().WithZone("").String()

	if a.InfoHash, err = hash20(query, "info_hash"); err != nil {
		return a, err
	}
	if a.PeerID, err = hash20(query, "peer_id"); err != nil {
		return a, err
	}

	port, ok := last(query, "port")
	if !ok || port == "" {
		return a, errors.New("missing port")
	}
	p, err := strconv.Atoi(strings.TrimSpace(port))
	if err != nil || p < 1 || p > 65535 {
		return a, fmt.Errorf("port must be an integer from 1 to 65535, got %s", quote(port))
	}
	a.Port = p

	if ip, ok := last(query, "ip"); ok {
		if c, err := netip.ParseAddr(strings.TrimSpace(ip)); err == nil && !c.IsUnspecified() {
			a.ClaimedIP = c.Unmap().WithZone("").String()
		}
	}

	for _, f := range []struct {
		name string
		to   *int64
	}{{"uploaded", &a.Uploaded}, {"downloaded", &a.Downloaded}, {"left", &a.Left}} {
		v, ok := last(query, f.name)
		if !ok || v == "" {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 {
			return a, fmt.Errorf("%s must be a non-negative integer, got %s", f.name, quote(v))
		}
		*f.to = n
	}

	switch ev, _ := last(query, "event"); ev {
	case "", "empty":
	case "started", "completed", "stopped", "paused":
		a.Event = ev
	default:
		return a, fmt.Errorf("event must be started, completed, stopped, paused or empty, got %s", quote(ev))
	}

	a.NumWant = -1
	if v, ok := last(query, "numwant"); ok && v != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if errors.Is(err, strconv.ErrRange) {
			err = nil // n is the int64 limit of the right sign
		}
		if err != nil {
			return a, fmt.Errorf("numwant must be an integer, got %s", quote(v))
		}
		if n >= 0 {
			a.NumWant = int(min(n, math.MaxInt))
		}
	}

	if a.Compact, err = flag(query, "compact", true); err != nil {
		return a, err
	}
	if a.NoPeerID, err = flag(query, "no_peer_id", false); err != nil {
		return a, err
	}
	a.TrackerID, _ = last(query, "trackerid")
	return a, nil
}

// last returns the last value of a parameter.
func last(q url.Values, key string) (string, bool) {
	vs := q[key]
	if len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

// hash20 reads a 20-byte binary parameter as lower-case hex.
func hash20(q url.Values, key string) (string, error) {
	v, ok := last(q, key)
	if !ok {
		return "", fmt.Errorf("missing %s", key)
	}
	if len(v) != 20 {
		return "", fmt.Errorf("%s must be 20 bytes, got %d", key, len(v))
	}
	return hex.EncodeToString([]byte(v)), nil
}

// flag reads a 0/1 parameter; any other integer counts as 1.
func flag(q url.Values, key string, def bool) (bool, error) {
	v, ok := last(q, key)
	if !ok || v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return false, fmt.Errorf("%s must be 0 or 1, got %s", key, quote(v))
	}
	return n != 0, nil
}

// quote shows a client's value in a failure reason, shortened so that a
// long value cannot blow up the answer.
func quote(s string) string {
	const max = 32
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
