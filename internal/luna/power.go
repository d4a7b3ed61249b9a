package luna

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/clustervision/luna-go/internal/config"
	"github.com/clustervision/luna-go/internal/store"
)

// Open connects to the database cfg names, waiting at most timeout for a
// server, and returns a Service on it. Close releases the connection.
// Programs that only need the domain layer (lpower) open it this way.
func Open(ctx context.Context, cfg config.Config, timeout time.Duration, opts ...OpenOption) (*Service, error) {
	var sopts []store.Option
	for _, o := range opts {
		sopts = append(sopts, o.opt)
	}
	st, err := store.Open(ctx, cfg.URI(), cfg.Database, cfg.Target(), timeout, sopts...)
	if err != nil {
		return nil, err
	}
	return NewService(st), nil
}

// Close releases the Service's database connection.
func (s *Service) Close(ctx context.Context) error { return s.st.Close(ctx) }

// PowerTarget is one node to drive through its BMC: where the BMC is and
// how to log in, or why that is not known.
type PowerTarget struct {
	Node     string
	Addr     string // the node's IPv4 address on the BMC interface
	User     string // the group's bmcsetup user ("ladmin" when empty, as 1.2)
	Password string // the group's bmcsetup password ("ladmin" when empty)
	Reason   string // why the node cannot be driven; "" when it can
}

// Reasons a PowerTarget cannot be driven start with one of these words.
const (
	PowerUnknownNode = "unknown node"
	PowerNoAddress   = "no BMC address"
	PowerNoBMCSetup  = "no bmcsetup"
)

// maxNamedLookups is the most nodes PowerTargets looks up one by one; for
// more it reads every node once (a lookup by name is a scan on FerretDB).
const maxNamedLookups = 20

// PowerTargets resolves the nodes named and every node of the groups named
// (iface "" means BMC) into BMC addresses and credentials, once per node,
// sorted by node name. Groups that do not exist are returned by name.
func (s *Service) PowerTargets(ctx context.Context, nodes, groups []string, iface string) ([]PowerTarget, []string, error) {
	if iface == "" {
		iface = BMCIf
	}
	var allGroups []store.Group
	if err := s.st.List(ctx, store.Groups, &allGroups); err != nil {
		return nil, nil, err
	}
	groupByName := make(map[string]*store.Group, len(allGroups))
	groupByID := make(map[store.ID]*store.Group, len(allGroups))
	for i := range allGroups {
		groupByName[allGroups[i].Name] = &allGroups[i]
		groupByID[allGroups[i].ID] = &allGroups[i]
	}
	found := map[string]*store.Node{}
	var unknownGroups []string
	for _, name := range groups {
		g, ok := groupByName[name]
		if !ok {
			unknownGroups = append(unknownGroups, name)
			continue
		}
		var members []store.Node
		if err := s.st.ListWhere(ctx, store.Nodes, "group", g.ID, &members); err != nil {
			return nil, nil, err
		}
		for i := range members {
			found[members[i].Name] = &members[i]
		}
	}
	var missing []string // named, not yet found
	for _, n := range nodes {
		if _, ok := found[n]; !ok {
			missing = append(missing, n)
		}
	}
	if err := s.findNodes(ctx, missing, found); err != nil {
		return nil, nil, err
	}
	nets, err := s.networksByID(ctx)
	if err != nil {
		return nil, nil, err
	}
	var bmcs []store.BMCSetup
	if err := s.st.List(ctx, store.BMCSetups, &bmcs); err != nil {
		return nil, nil, err
	}
	bmcByID := make(map[store.ID]*store.BMCSetup, len(bmcs))
	for i := range bmcs {
		bmcByID[bmcs[i].ID] = &bmcs[i]
	}

	seen := map[string]bool{}
	var out []PowerTarget
	add := func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		nd, ok := found[name]
		if !ok {
			out = append(out, PowerTarget{Node: name, Reason: PowerUnknownNode})
			return
		}
		out = append(out, powerTarget(nd, groupByID[nd.Group], iface, nets, bmcByID))
	}
	for _, n := range nodes {
		add(n)
	}
	for name := range found {
		add(name)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out, unknownGroups, nil
}

// findNodes adds the nodes named to found (those that exist).
func (s *Service) findNodes(ctx context.Context, names []string, found map[string]*store.Node) error {
	if len(names) == 0 {
		return nil
	}
	if len(names) <= maxNamedLookups {
		for _, n := range names {
			var nd store.Node
			err := s.st.GetByName(ctx, store.Nodes, n, &nd)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			found[n] = &nd
		}
		return nil
	}
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	var all []store.Node
	if err := s.st.List(ctx, store.Nodes, &all); err != nil {
		return err
	}
	for i := range all {
		if want[all[i].Name] {
			found[all[i].Name] = &all[i]
		}
	}
	return nil
}

func powerTarget(nd *store.Node, g *store.Group, iface string, nets map[store.ID]*store.Network, bmcByID map[store.ID]*store.BMCSetup) PowerTarget {
	t := PowerTarget{Node: nd.Name}
	if g == nil { // its group was deleted at this moment
		t.Reason = PowerUnknownNode
		return t
	}
	i := findIface(g, iface)
	if i < 0 {
		t.Reason = fmt.Sprintf("%s: group '%s' has no interface '%s'", PowerNoAddress, g.Name, iface)
		return t
	}
	ifc := &g.Interfaces[i]
	var n *store.Network
	if ifc.Network4 != nil {
		n = nets[*ifc.Network4]
	}
	if n == nil {
		t.Reason = fmt.Sprintf("%s: interface '%s' of group '%s' has no IPv4 network", PowerNoAddress, iface, g.Name)
		return t
	}
	var addr string
	for _, a := range store.NodeAddrs(nd) {
		if a.Iface == ifc.ID && a.Network == n.ID {
			if ip := addressText(n, a.Offset); ip != "?" {
				addr = ip
			}
		}
	}
	if addr == "" {
		t.Reason = fmt.Sprintf("%s: none on interface '%s'", PowerNoAddress, iface)
		return t
	}
	var b *store.BMCSetup
	if g.BMCSetup != nil {
		b = bmcByID[*g.BMCSetup]
	}
	if b == nil {
		t.Reason = fmt.Sprintf("%s: group '%s' has none", PowerNoBMCSetup, g.Name)
		return t
	}
	t.Addr, t.User, t.Password = addr, orS(b.User, "ladmin"), orS(b.Password, "ladmin")
	return t
}
