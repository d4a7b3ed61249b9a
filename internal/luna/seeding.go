package luna

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/clustervision/luna-go/internal/store"
)

// Seeding is what the seeder (ltorrent) needs from the cluster document.
type Seeding struct {
	// TorrentsDir is <path>/torrents, where osimage pack writes the
	// tarballs and their .torrent files.
	TorrentsDir string
	// BindIP is the address to listen and announce on: in HA (cluster_ips
	// set) the one of cluster_ips configured on this host, else
	// frontend_address.
	BindIP           string
	PortMin, PortMax int
	// SoftTimeout retires an unreferenced torrent that long after its last
	// upload, HardTimeout that long after it stopped being referenced.
	SoftTimeout, HardTimeout time.Duration
	Pidfile                  string
}

// Seeding defaults, those of Luna 1.2's ltorrent.
const (
	DefaultTorrentSoftTimeout = 600 * time.Second
	DefaultTorrentHardTimeout = 3600 * time.Second
	DefaultTorrentPidfile     = "/run/luna/ltorrent.pid"
)

// SeedingSettings reads the seeder's settings from the cluster document.
func (s *Service) SeedingSettings(ctx context.Context) (*Seeding, error) {
	c, err := s.Cluster(ctx)
	if err != nil {
		return nil, err
	}
	path := c.Path
	if path == "" {
		path = "/opt/luna"
	}
	o := &Seeding{
		TorrentsDir: filepath.Join(path, "torrents"),
		PortMin:     c.TorrentListenPortMin,
		PortMax:     c.TorrentListenPortMax,
		SoftTimeout: time.Duration(c.TorrentSoftTimeout) * time.Second,
		HardTimeout: time.Duration(c.TorrentHardTimeout) * time.Second,
		Pidfile:     c.TorrentPidfile,
	}
	if o.PortMin == 0 && o.PortMax == 0 {
		o.PortMin, o.PortMax = 7052, 7200
	}
	if o.PortMin < 1 || o.PortMax > 65535 || o.PortMin > o.PortMax {
		return nil, fmt.Errorf("torrent_listen_port_min %d and torrent_listen_port_max %d are not a port range", o.PortMin, o.PortMax)
	}
	if o.SoftTimeout <= 0 {
		o.SoftTimeout = DefaultTorrentSoftTimeout
	}
	if o.HardTimeout <= 0 {
		o.HardTimeout = DefaultTorrentHardTimeout
	}
	if o.Pidfile == "" {
		o.Pidfile = DefaultTorrentPidfile
	}
	if c.ClusterIPs == "" {
		if c.FrontendAddress == "" {
			return nil, errors.New("the cluster has no frontend_address: set it with luna cluster change --frontend_address")
		}
		o.BindIP = c.FrontendAddress
		return o, nil
	}
	for _, ip := range strings.Split(c.ClusterIPs, ",") {
		if ip = strings.TrimSpace(ip); ip != "" && s.IsLocalIP(ip) {
			o.BindIP = ip
			return o, nil
		}
	}
	return nil, fmt.Errorf("none of cluster_ips %s is an address of this host", c.ClusterIPs)
}

// SeedingMarker is a value that changes whenever an object (an osimage
// among them) changes; the seeder reads the referenced torrents again when
// it moves.
func (s *Service) SeedingMarker(ctx context.Context) (string, error) {
	return s.st.ChangeMarker(ctx)
}

// ReferencedTorrents returns the torrent ids (the .torrent files' base
// names) that some osimage refers to.
func (s *Service) ReferencedTorrents(ctx context.Context) (map[string]bool, error) {
	var imgs []struct {
		Torrent string `bson:"torrent"`
	}
	if err := s.st.List(ctx, store.OSImages, &imgs); err != nil {
		return nil, fmt.Errorf("list the osimages' torrents: %w", err)
	}
	out := make(map[string]bool, len(imgs))
	for _, img := range imgs {
		if img.Torrent != "" {
			out[img.Torrent] = true
		}
	}
	return out, nil
}

// Downloading counts, per torrent (hex info hash), the peers the tracker
// recorded as still missing data (left > 0) that announced within its
// freshness window (2 × tracker_interval): nodes that still download the
// torrent, from peers or from the web seed. Torrents without such peers
// are absent. The tracker stores announces in batches (docs/tracker.md),
// so this lags by up to 5 s.
func (s *Service) Downloading(ctx context.Context, infoHashes []string) (map[string]int, error) {
	if len(infoHashes) == 0 {
		return map[string]int{}, nil
	}
	c, err := s.Cluster(ctx)
	if err != nil {
		return nil, err
	}
	interval := c.TrackerInterval
	if interval <= 0 {
		interval = 10
	}
	since := s.Now().Add(-2 * time.Duration(interval) * time.Second)
	counts, err := s.st.ScrapeCounts(ctx, infoHashes, since)
	if err != nil {
		return nil, fmt.Errorf("read the tracker's peers: %w", err)
	}
	out := map[string]int{}
	for h, n := range counts {
		if n.Incomplete > 0 {
			out[h] = n.Incomplete
		}
	}
	return out, nil
}
