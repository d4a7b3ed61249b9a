package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/clustervision/luna-go/internal/store"
	"github.com/clustervision/luna-go/internal/testutil"
)

const (
	hashA = "0123456789abcdef0123456789abcdef01234567"
	hashB = "89abcdef0123456789abcdef0123456789abcdef"
	nodeA = "2020202020202020206e6f64652d612e6c756e61"
)

func peer(hash, ip string, port int, peerID string, updated time.Time, left int64, status string) store.TrackerPeer {
	return store.TrackerPeer{InfoHash: hash, IP: ip, Port: port, PeerID: peerID, Updated: updated, Left: left, Status: status}
}

func TestUpsertPeerKeepsOneDocumentPerAddress(t *testing.T) {
	ctx := context.Background()
	st, _ := testutil.Store(t)
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

	if err := st.UpsertPeer(ctx, peer(hashA, "10.0.0.1", 6881, nodeA, t0, 100, "started")); err != nil {
		t.Fatal(err)
	}
	// A periodic announce without an event keeps the last event.
	p := peer(hashA, "10.0.0.1", 6881, nodeA, t0.Add(10*time.Second), 40, "")
	p.Downloaded, p.Uploaded = 60, 7
	if err := st.UpsertPeer(ctx, p); err != nil {
		t.Fatal(err)
	}
	// Another port of the same address, and the same address for another torrent, are other peers.
	if err := st.UpsertPeer(ctx, peer(hashA, "10.0.0.1", 6882, nodeA, t0, 100, "")); err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertPeer(ctx, peer(hashB, "10.0.0.1", 6881, nodeA, t0, 100, "")); err != nil {
		t.Fatal(err)
	}
	n, err := st.Count(ctx, store.Tracker)
	if err != nil || n != 3 {
		t.Fatalf("count = %d, %v; want 3", n, err)
	}
	got, err := st.PeersOf(ctx, hashA, t0.Add(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("fresh peers = %+v; want the one updated at t0+10s", got)
	}
	g := got[0]
	if g.Port != 6881 || g.Left != 40 || g.Downloaded != 60 || g.Uploaded != 7 || g.Status != "started" ||
		!g.Updated.Equal(t0.Add(10*time.Second)) || g.PeerID != nodeA || g.ID.IsZero() {
		t.Errorf("peer = %+v", g)
	}
}

func TestUpsertPeerConcurrentFirstAnnounces(t *testing.T) {
	ctx := context.Background()
	st, _ := testutil.Store(t)
	now := time.Now().UTC()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- st.UpsertPeer(ctx, peer(hashA, "10.0.0.9", 6881, nodeA, now, int64(i), "started"))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("upsert: %v", err)
		}
	}
	n, err := st.CountWhere(ctx, store.Tracker, "ip", "10.0.0.9")
	if err != nil || n != 1 {
		t.Fatalf("documents for the peer = %d, %v; want 1", n, err)
	}
}

func TestServerPeersDeleteAndExpire(t *testing.T) {
	ctx := context.Background()
	st, _ := testutil.Store(t)
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, p := range []store.TrackerPeer{
		peer(hashA, "10.0.0.254", 7052, store.ServerPeerIDHex, t0, 0, "started"),
		peer(hashA, "10.0.0.253", 0, store.ServerPeerIDHex, t0, 0, "started"), // no port: never a server peer
		peer(hashA, "10.0.0.252", 7053, store.ServerPeerIDHex, t0.Add(-time.Minute), 0, ""),
		peer(hashB, "10.0.0.254", 7052, store.ServerPeerIDHex, t0, 0, "started"),
		peer(hashA, "10.0.0.1", 6881, nodeA, t0, 5, "started"),
	} {
		if err := st.UpsertPeer(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	sp, err := st.ServerPeers(ctx, hashA, t0.Add(-30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(sp) != 1 || sp[0].IP != "10.0.0.254" {
		t.Fatalf("server peers = %+v", sp)
	}

	if err := st.DeletePeer(ctx, hashA, "10.0.0.1", 6881); err != nil {
		t.Fatal(err)
	}
	if err := st.DeletePeer(ctx, hashA, "10.0.0.1", 6881); err != nil {
		t.Fatalf("deleting an absent peer: %v", err)
	}
	all, _ := st.PeersOf(ctx, hashA, time.Time{})
	if len(all) != 3 {
		t.Fatalf("peers of A after delete = %d, want 3", len(all))
	}

	n, err := st.ExpirePeers(ctx, t0.Add(-30*time.Second))
	if err != nil || n != 1 {
		t.Fatalf("expired %d, %v; want 1", n, err)
	}
	n, err = st.ExpirePeers(ctx, t0.Add(time.Second))
	if err != nil || n != 3 {
		t.Fatalf("expired %d, %v; want 3", n, err)
	}
	if c, _ := st.Count(ctx, store.Tracker); c != 0 {
		t.Fatalf("%d peers left", c)
	}
}

func TestLatestPeerByPeerID(t *testing.T) {
	ctx := context.Background()
	st, _ := testutil.Store(t)
	if _, err := st.LatestPeerByPeerID(ctx, nodeA); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for i, ip := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"} {
		at := t0.Add(time.Duration([]int{5, 20, 10}[i]) * time.Second)
		if err := st.UpsertPeer(ctx, peer(hashA, ip, 6881, nodeA, at, int64(i), "")); err != nil {
			t.Fatal(err)
		}
	}
	p, err := st.LatestPeerByPeerID(ctx, nodeA)
	if err != nil {
		t.Fatal(err)
	}
	if p.IP != "10.0.0.2" || !p.Updated.Equal(t0.Add(20*time.Second)) {
		t.Fatalf("latest = %+v", p)
	}
}

func TestScrapeCounts(t *testing.T) {
	ctx := context.Background()
	st, _ := testutil.Store(t)
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for i, p := range []store.TrackerPeer{
		peer(hashA, "10.0.0.254", 7052, store.ServerPeerIDHex, t0, 0, "started"), // seeder
		peer(hashA, "10.0.0.1", 6881, nodeA, t0, 0, "completed"),                 // seeder, a download
		peer(hashA, "10.0.0.2", 6881, nodeA, t0, 10, "started"),                  // leecher
		peer(hashA, "10.0.0.3", 6881, nodeA, t0.Add(-time.Hour), 0, "completed"), // stale, a download
		peer(hashB, "10.0.0.2", 6881, nodeA, t0, 10, ""),                         // leecher of B
	} {
		if err := st.UpsertPeer(ctx, p); err != nil {
			t.Fatalf("peer %d: %v", i, err)
		}
	}
	since := t0.Add(-20 * time.Second)
	got, err := st.ScrapeCounts(ctx, []string{hashA}, since)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(map[string]store.ScrapeCount{hashA: {Complete: 2, Incomplete: 1, Downloaded: 2}}) {
		t.Errorf("scrape A = %+v", got)
	}
	got, err = st.ScrapeCounts(ctx, nil, since)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[hashB] != (store.ScrapeCount{Incomplete: 1}) {
		t.Errorf("scrape all = %+v", got)
	}
}
