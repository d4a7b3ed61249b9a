package luna

import (
	"context"
	"errors"
	"fmt"
	"sort"

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
		return nil, s.undo(ctx, err, fmt.Sprintf("%d address claims in network '%s'", len(ids), n.Name),
			func(ctx context.Context) error { return s.st.DeleteIDs(ctx, store.Addresses, ids) })
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
		k, err := s.st.InsertMany(ctx, store.Addresses, docs)
		if err != nil && !errors.Is(err, store.ErrExists) {
			k = len(batch) // interrupted or lost: any of them may be stored
		}
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
	if err := s.confirmNetwork(ctx, n); err != nil {
		return fail(err)
	}
	return done, nil
}

// releaseAddresses deletes claims by id.
func (s *Service) releaseAddresses(ctx context.Context, addrs []store.Address) error {
	ids := make([]store.ID, len(addrs))
	for i, a := range addrs {
		ids[i] = a.ID
	}
	return s.st.DeleteIDs(ctx, store.Addresses, ids)
}

// maxSyncPasses bounds syncNodeClaims on a group that keeps changing.
const maxSyncPasses = 20

// maxSyncOwners is the most nodes whose claims syncNodeClaims selects by
// owner; above it one scan of every node claim is cheaper on FerretDB,
// which tests each document against every element of an $in.
const maxSyncOwners = 100

// slotKey is one network of one group interface: a node has one address there.
type slotKey struct {
	iface string
	net   store.ID
}

// syncNodeClaims makes the address claims of nodes match their group as it
// is stored now: one address on every network of every interface, none on a
// network or interface the group no longer has, none for a node that is
// gone. Where two writers both gave a node an address in the same place the
// lowest is kept, so writers that disagree converge.
//
// Every change of a group's interface networks (setnet) and of its nodes
// (add, move) ends with it. A claim is written only after its node is in the
// group, and delnet, interface delete and node delete remove the group's
// reference or the node before its claims, so whichever of two concurrent
// writers syncs last sees the writes of both. It reads the group, then the
// claims, then the nodes, and loops until a pass changes nothing.
//
// With owners nil it covers every node of the group and every claim on the
// group's interfaces; otherwise the given nodes, skipping those that are now
// in another group.
func (s *Service) syncNodeClaims(ctx context.Context, groupID store.ID, owners []store.ID) error {
	mine := map[store.ID]bool{}
	for _, id := range owners {
		mine[id] = true
	}
	for pass := 0; ; pass++ {
		if pass == maxSyncPasses {
			return Failf("The interfaces of the group keep changing; try again")
		}
		var g store.Group
		if err := s.st.GetByID(ctx, store.Groups, groupID, &g); err != nil {
			return err
		}
		slots, ifaceIDs := groupSlots(&g)
		// Claims before nodes: a claim read here has its node in the list read below.
		claims, err := s.syncClaims(ctx, owners, mine, ifaceIDs)
		if err != nil {
			return err
		}
		m, err := s.syncMembers(ctx, groupID, owners, mine)
		if err != nil {
			return err
		}
		drop, held := m.sortClaims(claims, owners == nil, slots)
		wants := missingClaims(&g, m.ids, held)
		if len(drop) == 0 && len(wants) == 0 {
			return s.writeAddrCopies(ctx, m.nodes, m.member, held)
		}
		if err := s.releaseAddresses(ctx, drop); err != nil {
			return err
		}
		for _, w := range wants {
			var n store.Network
			if err := s.st.GetByID(ctx, store.Networks, w.key.net, &n); err != nil {
				return err
			}
			if _, err := s.allocateMany(ctx, &n, store.KindNode, w.reqs); err != nil {
				return err
			}
		}
	}
}

// groupSlots are the (interface, network) places where each node of g has
// one address, and the ids of g's interfaces.
func groupSlots(g *store.Group) (map[slotKey]bool, map[string]bool) {
	slots := map[slotKey]bool{}
	ifaceIDs := map[string]bool{}
	for _, ifc := range g.Interfaces {
		ifaceIDs[ifc.ID] = true
		for _, n := range []*store.ID{ifc.Network4, ifc.Network6} {
			if n != nil {
				slots[slotKey{ifc.ID, *n}] = true
			}
		}
	}
	return slots, ifaceIDs
}

// syncClaims reads the node claims syncNodeClaims looks at: those on the
// group's interfaces (owners nil), or those of the owners.
func (s *Service) syncClaims(ctx context.Context, owners []store.ID, mine map[store.ID]bool, ifaceIDs map[string]bool) ([]store.Address, error) {
	if owners != nil && len(owners) <= maxSyncOwners {
		return s.st.FindAddresses(ctx, store.AddressFilter{Kind: store.KindNode, Owners: owners})
	}
	all, err := s.st.FindAddresses(ctx, store.AddressFilter{Kind: store.KindNode}) // one scan instead of a long $in
	if err != nil {
		return nil, err
	}
	var claims []store.Address
	for _, a := range all {
		if (owners == nil && ifaceIDs[a.Iface]) || (owners != nil && mine[a.Owner]) {
			claims = append(claims, a)
		}
	}
	return claims, nil
}

// syncSet is what syncNodeClaims knows of the nodes: those read, the members
// it settles (in name order) and which nodes exist at all.
type syncSet struct {
	nodes  []store.Node
	member map[store.ID]bool
	exists map[store.ID]bool
	ids    []store.ID
}

// syncMembers reads the nodes: the group's (owners nil) or the owners, of
// which those now in another group are not members.
func (s *Service) syncMembers(ctx context.Context, groupID store.ID, owners []store.ID, mine map[store.ID]bool) (*syncSet, error) {
	m := &syncSet{member: map[store.ID]bool{}, exists: map[store.ID]bool{}}
	var err error
	if owners != nil && len(owners) <= maxSyncOwners {
		err = s.st.ListIDs(ctx, store.Nodes, owners, &m.nodes)
	} else {
		err = s.st.ListWhere(ctx, store.Nodes, "group", groupID, &m.nodes)
	}
	if err != nil {
		return nil, err
	}
	for _, nd := range m.nodes {
		m.exists[nd.ID] = true
		if nd.Group == groupID && (owners == nil || mine[nd.ID]) {
			m.member[nd.ID] = true
			m.ids = append(m.ids, nd.ID)
		}
	}
	if owners != nil && len(owners) > maxSyncOwners {
		for id := range mine {
			if !m.exists[id] {
				// Not in the group now: gone, or moved (then not ours).
				var nd store.Node
				if err := s.st.GetByID(ctx, store.Nodes, id, &nd); err == nil {
					m.exists[id] = true
				} else if !errors.Is(err, store.ErrNotFound) {
					return nil, err
				}
			}
		}
	}
	return m, nil
}

// sortClaims splits the claims into those to drop (their node left the
// group or is gone, their place is no longer the group's, or a second claim
// in one place: the lowest is kept) and those held, by node and place.
func (m *syncSet) sortClaims(claims []store.Address, wholeGroup bool, slots map[slotKey]bool) ([]store.Address, map[store.ID]map[slotKey]store.Address) {
	var drop []store.Address
	held := map[store.ID]map[slotKey]store.Address{}
	for _, a := range claims {
		switch {
		case m.member[a.Owner]:
		case wholeGroup || !m.exists[a.Owner]:
			drop = append(drop, a) // its node left the group or is gone
			continue
		default:
			continue // moved to another group: not ours
		}
		k := slotKey{a.Iface, a.Network}
		if !slots[k] {
			drop = append(drop, a)
			continue
		}
		if held[a.Owner] == nil {
			held[a.Owner] = map[slotKey]store.Address{}
		}
		if cur, ok := held[a.Owner][k]; !ok || a.Offset < cur.Offset {
			if ok {
				drop = append(drop, cur)
			}
			held[a.Owner][k] = a
		} else {
			drop = append(drop, a)
		}
	}
	return drop, held
}

// slotWant is the nodes that lack an address in one place.
type slotWant struct {
	key  slotKey
	reqs []ifaceClaim
}

// missingClaims lists, place by place in interface name order, the members
// that hold no address there.
func missingClaims(g *store.Group, members []store.ID, held map[store.ID]map[slotKey]store.Address) []slotWant {
	var wants []slotWant
	ifaces := append([]store.Interface(nil), g.Interfaces...)
	sort.Slice(ifaces, func(i, j int) bool { return ifaces[i].Name < ifaces[j].Name })
	for _, ifc := range ifaces {
		for _, n := range []*store.ID{ifc.Network4, ifc.Network6} {
			if n == nil {
				continue
			}
			k := slotKey{ifc.ID, *n}
			var reqs []ifaceClaim
			for _, id := range members {
				if _, ok := held[id][k]; !ok {
					reqs = append(reqs, ifaceClaim{Owner: id, Iface: ifc.ID})
				}
			}
			if len(reqs) > 0 {
				wants = append(wants, slotWant{k, reqs})
			}
		}
	}
	return wants
}

// writeAddrCopies brings the addrs copy of each member node (store.Node.Addrs)
// in line with its claims once syncNodeClaims has settled them.
func (s *Service) writeAddrCopies(ctx context.Context, nodes []store.Node, member map[store.ID]bool, held map[store.ID]map[slotKey]store.Address) error {
	copies := map[store.ID]string{}
	for _, nd := range nodes {
		if !member[nd.ID] {
			continue
		}
		addrs := make([]store.Address, 0, len(held[nd.ID]))
		for _, a := range held[nd.ID] {
			addrs = append(addrs, a)
		}
		if v := store.EncodeNodeAddrs(addrs); v != nd.Addrs {
			copies[nd.ID] = v
		}
	}
	return s.st.SetNodeAddrs(ctx, copies)
}
