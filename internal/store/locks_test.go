package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/clustervision/luna-go/internal/store"
	"github.com/clustervision/luna-go/internal/testutil"
)

const testLease = 400 * time.Millisecond

func TestLock(t *testing.T) {
	ctx := context.Background()
	st, _ := testutil.Store(t)
	_, a, err := st.Lock(ctx, "group/a", time.Second, testLease)
	if err != nil {
		t.Fatal(err)
	}
	// Held and renewed: a second writer waits, then gives up with ErrLocked,
	// even after several leases.
	start := time.Now()
	if _, _, err := st.Lock(ctx, "group/a", 4*testLease, testLease); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second lock: %v, want ErrLocked (a renewed lock must not be taken over)", err)
	}
	if d := time.Since(start); d < 4*testLease {
		t.Fatalf("gave up after %s, before the wait", d)
	}
	// Another object is independent.
	_, b, err := st.Lock(ctx, "group/b", time.Second, testLease)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Release(); err != nil {
		t.Fatal(err)
	}
	// Released: the next writer gets it at once.
	if err := a.Release(); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(); err != nil {
		t.Fatalf("second release: %v", err)
	}
	start = time.Now()
	_, a2, err := st.Lock(ctx, "group/a", 100*time.Millisecond, testLease)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	if d := time.Since(start); d > testLease/2 {
		t.Fatalf("a released lock took %s to get", d)
	}
	if a2.TookOver {
		t.Error("Held.TookOver is true for a lock that was released")
	}
	if err := a2.Release(); err != nil {
		t.Fatal(err)
	}
	if n, err := st.Count(ctx, store.Locks); err != nil || n != 0 {
		t.Fatalf("%d locks left (%v)", n, err)
	}
}

// TestLockDeadHolder: a lock whose holder died (no renewal) is taken over
// after one lease on the waiter's own clock, whatever time the lock says it
// was taken (here: one hour in the future, as a host with a fast clock
// would write it).
func TestLockDeadHolder(t *testing.T) {
	ctx := context.Background()
	st, db := testutil.Store(t)
	locks := driver(t).Database(db).Collection(store.Locks)
	if _, err := locks.InsertOne(ctx, bson.M{"_id": "group/c", "owner": "dead", "beat": 7, "since": time.Now().Add(time.Hour).UTC()}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, h, err := st.Lock(ctx, "group/c", 10*testLease, testLease)
	if err != nil {
		t.Fatalf("dead holder's lock not taken over: %v", err)
	}
	if d := time.Since(start); d < testLease || d > 3*testLease {
		t.Fatalf("taken over after %s, want between one and three leases (%s)", d, testLease)
	}
	if !h.TookOver {
		t.Error("Held.TookOver is false after taking a dead holder's lock over")
	}
	if err := h.Release(); err != nil {
		t.Fatal(err)
	}
	// A waiter that died while taking a lock over (its takeover document
	// stored, the dead lock not yet deleted) delays the next one by a lease.
	if _, err := locks.InsertMany(ctx, []any{
		bson.M{"_id": "group/d", "owner": "dead2", "beat": 0},
		bson.M{"_id": "group/d/takeover/dead2/0"},
	}); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	_, h, err = st.Lock(ctx, "group/d", 10*testLease, testLease)
	if err != nil {
		t.Fatalf("lock with a dead taker not taken over: %v", err)
	}
	if d := time.Since(start); d > 4*testLease {
		t.Fatalf("taken over after %s, want at most four leases", d)
	}
	if err := h.Release(); err != nil {
		t.Fatal(err)
	}
	var left []bson.M
	cur, err := locks.Find(ctx, bson.M{"_id": bson.M{"$in": bson.A{"group/c", "group/d"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := cur.All(ctx, &left); err != nil || len(left) != 0 {
		t.Fatalf("locks left: %v (%v)", left, err)
	}
}

// TestLockOwner: a holder whose lock was taken over learns it (its context
// is cancelled with ErrLockLost) and its release leaves the new holder's
// lock alone.
func TestLockOwner(t *testing.T) {
	ctx := context.Background()
	st, db := testutil.Store(t)
	locks := driver(t).Database(db).Collection(store.Locks)
	hctx, h, err := st.Lock(ctx, "group/e", time.Second, testLease)
	if err != nil {
		t.Fatal(err)
	}
	// Another writer took it over (as after this holder stalled for a lease).
	if _, err := locks.UpdateOne(ctx, bson.M{"_id": "group/e"}, bson.M{"$set": bson.M{"owner": "other"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-hctx.Done():
		if !errors.Is(context.Cause(hctx), store.ErrLockLost) {
			t.Fatalf("holder's context ended with %v, want ErrLockLost", context.Cause(hctx))
		}
	case <-time.After(testLease):
		t.Fatal("holder's context not cancelled within a lease of losing its lock")
	}
	if err := h.Release(); err != nil {
		t.Fatal(err)
	}
	var d struct {
		Owner string `bson:"owner"`
	}
	if err := locks.FindOne(ctx, bson.M{"_id": "group/e"}).Decode(&d); err != nil || d.Owner != "other" {
		t.Fatalf("the new holder's lock: owner %q, %v; a former holder must not release it", d.Owner, err)
	}
}
