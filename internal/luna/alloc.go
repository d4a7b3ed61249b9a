package luna

import (
	"context"
	"errors"

	"github.com/clustervision/luna-go/internal/ipam"
	"github.com/clustervision/luna-go/internal/store"
)

// ifaceClaim says which owner wants an address on which interface.
type ifaceClaim struct {
	Owner store.ID
	Iface string
}

// allocateMany claims the lowest free addresses of network n, one per
// request, in order. It reads the network once and inserts the claims in
// batches; a duplicate key (another writer won that address) marks the
// offset used and the rest of the batch is retried with the next free ones.
// On failure the claims it made are released and nothing is left behind.
func (s *Service) allocateMany(ctx context.Context, n *store.Network, kind string, reqs []ifaceClaim) ([]store.Address, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	sub, err := subnet(n)
	if err != nil {
		return nil, err
	}
	set, err := s.usedSet(ctx, n, sub)
	if err != nil {
		return nil, err
	}
	var done []store.Address
	fail := func(err error) ([]store.Address, error) {
		ids := make([]store.ID, len(done))
		for i, a := range done {
			ids[i] = a.ID
		}
		_ = s.St.DeleteIDs(ctx, store.Addresses, ids)
		return nil, err
	}
	for retries := 0; len(reqs) > 0; retries++ {
		if retries > maxClaimRetries {
			return fail(Failf("Cannot get next IP in network '%s': too many concurrent allocations", n.Name))
		}
		batch := make([]store.Address, 0, len(reqs))
		offs := make([]ipam.Offset, 0, len(reqs))
		off, ok := set.Lowest()
		for i := 0; i < len(reqs) && ok; i++ {
			batch = append(batch, store.Address{ID: store.NewID(), Network: n.ID, Offset: off.Key(),
				Kind: kind, Owner: reqs[i].Owner, Iface: reqs[i].Iface})
			offs = append(offs, off)
			off, ok = set.LowestAfter(off)
		}
		if len(batch) < len(reqs) {
			return fail(Failf("Cannot get next IP. No free IPs available in network '%s'", n.Name))
		}
		docs := make([]any, len(batch))
		for i := range batch {
			docs[i] = batch[i]
		}
		k, err := s.St.InsertMany(ctx, store.Addresses, docs)
		done = append(done, batch[:k]...)
		for i := 0; i < k; i++ {
			set.Add(offs[i])
		}
		reqs = reqs[k:]
		if err == nil {
			continue
		}
		if !errors.Is(err, store.ErrExists) {
			return fail(err)
		}
		set.Add(offs[k]) // taken by someone else
	}
	return done, nil
}

// releaseAddresses deletes claims by id.
func (s *Service) releaseAddresses(ctx context.Context, addrs []store.Address) error {
	ids := make([]store.ID, len(addrs))
	for i, a := range addrs {
		ids[i] = a.ID
	}
	return s.St.DeleteIDs(ctx, store.Addresses, ids)
}
