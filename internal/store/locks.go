package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Locks is the collection of object locks: one document per locked object.
const Locks = "locks"

// lockStale is how old a lock may get before another writer takes it over
// (its holder died): far longer than any change of one object takes.
const lockStale = 30 * time.Second

// ErrLocked is returned by Lock when the object stayed locked.
var ErrLocked = errors.New("locked by another writer")

type lockDoc struct {
	Key   string    `bson:"_id"`
	Since time.Time `bson:"since"`
}

// Lock serializes the writers of one object (key, e.g. "group/<id>") across
// processes: an update on FerretDB rewrites the whole document and is not
// atomic, so two administrators changing one group at once would lose one
// change. Inserting the lock document is atomic (the unique _id decides);
// the loser waits and retries until wait has passed. A lock older than
// lockStale is taken over. The returned function releases the lock.
func (s *Store) Lock(ctx context.Context, key string, wait time.Duration) (func(), error) {
	coll := s.db.Collection(Locks)
	deadline := time.Now().Add(wait)
	for {
		_, err := coll.InsertOne(ctx, lockDoc{Key: key, Since: time.Now().UTC()})
		if err == nil {
			return func() {
				// Not the caller's context: the lock must go even when it is cancelled.
				dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_, _ = coll.DeleteOne(dctx, bson.M{"_id": key})
			}, nil
		}
		if !isDup(err) {
			return nil, fmt.Errorf("lock %s: %w", key, err)
		}
		var held lockDoc
		if err := coll.FindOne(ctx, bson.M{"_id": key}).Decode(&held); err == nil && time.Since(held.Since) > lockStale {
			_, _ = coll.DeleteOne(ctx, bson.M{"_id": key, "since": held.Since})
			continue
		}
		if time.Now().After(deadline) {
			return nil, ErrLocked
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(20+rand.IntN(30)) * time.Millisecond):
		}
	}
}
