package luna

import (
	"context"
	"log/slog"
	"time"

	"github.com/clustervision/luna-go/internal/store"
)

// What the CLI and the daemons see of the stored objects. They name object
// types and read object documents through package luna only; the store
// stays private to the Service (Service.st).

// Object types, as `luna <object>` and error messages name them.
const (
	Clusters  = store.Clusters
	Networks  = store.Networks
	OSImages  = store.OSImages
	BMCSetups = store.BMCSetups
	Groups    = store.Groups
	Nodes     = store.Nodes
	Switches  = store.Switches
	OtherDevs = store.OtherDevs
)

// Object documents, as stored.
type (
	Cluster      = store.Cluster
	BMCSetup     = store.BMCSetup
	ID           = store.ID
	StatusUpdate = store.StatusUpdate
	LearnedMAC   = store.LearnedMAC
)

// OpenOption changes how Open connects.
type OpenOption = store.Option

// WithCommandLog logs every database command with its duration on log at
// debug level (`luna --debug`).
func WithCommandLog(log *slog.Logger) OpenOption { return store.WithCommandLog(log) }

// ListBMCSetups returns every bmcsetup.
func (s *Service) ListBMCSetups(ctx context.Context) ([]BMCSetup, error) {
	var all []BMCSetup
	err := s.st.List(ctx, store.BMCSetups, &all)
	return all, err
}

// ChangeMarker is a value that changes after every change of an object
// (not of statuses, tracker peers or learned MACs): lweb polls it to know
// when its boot data are stale.
func (s *Service) ChangeMarker(ctx context.Context) (string, error) { return s.st.ChangeMarker(ctx) }

// SetNodeStatuses stores what booting nodes reported (their last step and
// the token of their boot), many at once.
func (s *Service) SetNodeStatuses(ctx context.Context, ups []StatusUpdate) error {
	return s.st.SetNodeStatuses(ctx, ups)
}

// UpsertLearnedMAC records a MAC a switch reports on a port; it says
// whether the entry is new.
func (s *Service) UpsertLearnedMAC(ctx context.Context, m LearnedMAC) (bool, error) {
	return s.st.UpsertLearnedMAC(ctx, m)
}

// ExpireLearnedMACs forgets what the switches last reported before before;
// it says how many entries went.
func (s *Service) ExpireLearnedMACs(ctx context.Context, before time.Time) (int64, error) {
	return s.st.ExpireLearnedMACs(ctx, before)
}

// TrackerStore is the store of the BitTorrent tracker lweb serves: its
// peers are not objects and have no rules of their own.
func (s *Service) TrackerStore() *store.Store { return s.st }
