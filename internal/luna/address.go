package luna

import (
	"context"
	"errors"
	"fmt"

	"github.com/clustervision/luna-go/internal/ipam"
	"github.com/clustervision/luna-go/internal/store"
)

// maxClaimRetries bounds the retries of an allocation that keeps losing races.
const maxClaimRetries = 1000

// subnet turns a stored network into address arithmetic.
func subnet(n *store.Network) (ipam.Network, error) {
	return ipam.NewNetwork(n.Base, n.Prefix)
}

// usedSet reads the claimed offsets of a network.
func (s *Service) usedSet(ctx context.Context, n *store.Network, sub ipam.Network) (*ipam.Set, error) {
	keys, err := s.st.UsedOffsets(ctx, n.ID)
	if err != nil {
		return nil, err
	}
	used := make([]ipam.Offset, 0, len(keys))
	for _, k := range keys {
		o, err := ipam.ParseKey(k)
		if err != nil {
			return nil, fmt.Errorf("network %s: bad stored offset %q", n.Name, k)
		}
		used = append(used, o)
	}
	return ipam.NewSet(sub.MaxOffset(), used), nil
}

// claimAt claims one given address. It fails with a message naming the
// current holder when the address is taken.
func (s *Service) claimAt(ctx context.Context, n *store.Network, off ipam.Offset, kind string, owner store.ID, iface string) error {
	a := store.Address{ID: store.NewID(), Network: n.ID, Offset: off.Key(), Kind: kind, Owner: owner, Iface: iface}
	err := s.st.Insert(ctx, store.Addresses, a)
	if errors.Is(err, store.ErrExists) {
		sub, _ := subnet(n)
		ip, _ := sub.AddrAt(off)
		return addressRefused(ipam.FormatAddr(ip), ErrRefused,
			fmt.Sprintf("IP '%s' in network '%s' is already used by %s", ipam.FormatAddr(ip), n.Name, s.holder(ctx, n.ID, off)))
	}
	if err != nil { // interrupted or lost: the claim may be stored all the same
		return s.undo(ctx, err, "the claim of "+s.ipText(n, off), func(ctx context.Context) error { return s.dropClaim(ctx, a.ID) })
	}
	if err := s.confirmNetwork(ctx, n); err != nil {
		return s.undo(ctx, err, "the claim of "+s.ipText(n, off), func(ctx context.Context) error { return s.st.DeleteAddress(ctx, a.ID) })
	}
	return nil
}

// confirmNetwork checks, after claims were inserted, that the network is
// still the one they were chosen in: `network change` may have moved or
// shrunk it, or `network delete` removed it, at the same moment. That
// change checks the claims after it is stored, so one of the two sees the
// other. The caller releases its claims when this fails.
func (s *Service) confirmNetwork(ctx context.Context, n *store.Network) error {
	var now store.Network
	err := s.st.GetByID(ctx, store.Networks, n.ID, &now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Failf("Network '%s' was deleted at the same time", n.Name)
	case err != nil:
		return err
	case now.Base != n.Base || now.Prefix != n.Prefix:
		return Failf("Network '%s' was changed at the same time; try again", n.Name)
	}
	return nil
}

// claimLowest claims the lowest free address of a network: choose the lowest
// candidate, insert a claim, and on a duplicate key move to the next one.
func (s *Service) claimLowest(ctx context.Context, n *store.Network, kind string, owner store.ID, iface string) (ipam.Offset, error) {
	sub, err := subnet(n)
	if err != nil {
		return ipam.Offset{}, err
	}
	set, err := s.usedSet(ctx, n, sub)
	if err != nil {
		return ipam.Offset{}, err
	}
	return s.claimNextFree(ctx, n, set, kind, owner, iface)
}

// claimNextFree claims the lowest offset not in set and adds it to set, so a
// caller allocating many addresses reads the network only once.
func (s *Service) claimNextFree(ctx context.Context, n *store.Network, set *ipam.Set, kind string, owner store.ID, iface string) (ipam.Offset, error) {
	for i := 0; i < maxClaimRetries; i++ {
		off, ok := set.Lowest()
		if !ok {
			return ipam.Offset{}, Failf("Cannot get next IP. No free IPs available in network '%s'", n.Name)
		}
		a := store.Address{ID: store.NewID(), Network: n.ID, Offset: off.Key(), Kind: kind, Owner: owner, Iface: iface}
		err := s.st.Insert(ctx, store.Addresses, a)
		set.Add(off)
		if err == nil {
			if err := s.confirmNetwork(ctx, n); err != nil {
				return ipam.Offset{}, s.undo(ctx, err, "the claim of "+s.ipText(n, off), func(ctx context.Context) error { return s.st.DeleteAddress(ctx, a.ID) })
			}
			return off, nil
		}
		if !errors.Is(err, store.ErrExists) { // the claim may be stored all the same
			return ipam.Offset{}, s.undo(ctx, err, "the claim of "+s.ipText(n, off), func(ctx context.Context) error { return s.dropClaim(ctx, a.ID) })
		}
	}
	return ipam.Offset{}, Failf("Cannot get next IP in network '%s': too many concurrent allocations", n.Name)
}

// holder describes who holds an address, for messages.
func (s *Service) holder(ctx context.Context, network store.ID, off ipam.Offset) string {
	addrs, err := s.st.FindAddresses(ctx, store.AddressFilter{Network: &network, Offset: off.Key()})
	if err != nil || len(addrs) == 0 {
		return "another object"
	}
	a := addrs[0]
	var coll string
	switch a.Kind {
	case store.KindReserved:
		return "a reservation"
	case store.KindDHCP:
		return "the DHCP range"
	case store.KindNameServer:
		return "the name server"
	case store.KindNode:
		coll = store.Nodes
	case store.KindSwitch:
		coll = store.Switches
	case store.KindOtherDev:
		coll = store.OtherDevs
	default:
		return a.Kind
	}
	var d struct {
		Name string `bson:"name"`
	}
	if err := s.st.GetByID(ctx, coll, a.Owner, &d); err != nil {
		return coll
	}
	return fmt.Sprintf("%s '%s'", a.Kind, d.Name)
}

// addressText formats a claim's address ("?" when the stored offset does
// not fit the network).
func addressText(n *store.Network, key string) string {
	sub, err := subnet(n)
	if err != nil {
		return "?"
	}
	off, err := ipam.ParseKey(key)
	if err != nil {
		return "?"
	}
	ip, err := sub.AddrAt(off)
	if err != nil {
		return "?"
	}
	return ipam.FormatAddr(ip)
}

// switchAddresses returns each switch's address (addressText) by switch id.
func (s *Service) switchAddresses(ctx context.Context, nets map[store.ID]*store.Network) (map[store.ID]string, error) {
	addrs, err := s.st.FindAddresses(ctx, store.AddressFilter{Kind: store.KindSwitch})
	if err != nil {
		return nil, err
	}
	ipOf := make(map[store.ID]string, len(addrs))
	for _, a := range addrs {
		if n, ok := nets[a.Network]; ok {
			ipOf[a.Owner] = addressText(n, a.Offset)
		}
	}
	return ipOf, nil
}

// parseIn parses an address that must be a usable host address of n.
func parseIn(n *store.Network, text string) (ipam.Offset, error) {
	sub, err := subnet(n)
	if err != nil {
		return ipam.Offset{}, err
	}
	if _, err := ipam.ParseAddr(text); err != nil {
		return ipam.Offset{}, notIP("IP", text)
	}
	off, err := sub.ParseUsable(text)
	if err != nil {
		return ipam.Offset{}, addressRefused(text, ErrInvalid, err.Error())
	}
	return off, nil
}
