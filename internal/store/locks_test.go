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

func TestLock(t *testing.T) {
	ctx := context.Background()
	st, db := testutil.Store(t)
	unlock, err := st.Lock(ctx, "group/a", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Held: a second writer waits, then gives up with ErrLocked.
	start := time.Now()
	if _, err := st.Lock(ctx, "group/a", 200*time.Millisecond); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second lock: %v, want ErrLocked", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("gave up after %s, before the wait", d)
	}
	// Another object is independent.
	unlockB, err := st.Lock(ctx, "group/b", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	unlockB()
	// Released: the next writer gets it at once.
	unlock()
	unlock2, err := st.Lock(ctx, "group/a", 100*time.Millisecond)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	unlock2()
	// A lock left by a writer that died is taken over once stale.
	if _, err := driver(t).Database(db).Collection(store.Locks).InsertOne(ctx,
		bson.M{"_id": "group/c", "since": time.Now().Add(-time.Minute).UTC()}); err != nil {
		t.Fatal(err)
	}
	unlock3, err := st.Lock(ctx, "group/c", 100*time.Millisecond)
	if err != nil {
		t.Fatalf("stale lock not taken over: %v", err)
	}
	unlock3()
	if n, err := st.Count(ctx, store.Locks); err != nil || n != 0 {
		t.Fatalf("%d locks left (%v)", n, err)
	}
}
