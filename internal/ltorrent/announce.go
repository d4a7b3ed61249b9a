package ltorrent

import (
	"context"
	"log/slog"
	"net"
	"net/url"
	"time"

	"github.com/anacrolix/dht/v2/krpc"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/tracker"
)

// ServerPeerID is the seeder's peer id, which lweb's tracker recognises
// (spec daemons-and-boot §6.7).
const ServerPeerID = "lunalunalunalunaluna"

// The seeder announces itself rather than through anacrolix's tracker
// client, which waits at least a minute between announces: lweb's tracker
// hands the server peer out only while it announced within 3 ×
// tracker_interval (30 s by default), so the server would be missing from
// half of the answers. The announcer follows the tracker's interval, and
// says `stopped` when the torrent is retired or ltorrent stops.
const (
	defaultInterval = 30 * time.Second // when the tracker names none
	minInterval     = 2 * time.Second
	maxInterval     = 30 * time.Minute
	retryAfter      = 10 * time.Second // after a failed announce
	stoppedTimeout  = 5 * time.Second  // for the last announce
)

// announcer announces one seeded torrent to its trackers.
type announcer struct {
	urls     []string
	infoHash metainfo.Hash
	ip       net.IP
	port     int
	uploaded func() int64
	log      *slog.Logger
}

// trackerURLs are the HTTP(S) trackers of a torrent, each once.
func trackerURLs(mi *metainfo.MetaInfo) []string {
	var out []string
	seen := map[string]bool{}
	add := func(u string) {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || seen[u] {
			return
		}
		seen[u] = true
		out = append(out, u)
	}
	add(mi.Announce)
	for _, tier := range mi.AnnounceList {
		for _, u := range tier {
			add(u)
		}
	}
	return out
}

// run announces to every tracker until ctx ends, then announces `stopped`
// to those that heard `started`.
func (a *announcer) run(ctx context.Context) {
	done := make(chan struct{})
	for _, u := range a.urls {
		go func() {
			defer func() { done <- struct{}{} }()
			a.loop(ctx, u)
		}()
	}
	for range a.urls {
		<-done
	}
}

func (a *announcer) loop(ctx context.Context, u string) {
	log := a.log.With("tracker", u)
	event := tracker.Started
	failing := false
	for {
		wait := retryAfter
		res, err := a.announce(ctx, u, event)
		switch {
		case ctx.Err() != nil:
		case err != nil:
			if !failing {
				log.Warn("announce failed; retrying every 10s", "err", err)
			}
			failing = true
		default:
			if failing || event == tracker.Started {
				log.Info("announced", "event", event.String(), "peers", len(res.Peers), "interval", res.Interval)
			}
			failing = false
			event = tracker.None
			wait = time.Duration(res.Interval) * time.Second
			if wait == 0 {
				wait = defaultInterval
			}
			wait = min(max(wait, minInterval), maxInterval)
		}
		select {
		case <-ctx.Done():
			if event == tracker.Started {
				return // the tracker never heard of us
			}
			sctx, cancel := context.WithTimeout(context.Background(), stoppedTimeout)
			_, err := a.announce(sctx, u, tracker.Stopped)
			cancel()
			if err != nil {
				log.Warn("announce stopped failed", "err", err)
			} else {
				log.Info("announced", "event", "stopped")
			}
			return
		case <-time.After(wait):
		}
	}
}

func (a *announcer) announce(ctx context.Context, u string, event tracker.AnnounceEvent) (tracker.AnnounceResponse, error) {
	req := tracker.AnnounceRequest{
		InfoHash: a.infoHash,
		Uploaded: a.uploaded(),
		Left:     0,
		Event:    event,
		NumWant:  -1,
		Port:     uint16(a.port),
	}
	copy(req.PeerId[:], ServerPeerID)
	ann := tracker.Announce{
		TrackerUrl: u,
		Request:    req,
		UserAgent:  "ltorrent (Luna)",
		Context:    ctx,
	}
	if ip4 := a.ip.To4(); ip4 != nil {
		ann.ClientIp4 = krpc.NodeAddr{IP: ip4, Port: a.port}
	} else if a.ip != nil {
		ann.ClientIp6 = krpc.NodeAddr{IP: a.ip, Port: a.port}
	}
	tctx, cancel := context.WithTimeout(ctx, tracker.DefaultTrackerAnnounceTimeout)
	defer cancel()
	ann.Context = tctx
	return ann.Do()
}
