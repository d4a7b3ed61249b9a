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

// DefaultLease is how long a lock outlives its holder: the holder renews it
// every DefaultLease/4, and a waiter that sees no renewal for a whole lease,
// measured on its own clock, takes the lock over (its holder died).
const DefaultLease = 3 * time.Second

// ErrLocked is returned by Lock when the object stayed locked.
var ErrLocked = errors.New("locked by another writer")

// ErrLockLost cancels a holder's context when its lock was taken over
// (it could not renew it for a whole lease).
var ErrLockLost = errors.New("the object's lock was lost (not renewed in time) and taken over by another writer")

type lockDoc struct {
	Key   string    `bson:"_id"`
	Owner string    `bson:"owner"` // a fresh token per acquisition
	Beat  int64     `bson:"beat"`  // bumped by every renewal
	Since time.Time `bson:"since"` // for people reading the collection only
}

// takeoverDoc is inserted by the one waiter that removes a dead holder's
// lock; its unique _id makes sure two waiters never both do.
type takeoverDoc struct {
	Key string `bson:"_id"`
}

// Held is a lock this process holds.
type Held struct {
	// TookOver: the lock was taken over from a holder that stopped renewing
	// it (it died), whose change may be half done.
	TookOver bool

	s      *Store
	key    string
	owner  string
	cancel context.CancelCauseFunc
	done   chan struct{}
}

// Lock serializes the writers of one object (key, e.g. "group/<id>") across
// processes: an update on FerretDB rewrites the whole document and is not
// atomic, so two administrators changing one group at once would lose one
// change. Inserting the lock document is atomic (the unique _id decides);
// the loser waits and retries until wait has passed.
//
// The lock carries a token of its own (Owner) and is released only by its
// owner. While it is held it is renewed every lease/4 (Beat changes); a
// waiter that sees the same Owner and Beat for a whole lease on its own
// monotonic clock takes the lock over, so no two hosts' clocks are ever
// compared. The returned context is ctx, cancelled with ErrLockLost when a
// renewal finds the lock taken over; Release stops the renewal and deletes
// the lock if it is still this holder's.
func (s *Store) Lock(ctx context.Context, key string, wait, lease time.Duration) (context.Context, *Held, error) {
	if lease <= 0 {
		lease = DefaultLease
	}
	coll := s.db.Collection(Locks)
	owner := NewID().Hex()
	deadline := time.Now().Add(wait)
	var seen lockDoc
	var seenAt time.Time
	tookOver := false
	for {
		_, err := coll.InsertOne(ctx, lockDoc{Key: key, Owner: owner, Since: time.Now().UTC()})
		if err == nil {
			lctx, h, err := s.hold(ctx, key, owner, lease)
			h.TookOver = tookOver
			return lctx, h, err
		}
		if !isDup(err) {
			return ctx, nil, fmt.Errorf("lock %s: %w", key, err)
		}
		var cur lockDoc
		err = coll.FindOne(ctx, bson.M{"_id": key}).Decode(&cur)
		switch {
		case isNoDocs(err):
			continue // released between the insert and the read
		case err != nil:
			return ctx, nil, fmt.Errorf("lock %s: %w", key, err)
		case cur.Owner != seen.Owner || cur.Beat != seen.Beat || seenAt.IsZero():
			seen, seenAt = cur, time.Now() // alive, or new to us: watch it for a lease
		case time.Since(seenAt) > lease:
			// One attempt per further lease, should a waiter die while it
			// takes the lock over.
			attempt := int(time.Since(seenAt)/lease) - 1
			won, err := s.takeOver(ctx, key, cur, attempt)
			if err != nil {
				return ctx, nil, err
			}
			tookOver = tookOver || won
		}
		if time.Now().After(deadline) {
			return ctx, nil, ErrLocked
		}
		select {
		case <-ctx.Done():
			return ctx, nil, ctx.Err()
		case <-time.After(time.Duration(20+rand.IntN(30)) * time.Millisecond):
		}
	}
}

// takeOver removes the lock of a holder that stopped renewing it. Only the
// waiter whose takeover document is stored deletes it: two waiters that saw
// the same dead holder never both delete (the second could otherwise delete
// the first one's fresh lock on a store whose deletes are not atomic). If
// the waiter that won dies before it deletes the dead lock, the next lease
// is another attempt with another takeover document.
func (s *Store) takeOver(ctx context.Context, key string, dead lockDoc, attempt int) (bool, error) {
	tk := s.db.Collection(Locks)
	tid := fmt.Sprintf("%s/takeover/%s/%d", key, dead.Owner, attempt)
	if _, err := tk.InsertOne(ctx, takeoverDoc{Key: tid}); err != nil {
		if isDup(err) {
			return false, nil // another waiter is taking it over
		}
		return false, fmt.Errorf("lock %s: take over: %w", key, err)
	}
	_, err := tk.DeleteOne(ctx, bson.M{"_id": key, "owner": dead.Owner})
	if err != nil {
		return false, fmt.Errorf("lock %s: take over: %w", key, err)
	}
	// The dead holder's lock is gone: its takeover document has done its
	// job. A waiter that saw the same holder and comes later finds a lock
	// with another owner, so removing it now is safe.
	_, _ = tk.DeleteOne(context.WithoutCancel(ctx), bson.M{"_id": tid})
	return true, nil
}

// hold starts the renewal of a lock just taken.
func (s *Store) hold(ctx context.Context, key, owner string, lease time.Duration) (context.Context, *Held, error) {
	lctx, cancel := context.WithCancelCause(ctx)
	h := &Held{s: s, key: key, owner: owner, cancel: cancel, done: make(chan struct{})}
	go h.renew(context.WithoutCancel(ctx), lease)
	return lctx, h, nil
}

// renew bumps the lock's Beat every lease/4 until Release. If the lock is no
// longer this holder's (taken over after the holder stalled for a lease),
// the holder's context is cancelled with ErrLockLost.
func (h *Held) renew(ctx context.Context, lease time.Duration) {
	coll := h.s.db.Collection(Locks)
	t := time.NewTicker(lease / 4)
	defer t.Stop()
	for beat := int64(1); ; beat++ {
		select {
		case <-h.done:
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, lease/2)
		res, err := coll.UpdateOne(rctx, bson.M{"_id": h.key, "owner": h.owner}, bson.M{"$set": bson.M{"beat": beat}})
		cancel()
		if err == nil && res.MatchedCount == 0 {
			h.cancel(fmt.Errorf("%s: %w", h.key, ErrLockLost))
			return
		}
		// A failed renewal (the database did not answer) is retried at the
		// next tick; a waiter takes over only after a whole lease.
	}
}

// Release stops the renewal and deletes the lock if it is still this
// holder's. It runs even when the holder's context was cancelled, and says
// why the lock could not be removed (it then expires after one lease).
func (h *Held) Release() error {
	select {
	case <-h.done:
		return nil // released already
	default:
	}
	close(h.done)
	defer h.cancel(context.Canceled)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := h.s.db.Collection(Locks).DeleteOne(ctx, bson.M{"_id": h.key, "owner": h.owner}); err != nil {
		return fmt.Errorf("release the lock of %s: %w", h.key, err)
	}
	return nil
}
