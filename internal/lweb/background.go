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

// startBackground starts lweb's periodic work that is not tied to requests.
func startBackground(ctx context.Context, srv *Server, svc *luna.Service, log *slog.Logger) *background {
	return &background{}
}
