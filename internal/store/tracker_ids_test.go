package store_test

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/clustervision/luna-go/internal/store"
	"github.com/clustervision/luna-go/internal/testutil"
)

// A new peer's document has the derived _id; a document of the same peer
// under another _id (written by Luna 1.2) is updated and deleted in place.
func TestPeerDocIDs(t *testing.T) {
	ctx := context.Background()
	st, _ := testutil.Store(t)
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	if store.PeerDocID(hashA, "10.0.0.1", 6881) == store.PeerDocID(hashA, "10.0.0.1", 6882) ||
		store.PeerDocID(hashA, "10.0.0.1", 6881) != store.PeerDocID(hashA, "10.0.0.1", 6881) {
		t.Fatal("PeerDocID is not a function of (info_hash, ip, port)")
	}

	if err := st.UpsertPeer(ctx, peer(hashA, "10.0.0.1", 6881, nodeA, t0, 100, "started")); err != nil {
		t.Fatal(err)
	}
	got, err := st.PeersOf(ctx, hashA, time.Time{})
	if err != nil || len(got) != 1 || got[0].ID != store.PeerDocID(hashA, "10.0.0.1", 6881) {
		t.Fatalf("peers %+v, %v", got, err)
	}

	legacy := bson.NewObjectID()
	if err := st.Insert(ctx, store.Tracker, bson.D{{Key: "_id", Value: legacy}, {Key: "info_hash", Value: hashA},
		{Key: "ip", Value: "10.0.0.2"}, {Key: "port", Value: 6881}, {Key: "peer_id", Value: nodeA},
		{Key: "updated", Value: t0}, {Key: "left", Value: int64(100)}, {Key: "status", Value: "started"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertPeer(ctx, peer(hashA, "10.0.0.2", 6881, nodeA, t0.Add(time.Second), 10, "")); err != nil {
		t.Fatal(err)
	}
	got, err = st.PeersOf(ctx, hashA, t0.Add(time.Second))
	if err != nil || len(got) != 1 || got[0].ID != legacy || got[0].Left != 10 || got[0].Status != "started" {
		t.Fatalf("legacy peer after an announce %+v, %v", got, err)
	}
	if n, _ := st.Count(ctx, store.Tracker); n != 2 {
		t.Fatalf("%d documents, want 2", n)
	}
	if err := st.DeletePeer(ctx, hashA, "10.0.0.2", 6881); err != nil {
		t.Fatal(err)
	}
	if err := st.DeletePeer(ctx, hashA, "10.0.0.1", 6881); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.Count(ctx, store.Tracker); n != 0 {
		t.Fatalf("%d documents left", n)
	}
}
