package luna

import (
	"context"
	"log/slog"
	"regexp"
	"sort"
	"time"

	"github.com/clustervision/luna-go/internal/store"
)

// What the CLI and the daemons see of the stored objects. They name object
// types and read object documents through package luna only; the store
// stays private to the Service (Service.st).
//
// The CLI holds luna's own types only (ClusterView, BMCSetupView, the
// *View types of each object, Text for the fields it edits):
// cli.TestNoStoreTypes type-checks internal/cli and fails on any
// expression whose type is declared in internal/store, aliases included.
// The aliases below stay for the daemons, which handle the stored records
// themselves and no rule of their own: lweb keeps the cluster settings and
// node documents in its boot cache (Cluster, Node) and batches status
// records (StatusUpdate, NodeStatus); lweb, the tracker and the MAC
// updater key their maps by document id (ID); the MAC updater writes
// LearnedMAC records and the tracker TrackerPeer records and ScrapeCount
// answers. These records carry no rule of the domain layer; a type of
// luna's own would be a field-for-field copy of each.

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
	Node         = store.Node
	NodeStatus   = store.NodeStatus
	ID           = store.ID
	StatusUpdate = store.StatusUpdate
	LearnedMAC   = store.LearnedMAC
)

// OpenOption changes how Open connects.
type OpenOption struct{ opt store.Option }

// WithCommandLog logs every database command with its duration on log at
// debug level (`luna --debug`).
func WithCommandLog(log *slog.Logger) OpenOption { return OpenOption{store.WithCommandLog(log)} }

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

// Tracker peers, as the BitTorrent tracker lweb serves stores them: they
// are not objects and have no rules of their own.
type (
	TrackerPeer = store.TrackerPeer
	ScrapeCount = store.ScrapeCount
)

// ServerPeerIDHex is the peer id (hex) the servers' seeders announce with.
const ServerPeerIDHex = store.ServerPeerIDHex

// PeerDocID is the id of the tracker document of a peer of infoHash at
// ip:port.
func PeerDocID(infoHash, ip string, port int) ID { return store.PeerDocID(infoHash, ip, port) }

// UpsertPeer records an announce of p.
func (s *Service) UpsertPeer(ctx context.Context, p TrackerPeer) error {
	return s.st.UpsertPeer(ctx, p)
}

// ReplacePeers stores docs in place of the documents ids name.
func (s *Service) ReplacePeers(ctx context.Context, ids []ID, docs []TrackerPeer) error {
	return s.st.ReplacePeers(ctx, ids, docs)
}

// PeersOf lists the peers of infoHash announced since since.
func (s *Service) PeersOf(ctx context.Context, infoHash string, since time.Time) ([]TrackerPeer, error) {
	return s.st.PeersOf(ctx, infoHash, since)
}

// ServerPeers lists the servers' seeders of infoHash announced since since.
func (s *Service) ServerPeers(ctx context.Context, infoHash string, since time.Time) ([]TrackerPeer, error) {
	return s.st.ServerPeers(ctx, infoHash, since)
}

// DeletePeer forgets the peer of infoHash at ip:port (it announced stopped).
func (s *Service) DeletePeer(ctx context.Context, infoHash, ip string, port int) error {
	return s.st.DeletePeer(ctx, infoHash, ip, port)
}

// ExpirePeers forgets the peers not announced since before; it says how
// many went.
func (s *Service) ExpirePeers(ctx context.Context, before time.Time) (int64, error) {
	return s.st.ExpirePeers(ctx, before)
}

// ScrapeCounts counts seeders and leechers of each of infoHashes announced
// since since.
func (s *Service) ScrapeCounts(ctx context.Context, infoHashes []string, since time.Time) (map[string]ScrapeCount, error) {
	return s.st.ScrapeCounts(ctx, infoHashes, since)
}

// Names returns the names of the objects of one type (Networks ...
// OtherDevs) that start with prefix, sorted: what shell completion offers.
// Only the names are read.
func (s *Service) Names(ctx context.Context, kind, prefix string) ([]string, error) {
	switch kind {
	case Networks, OSImages, BMCSetups, Groups, Nodes, Switches, OtherDevs:
	default:
		return nil, Errorf("Unknown object type %q", kind)
	}
	names, err := s.st.NamesMatching(ctx, kind, regexp.MustCompile("^"+regexp.QuoteMeta(prefix)))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}
