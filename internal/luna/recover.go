package luna

import (
	"context"

	"github.com/clustervision/luna-go/internal/store"
)

// recoverNode puts in order what a `node change` that was killed half-way
// (SIGKILL, a crash, a power cut: no rollback ran) left on this node, before
// the next change of the node goes on; it runs under the node's lock.
//
// A change writes in an order that makes this possible: a new address is
// claimed, then the node's addrs copy is written, then the old claim is
// released. So when the claims and the copy disagree, a slot with two
// claims keeps the one the copy names (what the last completed change
// stored) and syncNodeClaims settles the rest (a group move cut short:
// claims on the old group's networks go, missing ones are allocated).
func (s *Service) recoverNode(ctx context.Context, nd *store.Node) error {
	claims, err := s.st.FindAddresses(ctx, store.AddressFilter{Owner: &nd.ID, Kind: store.KindNode})
	if err != nil {
		return err
	}
	if store.EncodeNodeAddrs(claims) == nd.Addrs {
		return nil
	}
	stored := map[string]bool{}
	for _, a := range store.NodeAddrs(nd) {
		stored[a.Iface+"/"+a.Network.Hex()+"/"+a.Offset] = true
	}
	bySlot := map[slotKey][]store.Address{}
	for _, a := range claims {
		k := slotKey{a.Iface, a.Network}
		bySlot[k] = append(bySlot[k], a)
	}
	var drop []store.Address
	for _, cl := range bySlot {
		keep := -1
		for i, a := range cl {
			if stored[a.Iface+"/"+a.Network.Hex()+"/"+a.Offset] {
				keep = i
			}
		}
		if len(cl) < 2 || keep < 0 {
			continue // one claim, or none stored: syncNodeClaims decides
		}
		for i, a := range cl {
			if i != keep {
				drop = append(drop, a)
			}
		}
	}
	if err := s.releaseAddresses(ctx, drop); err != nil {
		return err
	}
	return s.syncNodeClaims(ctx, nd.Group, []store.ID{nd.ID})
}
