package luna

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/clustervision/luna-go/internal/ipam"
	"github.com/clustervision/luna-go/internal/store"
)

// NetworkAdd are the options of `luna network add`.
type NetworkAdd struct {
	Name       string
	Network    string
	Prefix     int
	NSHostname string // empty: guessed from this host's name
	NSIP       string // empty: the last usable address
}

// AddNetwork validates everything, then stores the network and claims its
// name server address; a failure leaves nothing behind.
func (s *Service) AddNetwork(ctx context.Context, o NetworkAdd) error {
	if err := ValidateName(DomainName, o.Name); err != nil {
		return err
	}
	if err := s.Guard(ctx); err != nil {
		return err
	}
	if _, err := s.IDOf(ctx, store.Networks, o.Name); err == nil {
		return AlreadyCreated(o.Name)
	}
	if _, err := ipam.ParseAddr(o.Network); err != nil {
		return notIP("network", o.Network)
	}
	sub, err := ipam.NewNetwork(o.Network, o.Prefix)
	if err != nil {
		return badPrefix(o.Prefix, err)
	}
	if err := s.checkOverlap(ctx, sub, nil, o.Network, o.Prefix); err != nil {
		return err
	}
	nsOff := sub.MaxOffset()
	if o.NSIP != "" {
		if _, err := ipam.ParseAddr(o.NSIP); err != nil {
			return forField(notIP("IP", o.NSIP), "ns_ip")
		}
		if nsOff, err = sub.ParseUsable(o.NSIP); err != nil {
			return forField(addressRefused(o.NSIP, ErrInvalid, err.Error()), "ns_ip")
		}
	}
	ns := o.NSHostname
	if ns == "" {
		ns = s.guessNSHostname()
	}
	if err := ValidateName(HostName, ns); err != nil {
		return err
	}
	n := store.Network{ID: store.NewID(), Name: o.Name, Base: ipam.FormatAddr(sub.Base()), Prefix: sub.Prefix(),
		Version: sub.Version(), NSHostname: ns, NSOffset: nsOff.Key()}
	if err := s.st.Insert(ctx, store.Networks, n); err != nil {
		if errors.Is(err, store.ErrExists) {
			if _, e := s.IDOf(ctx, store.Networks, o.Name); e == nil {
				return AlreadyCreated(o.Name)
			}
			return Errorf("Network %s/%d is defined already", o.Network, o.Prefix)
		}
		return err
	}
	// No unique index can refuse an overlap, so check again now that this
	// network is stored: of two overlapping networks added at once, the one
	// checked last sees the other and withdraws (at worst both do).
	drop := func(ctx context.Context) error { return s.st.Delete(ctx, store.Networks, n.ID) }
	if err := s.checkOverlap(ctx, sub, &n.ID, o.Network, o.Prefix); err != nil {
		return s.undo(ctx, err, "network '"+n.Name+"'", drop)
	}
	if err := s.claimAt(ctx, &n, nsOff, store.KindNameServer, n.ID, ""); err != nil {
		return s.undo(ctx, err, "network '"+n.Name+"'", drop)
	}
	return nil
}

// checkOverlap refuses a subnet that shares addresses with another network.
func (s *Service) checkOverlap(ctx context.Context, sub ipam.Network, self *store.ID, text string, prefix int) error {
	var nets []store.Network
	if err := s.st.List(ctx, store.Networks, &nets); err != nil {
		return err
	}
	for _, other := range nets {
		if self != nil && other.ID == *self {
			continue
		}
		osub, err := subnet(&other)
		if err != nil {
			continue
		}
		if osub.Base() == sub.Base() {
			return Errorf("Network %s/%d is defined already", text, prefix)
		}
		if osub.Overlaps(sub) {
			return Errorf("Network %s overlaps network '%s' (%s)", sub.String(), other.Name, osub.String())
		}
	}
	return nil
}

var trailingDigit = regexp.MustCompile(`^(.*)[0-9]$`)

// guessNSHostname is the short host name, or the name with its last digit
// (and a dash before it) removed when that name resolves: master1 -> master.
func (s *Service) guessNSHostname() string {
	h, err := s.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	short := strings.SplitN(h, ".", 2)[0]
	if m := trailingDigit.FindStringSubmatch(short); m != nil {
		guess := strings.TrimSuffix(m[1], "-")
		if guess != "" && s.Resolves(guess) {
			return guess
		}
	}
	return short
}

// Network loads a network by name.
func (s *Service) Network(ctx context.Context, name string) (*store.Network, error) {
	var n store.Network
	if err := s.load(ctx, store.Networks, name, &n); err != nil {
		return nil, err
	}
	return &n, nil
}

// NetworkChange are the options of `luna network change`; nil = not given.
type NetworkChange struct {
	Network    *string
	Prefix     *int
	Reserve    *string
	Release    *string
	NSHostname *string
	NSIP       *string
	Include    *string
	RevInclude *string
	Comment    *string
}

// ChangeNetwork applies every given option (1.2 silently applied only the
// first), validating all of them before anything is written.
// It holds the object's lock while it works (see locked).
func (s *Service) ChangeNetwork(ctx context.Context, name string, o NetworkChange) error {
	return s.locked(ctx, store.Networks, name, func(ctx context.Context, id store.ID) error { return s.changeNetwork(ctx, id, name, o) })
}

func (s *Service) changeNetwork(ctx context.Context, id store.ID, name string, o NetworkChange) error {
	if err := s.Guard(ctx); err != nil {
		return err
	}
	n := &store.Network{}
	if err := s.byID(ctx, store.Networks, id, name, n); err != nil {
		return err
	}
	set := map[string]any{}
	sub, err := s.newRange(ctx, n, o, set)
	if err != nil {
		return err
	}
	addrs, err := s.parseNetworkAddrs(ctx, n, sub, o)
	if err != nil {
		return err
	}
	if o.NSHostname != nil {
		if err := ValidateName(HostName, *o.NSHostname); err != nil {
			return err
		}
		set["ns_hostname"] = *o.NSHostname
	}
	for key, v := range map[string]*string{"include": o.Include, "rev_include": o.RevInclude, "comment": o.Comment} {
		if v != nil {
			set[key] = *v
		}
	}
	if addrs.ns != nil {
		set["ns_offset"] = addrs.ns.Key() // the copy, stored with the change (store.DevAddrs)
	}
	// Claims first: they are the only step that can fail on a race.
	var undo undoList
	if err := s.claimNetworkAddrs(ctx, n, &addrs, &undo); err != nil {
		return undo.run(ctx, s, err)
	}
	if err := s.st.Set(ctx, store.Networks, n.ID, set); err != nil {
		if errors.Is(err, store.ErrExists) {
			err = Errorf("Network %s is defined already", sub.String())
		}
		return undo.run(ctx, s, err)
	}
	if _, moved := set["network"]; moved {
		undo.add("the new range of network '"+n.Name+"'", func(ctx context.Context) error {
			return s.st.Set(ctx, store.Networks, n.ID, map[string]any{"network": n.Base, "prefix": n.Prefix})
		})
		if err := s.confirmRange(ctx, n, sub); err != nil {
			return undo.run(ctx, s, err)
		}
	}
	return s.releaseNetworkAddrs(ctx, n, addrs)
}

// newRange checks --network and --prefix against the network and its claims
// and puts them into set; it returns the subnet as it will be.
func (s *Service) newRange(ctx context.Context, n *store.Network, o NetworkChange, set map[string]any) (ipam.Network, error) {
	sub, err := subnet(n)
	if err != nil || (o.Network == nil && o.Prefix == nil) {
		return sub, err
	}
	prefix := sub.Prefix()
	if o.Prefix != nil {
		if sub, err = sub.WithPrefix(*o.Prefix); err != nil {
			return sub, badPrefix(*o.Prefix, err)
		}
		prefix = *o.Prefix
	}
	if o.Network != nil {
		a, err := ipam.ParseAddr(*o.Network)
		if err != nil {
			return sub, notIP("network", *o.Network)
		}
		if a.Is4() != sub.Base().Is4() {
			return sub, BadAddress("network", *o.Network, fmt.Sprintf("not of the family of %s (IPv4 and IPv6 networks stay what they are)", n.Name))
		}
		if sub, err = sub.WithBase(*o.Network); err != nil {
			return sub, invalid(err)
		}
	} else if ipam.FormatAddr(sub.Base()) != n.Base {
		return sub, Failf("Prefix /%d would move network '%s' from %s to %s: give the new base with --network too",
			prefix, n.Name, n.Base, ipam.FormatAddr(sub.Base()))
	}
	text := n.Base
	if o.Network != nil {
		text = *o.Network
	}
	if err := s.checkOverlap(ctx, sub, &n.ID, text, prefix); err != nil {
		return sub, err
	}
	if err := s.checkClaimsFit(ctx, n, sub); err != nil {
		return sub, err
	}
	set["network"] = ipam.FormatAddr(sub.Base())
	set["prefix"] = sub.Prefix()
	return sub, nil
}

// checkClaimsFit refuses a range that would exclude claimed addresses.
func (s *Service) checkClaimsFit(ctx context.Context, n *store.Network, sub ipam.Network) error {
	used, err := s.usedSet(ctx, n, sub)
	if err != nil {
		return err
	}
	if u := used.Used(); len(u) > 0 && u[len(u)-1].Cmp(sub.MaxOffset()) > 0 {
		return Errorf("Cannot update freelist upper limit. This new limit excludes some already nonfree elements")
	}
	return nil
}

// confirmRange checks, after a network's new range is stored, what could
// not be refused before it was: as in AddNetwork, a network added or moved
// at the same moment may overlap it; and an address claimed at the same
// moment against the old range may lie beyond the new one (the claimer
// checks the network after its claim, confirmNetwork, and this checks the
// claims after the change, so one of the two sees the other and backs off).
func (s *Service) confirmRange(ctx context.Context, n *store.Network, sub ipam.Network) error {
	if err := s.checkOverlap(ctx, sub, &n.ID, ipam.FormatAddr(sub.Base()), sub.Prefix()); err != nil {
		return err
	}
	return s.checkClaimsFit(ctx, n, sub)
}

// networkAddrs are the addresses `network change` claims and releases.
type networkAddrs struct {
	reserve, ns *ipam.Offset
	release     *store.Address  // the reservation --release frees; nil: none or already free
	oldNS       []store.Address // the name server's claims before --ns_ip
}

// parseNetworkAddrs parses --reserve, --release and --ns_ip against the
// network as it will be, and finds what --release frees.
func (s *Service) parseNetworkAddrs(ctx context.Context, n *store.Network, sub ipam.Network, o NetworkChange) (networkAddrs, error) {
	var a networkAddrs
	parse := func(v *string, field string) (*ipam.Offset, error) {
		if v == nil {
			return nil, nil
		}
		if _, err := ipam.ParseAddr(*v); err != nil {
			return nil, forField(notIP("IP", *v), field)
		}
		off, err := sub.ParseUsable(*v)
		if err != nil {
			return nil, forField(addressRefused(*v, ErrInvalid, err.Error()), field)
		}
		return &off, nil
	}
	var err error
	if a.reserve, err = parse(o.Reserve, "reserve"); err != nil {
		return a, err
	}
	releaseOff, err := parse(o.Release, "release")
	if err != nil {
		return a, err
	}
	if a.ns, err = parse(o.NSIP, "ns_ip"); err != nil {
		return a, err
	}
	if releaseOff != nil {
		held, err := s.st.FindAddresses(ctx, store.AddressFilter{Network: &n.ID, Offset: releaseOff.Key()})
		if err != nil {
			return a, err
		}
		switch {
		case len(held) == 0:
			// Already free: nothing to do, as in 1.2 (scripts rely on it).
		case held[0].Kind != store.KindReserved:
			return a, Failf("IP '%s' is used by %s: change or delete that object instead", *o.Release, s.holder(ctx, n.ID, *releaseOff))
		default:
			a.release = &held[0]
		}
	}
	return a, nil
}

// claimNetworkAddrs claims the new name server address and the reserved
// one, recording in undo how to release them.
func (s *Service) claimNetworkAddrs(ctx context.Context, n *store.Network, a *networkAddrs, undo *undoList) error {
	claim := func(off ipam.Offset, kind string, owner store.ID) error {
		before, err := s.st.FindAddresses(ctx, store.AddressFilter{Network: &n.ID, Offset: off.Key()})
		if err != nil {
			return err
		}
		if len(before) == 1 && before[0].Kind == kind && before[0].Owner == owner && kind != store.KindReserved {
			return nil // already ours (the name server address given again)
		}
		if err := s.claimAt(ctx, n, off, kind, owner, ""); err != nil {
			return err
		}
		undo.add("the claim of "+s.ipText(n, off), func(ctx context.Context) error { return s.unclaim(ctx, n, off, owner) })
		return nil
	}
	if a.ns != nil {
		var err error
		if a.oldNS, err = s.st.FindAddresses(ctx, store.AddressFilter{Network: &n.ID, Kind: store.KindNameServer}); err != nil {
			return err
		}
		if err := claim(*a.ns, store.KindNameServer, n.ID); err != nil {
			return err
		}
	}
	if a.reserve != nil {
		return claim(*a.reserve, store.KindReserved, store.ID{})
	}
	return nil
}

// releaseNetworkAddrs frees the name server's old address and the released
// reservation, once the change is stored.
func (s *Service) releaseNetworkAddrs(ctx context.Context, n *store.Network, a networkAddrs) error {
	if a.ns != nil {
		for _, old := range a.oldNS {
			if old.Offset != a.ns.Key() {
				if err := s.st.DeleteAddress(ctx, old.ID); err != nil {
					return fmt.Errorf("network '%s' changed, but the old name server address could not be released: %w", n.Name, err)
				}
			}
		}
	}
	if a.release != nil {
		return s.st.DeleteAddress(ctx, a.release.ID)
	}
	return nil
}

// DeleteNetwork removes a network nothing uses, with its name server and
// reserved addresses.
func (s *Service) DeleteNetwork(ctx context.Context, name string) error {
	if err := s.Guard(ctx); err != nil {
		return err
	}
	n, err := s.Network(ctx, name)
	if err != nil {
		return err
	}
	if err := s.deleteUnused(ctx, store.Networks, n.Name, n.ID, n); err != nil {
		return err
	}
	_, err = s.st.DeleteAddresses(ctx, store.AddressFilter{Network: &n.ID})
	return err
}

// NetworkView is a network as shown to the administrator (and in -o json).
type NetworkView struct {
	Name       string `json:"name"`
	Network    string `json:"network"`
	Prefix     int    `json:"prefix"`
	Netmask    string `json:"netmask"`
	Version    int    `json:"version"`
	NSHostname string `json:"ns_hostname"`
	NSIP       string `json:"ns_ip"`
	Include    string `json:"include"`
	RevInclude string `json:"rev_include"`
	Comment    string `json:"comment"`
}

// NetworkViews returns the named networks (all when names is empty), by name.
func (s *Service) NetworkViews(ctx context.Context, names ...string) ([]NetworkView, error) {
	var nets []store.Network
	if len(names) == 0 {
		if err := s.st.List(ctx, store.Networks, &nets); err != nil {
			return nil, err
		}
	} else {
		for _, nm := range names {
			n, err := s.Network(ctx, nm)
			if err != nil {
				return nil, err
			}
			nets = append(nets, *n)
		}
	}
	out := make([]NetworkView, 0, len(nets))
	for i := range nets {
		n := &nets[i]
		v := NetworkView{Name: n.Name, Network: n.Base, Prefix: n.Prefix, Version: n.Version,
			NSHostname: n.NSHostname, Include: n.Include, RevInclude: n.RevInclude, Comment: n.Comment}
		if sub, err := subnet(n); err == nil {
			v.Netmask = sub.Netmask()
		}
		if n.NSOffset != "" { // the copy of the name server's claim (store.DevAddrs)
			v.NSIP = addressText(n, n.NSOffset)
		}
		out = append(out, v)
	}
	return out, nil
}

// HostAddr is a named address inside a network (for --reservedips and DNS).
type HostAddr struct {
	Name   string `json:"name"`
	IP     string `json:"ip"`
	offset string
}

// HostsIn lists every named address of a network, ordered by address:
// nodes (suffixed with the interface name when a node has several
// interfaces there), switches, other devices and the name server.
func (s *Service) HostsIn(ctx context.Context, n *store.Network) ([]HostAddr, error) {
	addrs, err := s.st.FindAddresses(ctx, store.AddressFilter{Network: &n.ID})
	if err != nil {
		return nil, err
	}
	idsOf := map[string][]store.ID{}
	for _, a := range addrs {
		idsOf[a.Kind] = append(idsOf[a.Kind], a.Owner)
	}
	names := map[store.ID]string{}
	collect := func(coll string, ids []store.ID) error {
		if len(ids) == 0 {
			return nil
		}
		var docs []struct {
			ID   store.ID `bson:"_id"`
			Name string   `bson:"name"`
		}
		if err := s.st.ListIDs(ctx, coll, ids, &docs); err != nil {
			return err
		}
		for _, d := range docs {
			names[d.ID] = d.Name
		}
		return nil
	}
	for kind, coll := range map[string]string{store.KindSwitch: store.Switches, store.KindOtherDev: store.OtherDevs} {
		if err := collect(coll, idsOf[kind]); err != nil {
			return nil, err
		}
	}
	suffix, nodeNames, err := s.nodeSuffixes(ctx, n, idsOf[store.KindNode])
	if err != nil {
		return nil, err
	}
	var out []HostAddr
	for _, a := range addrs {
		var name string
		switch a.Kind {
		case store.KindNameServer:
			name = n.NSHostname
		case store.KindNode:
			name = nodeNames[a.Owner]
			if sfx, ok := suffix[a.Iface]; ok && sfx != "" {
				name += "-" + sfx
			}
		case store.KindSwitch, store.KindOtherDev:
			name = names[a.Owner]
		default:
			continue
		}
		if name == "" {
			continue
		}
		out = append(out, HostAddr{Name: name, IP: addressText(n, a.Offset), offset: a.Offset})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].offset < out[j].offset })
	return out, nil
}

// nodeSuffixes finds, for the group interfaces attached to network n, the
// host name suffix of each (empty when its group has only one interface on
// n), and the names of the given nodes.
func (s *Service) nodeSuffixes(ctx context.Context, n *store.Network, nodeIDs []store.ID) (map[string]string, map[store.ID]string, error) {
	suffix := map[string]string{}
	names := map[store.ID]string{}
	if len(nodeIDs) == 0 {
		return suffix, names, nil
	}
	var nodes []store.Node
	if err := s.st.ListIDs(ctx, store.Nodes, nodeIDs, &nodes); err != nil {
		return nil, nil, err
	}
	groupIDs := map[store.ID]bool{}
	var gids []store.ID
	for _, nd := range nodes {
		names[nd.ID] = nd.Name
		if !groupIDs[nd.Group] {
			groupIDs[nd.Group] = true
			gids = append(gids, nd.Group)
		}
	}
	var groups []store.Group
	if err := s.st.ListIDs(ctx, store.Groups, gids, &groups); err != nil {
		return nil, nil, err
	}
	for _, g := range groups {
		var on []store.Interface
		for _, ifc := range g.Interfaces {
			net := ifc.Network4
			if n.Version == 6 {
				net = ifc.Network6
			}
			if net != nil && *net == n.ID {
				on = append(on, ifc)
			}
		}
		if len(on) < 2 {
			for _, ifc := range on {
				suffix[ifc.ID] = ""
			}
			continue
		}
		lower := map[string]int{}
		for _, ifc := range on {
			lower[strings.ToLower(ifc.Name)]++
		}
		for _, ifc := range on {
			if lower[strings.ToLower(ifc.Name)] > 1 {
				suffix[ifc.ID] = ifc.Name
			} else {
				suffix[ifc.ID] = strings.ToLower(ifc.Name)
			}
		}
	}
	return suffix, names, nil
}

// badPrefix is the address error of a prefix ipam refused ("Prefix should
// be in the range [1..30]"): "Invalid prefix '31' for --prefix: should be
// in the range [1..30]".
func badPrefix(prefix int, err error) error {
	return BadAddress("prefix", strconv.Itoa(prefix), strings.Replace(err.Error(), "Prefix should", "should", 1))
}
