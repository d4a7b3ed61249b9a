package lweb

import (
	"context"
	"log/slog"
	"time"

	"github.com/clustervision/luna-go/internal/luna"
	"github.com/clustervision/luna-go/internal/tracker"
)

// newTracker builds the BitTorrent tracker over the tracker collection,
// with the cluster's tracker_* settings.
func newTracker(srv *Server, svc *luna.Service, log *slog.Logger) *tracker.Tracker {
	return &tracker.Tracker{
		Store: svc.St,
		Settings: func(ctx context.Context) (tracker.Settings, error) {
			c, _, err := srv.settings(ctx)
			if err != nil {
				return tracker.Settings{}, err
			}
			return tracker.Settings{Interval: c.TrackerInterval, MinInterval: c.TrackerMinInterval, MaxPeers: c.TrackerMaxPeers}, nil
		},
		Now:               time.Now,
		Log:               log,
		TrustProxyHeaders: srv.TrustProxy,
	}
}

// startBackground mounts the tracker and starts its expiry loop.
func startBackground(ctx context.Context, srv *Server, svc *luna.Service, log *slog.Logger) *background {
	bg := &background{}
	tr := newTracker(srv, svc, log)
	srv.Announce, srv.Scrape = tr.ServeAnnounce, tr.ServeScrape
	bg.run(func() { tr.ExpireLoop(ctx, time.Minute) })
	return bg
}
