package lweb

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clustervision/luna-go/internal/luna"
	"github.com/clustervision/luna-go/internal/macupdater"
	"github.com/clustervision/luna-go/internal/tracker"
)

// newTracker builds the BitTorrent tracker over the tracker collection,
// with the cluster's tracker_* settings.
func newTracker(srv *Server, svc *luna.Service, log *slog.Logger) *tracker.Tracker {
	return &tracker.Tracker{
		Store: svc,
		Settings: func(ctx context.Context) (tracker.Settings, error) {
			c, _, err := srv.settings(ctx)
			if err != nil {
				return tracker.Settings{}, err
			}
			return tracker.Settings{Interval: c.TrackerInterval, MinInterval: c.TrackerMinInterval, MaxPeers: c.TrackerMaxPeers}, nil
		},
		Now:               srv.now,
		Log:               log,
		TrustProxyHeaders: srv.TrustProxy,
	}
}

// When running (Server.Start), the tracker answers from its copy of each
// torrent's peers, kept up to date with the announces it records, and reads
// the copy from the store again every trackerCopyTTL (only another lweb on
// the same database writes there); it stores announces every
// trackerFlushEvery, in one deletion and one insertion per torrent (see
// tracker.Tracker.SwarmTTL). On lunadb each of those, like every read of the
// copy, costs one scan of the tracker collection, where storing each
// announce at once cost one scan per announce.
const (
	trackerCopyTTL    = 30 * time.Second
	trackerFlushEvery = 5 * time.Second
)

// exportUpdater exports the switch MAC updater's counters (it runs every
// 30 s, only while this host holds the frontend address).
func (s *Server) exportUpdater(upd *macupdater.Updater) {
	s.init()
	s.metrics.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "luna_macupdater_passes_total",
			Help: "Passes of the switch MAC updater."}, func() float64 { return float64(upd.Stats().Passes) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "luna_macupdater_learned_total",
			Help: "New MAC addresses learned from switches."}, func() float64 { return float64(upd.Stats().Learned) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "luna_macupdater_failures_total",
			Help: "Switches that could not be read."}, func() float64 { return float64(upd.Stats().Failures) }),
	)
}
