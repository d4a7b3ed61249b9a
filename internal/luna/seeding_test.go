package luna

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clustervision/luna-go/internal/store"
)

// TestSeedingSettings: defaults, the HA bind address (the local one of
// cluster_ips, never the floating frontend_address), and the errors.
func TestSeedingSettings(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestService(t)
	got, err := s.SeedingSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Seeding{TorrentsDir: "/opt/luna/torrents", BindIP: "10.40.0.254", PortMin: 7052, PortMax: 7200,
		SoftTimeout: 600 * time.Second, HardTimeout: 3600 * time.Second, Pidfile: "/run/luna/ltorrent.pid"}
	if *got != want {
		t.Errorf("defaults: %+v, want %+v", *got, want)
	}

	c, _ := s.Cluster(ctx)
	local := map[string]bool{"10.40.0.2": true}
	s.IsLocalIP = func(ip string) bool { return local[ip] }
	if err := s.st.Set(ctx, store.Clusters, c.ID, map[string]any{"cluster_ips": "10.40.0.1,10.40.0.2",
		"torrent_soft_timeout": 5, "torrent_hard_timeout": 7}); err != nil {
		t.Fatal(err)
	}
	got, err = s.SeedingSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.BindIP != "10.40.0.2" || got.SoftTimeout != 5*time.Second || got.HardTimeout != 7*time.Second {
		t.Errorf("HA: %+v, want bind 10.40.0.2, timeouts 5s and 7s", *got)
	}
	local = map[string]bool{}
	if _, err := s.SeedingSettings(ctx); err == nil || !strings.Contains(err.Error(), "none of cluster_ips") {
		t.Errorf("no local cluster IP: %v", err)
	}
}

// TestReferencedTorrents: the ids the osimages name, and the marker moves
// when one changes.
func TestReferencedTorrents(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestService(t)
	for _, n := range []string{"a", "b", "c"} {
		root := tree(t, "lib/modules/6.1.0-1-amd64/", "boot/vmlinuz-6.1.0-1-amd64")
		if err := s.AddOSImage(ctx, n, root, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	m0, err := s.SeedingMarker(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for n, id := range map[string]string{"a": "t-a", "b": "t-b"} {
		oid, _ := s.IDOf(ctx, store.OSImages, n)
		if err := s.st.Set(ctx, store.OSImages, oid, map[string]any{"torrent": id}); err != nil {
			t.Fatal(err)
		}
	}
	refs, err := s.ReferencedTorrents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(refs)); !slices.Equal(got, []string{"t-a", "t-b"}) {
		t.Errorf("referenced = %v, want [t-a t-b]", got)
	}
	if m1, _ := s.SeedingMarker(ctx); m1 == m0 {
		t.Errorf("the marker did not move after osimage changes")
	}
}
