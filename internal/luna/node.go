package luna

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"

	"time"

	"github.com/clustervision/luna-go/internal/ipam"
	"github.com/clustervision/luna-go/internal/store"
)

// Node loads a node by name.
func (s *Service) Node(ctx context.Context, name string) (*store.Node, error) {
	var n store.Node
	if err := s.load(ctx, store.Nodes, name, &n); err != nil {
		return nil, err
	}
	return &n, nil
}

// AddNodes creates nodes in a group and gives each an address on every
// interface network of the group, lowest free first, interfaces in name
// order. With no names one node is named from the cluster's nodeprefix and
// nodedigits. Either every node is created with all its addresses or none.
func (s *Service) AddNodes(ctx context.Context, group string, names []string) ([]string, error) {
	for _, n := range names {
		if err := ValidateName(HostName, n); err != nil {
			return nil, err
		}
	}
	if err := s.Guard(ctx); err != nil {
		return nil, err
	}
	c, err := s.Cluster(ctx)
	if err != nil {
		return nil, err
	}
	g, err := s.Group(ctx, group)
	if err != nil {
		return nil, err
	}
	nets, err := s.networksByID(ctx)
	if err != nil {
		return nil, err
	}
	// Named nodes get their addresses before they are stored, so that each
	// node document is written once with its copy of its claims
	// (store.Node.Addrs). An auto-named node is stored first: inserting it
	// is what claims the name; syncNodeClaims then writes its copy.
	var nodes []store.Node
	var ids []store.ID
	inserted := false
	undo := func(err error) error {
		return s.undo(ctx, err, fmt.Sprintf("%d new nodes and their addresses", len(ids)), func(ctx context.Context) error {
			// Nodes first: a concurrent setnet that sees a claim without its node drops it.
			if inserted {
				if err := s.st.DeleteIDs(ctx, store.Nodes, ids); err != nil {
					return err
				}
			}
			_, err := s.st.DeleteAddresses(ctx, store.AddressFilter{Owners: ids, Kind: store.KindNode})
			return err
		})
	}
	if len(names) == 0 {
		nd, err := s.insertAutoNamed(ctx, c, g.ID)
		if err != nil {
			return nil, err
		}
		nodes, inserted = []store.Node{*nd}, true
	} else {
		// A short list is checked first, so a taken name writes nothing; a
		// long one relies on the unique index (an $in of thousands of
		// names is a slow scan on FerretDB) and is rolled back below.
		if len(names) <= maxOwnerFilter/10 {
			if taken, err := s.st.ExistingNames(ctx, store.Nodes, names); err != nil {
				return nil, err
			} else if len(taken) > 0 {
				return nil, AlreadyCreated(taken[0])
			}
		}
		for _, name := range names {
			nodes = append(nodes, newNode(name, g.ID))
		}
	}
	ids = nodeIDs(nodes)
	claimsOf := map[store.ID][]store.Address{}
	ifaces := append([]store.Interface(nil), g.Interfaces...)
	sort.Slice(ifaces, func(i, j int) bool { return ifaces[i].Name < ifaces[j].Name })
	for _, ifc := range ifaces {
		for _, slot := range []*store.ID{ifc.Network4, ifc.Network6} {
			if slot == nil {
				continue
			}
			n, ok := nets[*slot]
			if !ok {
				continue
			}
			reqs := make([]ifaceClaim, len(nodes))
			for i, nd := range nodes {
				reqs[i] = ifaceClaim{Owner: nd.ID, Iface: ifc.ID}
			}
			claims, err := s.allocateMany(ctx, n, store.KindNode, reqs)
			if err != nil {
				return nil, undo(wrapf(err, "Unable to allocate IP address for interface '%s': ", ifc.Name))
			}
			for _, a := range claims {
				claimsOf[a.Owner] = append(claimsOf[a.Owner], a)
			}
		}
	}
	if !inserted {
		docs := make([]any, len(nodes))
		for i := range nodes {
			nodes[i].Addrs = store.EncodeNodeAddrs(claimsOf[nodes[i].ID])
			docs[i] = nodes[i]
		}
		k, err := s.st.InsertMany(ctx, store.Nodes, docs)
		inserted = true
		if err != nil {
			if errors.Is(err, store.ErrExists) {
				err = AlreadyCreated(names[k])
			}
			return nil, undo(err)
		}
	}
	// The group's networks may have changed since it was read (a setnet or
	// delnet at the same time): follow the group as stored now.
	if err := s.syncNodeClaims(ctx, g.ID, ids); err != nil {
		return nil, undo(Errorf("Unable to allocate IP addresses: %s", err.Error()))
	}
	out := make([]string, len(nodes))
	for i, nd := range nodes {
		out[i] = nd.Name
	}
	return out, nil
}

func newNode(name string, group store.ID) store.Node {
	return store.Node{ID: store.NewID(), Name: name, Group: group, SetupBMC: true}
}

func nodeIDs(nodes []store.Node) []store.ID {
	ids := make([]store.ID, len(nodes))
	for i, n := range nodes {
		ids[i] = n.ID
	}
	return ids
}

// insertAutoNamed inserts a node named <nodeprefix><number>, the number one
// above the highest in use, and moves on to the next number when another
// admin takes it first.
func (s *Service) insertAutoNamed(ctx context.Context, c *store.Cluster, group store.ID) (*store.Node, error) {
	re := regexp.MustCompile("^" + regexp.QuoteMeta(c.NodePrefix) + "([0-9]+)$")
	existing, err := s.st.NamesMatching(ctx, store.Nodes, re)
	if err != nil {
		return nil, err
	}
	next := 1
	for _, name := range existing {
		if v, err := strconv.Atoi(re.FindStringSubmatch(name)[1]); err == nil && v >= next {
			next = v + 1
		}
	}
	for i := 0; i < maxClaimRetries; i++ {
		name := fmt.Sprintf("%s%0*d", c.NodePrefix, c.NodeDigits, next+i)
		if err := ValidateName(HostName, name); err != nil {
			return nil, err
		}
		nd := newNode(name, group)
		err := s.st.Insert(ctx, store.Nodes, nd)
		if err == nil {
			return &nd, nil
		}
		if !errors.Is(err, store.ErrExists) {
			return nil, err
		}
	}
	return nil, Errorf("Cannot find a free node name: too many concurrent additions")
}

// NodeChange are the options of `luna node change`; nil = not given.
type NodeChange struct {
	Group     *string
	IfaceName string  // with IfaceIP: set one address
	IfaceIP   *string // --interface IF IP
	MAC       *string // "" removes
	Switch    *string // "" clears
	Port      *string // "" clears
	LocalBoot *string
	SetupBMC  *string
	Service   *string
	Comment   *string
}

// ChangeNode validates the options, then applies them: group move, MAC,
// switch, port, flags, a specific address and the comment.
// It holds the object's lock while it works (see locked).
func (s *Service) ChangeNode(ctx context.Context, name string, o NodeChange) error {
	return s.locked(ctx, store.Nodes, name, func(ctx context.Context, id store.ID) error { return s.changeNode(ctx, id, name, o) })
}

func (s *Service) changeNode(ctx context.Context, id store.ID, name string, o NodeChange) error {
	if err := s.Guard(ctx); err != nil {
		return err
	}
	nd := &store.Node{}
	if err := s.byID(ctx, store.Nodes, id, name, nd); err != nil {
		return err
	}
	if err := s.recoverNode(ctx, nd); err != nil {
		return err
	}
	p, err := s.planNodeChange(ctx, nd, o)
	if err != nil {
		return err
	}
	// Validation is over; now change things.
	if p.target != nil && p.target.ID != nd.Group {
		if err := s.moveNode(ctx, nd, p.target); err != nil {
			return err
		}
	}
	if p.setIP != nil {
		if err := s.applySetIP(ctx, nd, p); err != nil {
			return err
		}
	}
	if o.MAC != nil {
		if err := s.setMAC(ctx, nd, p.mac); err != nil {
			return err
		}
	}
	return s.storeNodeFields(ctx, nd, p.set)
}

// nodePlan is a validated `node change`: what to write.
type nodePlan struct {
	set    map[string]any // node fields
	mac    string         // with NodeChange.MAC: the MAC to bind, "" to unbind
	target *store.Group   // the group to move to, or nil
	setIP  func() error   // claims the address of -i IF IP, or nil
}

// planNodeChange validates every option before anything is written.
func (s *Service) planNodeChange(ctx context.Context, nd *store.Node, o NodeChange) (*nodePlan, error) {
	p := &nodePlan{set: map[string]any{}}
	flags := []struct {
		key string
		v   *string
	}{{"localboot", o.LocalBoot}, {"setupbmc", o.SetupBMC}, {"service", o.Service}}
	for _, f := range flags {
		if f.v != nil {
			b, err := YesNo(f.key, *f.v)
			if err != nil {
				return nil, err
			}
			p.set[f.key] = b
		}
	}
	var err error
	if o.MAC != nil && *o.MAC != "" {
		if p.mac, err = NormalizeMAC(*o.MAC); err != nil {
			return nil, err
		}
	}
	if o.Switch != nil {
		if *o.Switch == "" {
			p.set["switch"] = nil
		} else {
			id, err := s.IDOf(ctx, store.Switches, *o.Switch)
			if err != nil {
				return nil, err
			}
			p.set["switch"] = id
		}
	}
	if o.Port != nil {
		if *o.Port != "" && !portRe.MatchString(*o.Port) {
			return nil, Invalidf("Invalid port %s: use the port number or name as the switch reports it", quote(*o.Port))
		}
		p.set["port"] = *o.Port
	}
	if o.Comment != nil {
		p.set["comment"] = *o.Comment
	}
	if o.Group != nil {
		if p.target, err = s.Group(ctx, *o.Group); err != nil {
			return nil, err
		}
	}
	if o.IfaceIP != nil {
		if p.setIP, err = s.prepareSetIP(ctx, nd, o.IfaceName, *o.IfaceIP); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// applySetIP claims the address of -i IF IP, releases the old one and
// settles the node's claims in its (new) group.
func (s *Service) applySetIP(ctx context.Context, nd *store.Node, p *nodePlan) error {
	if err := p.setIP(); err != nil {
		return err
	}
	gid := nd.Group
	if p.target != nil {
		gid = p.target.ID
	}
	return s.syncNodeClaims(committed(ctx), gid, []store.ID{nd.ID})
}

// storeNodeFields writes the node's fields (an empty optional field is
// removed, as store.Node does not store it) and confirms a new switch.
func (s *Service) storeNodeFields(ctx context.Context, nd *store.Node, set map[string]any) error {
	var unset []string
	for _, k := range []string{"switch", "port", "localboot", "service", "comment"} {
		if v, ok := set[k]; ok && (v == nil || v == false || v == "") {
			delete(set, k)
			unset = append(unset, k)
		}
	}
	if err := s.st.Set(ctx, store.Nodes, nd.ID, set, unset...); err != nil {
		return err
	}
	if id, ok := set["switch"].(store.ID); ok { // deleted at the same moment? (see deleteUnused)
		if err := s.confirmRefs(ctx, ref{store.Switches, id}); err != nil {
			return s.undo(ctx, err, "the new switch of node '"+nd.Name+"'", func(ctx context.Context) error {
				if nd.Switch != nil {
					return s.st.Set(ctx, store.Nodes, nd.ID, map[string]any{"switch": *nd.Switch})
				}
				return s.st.Set(ctx, store.Nodes, nd.ID, nil, "switch")
			})
		}
	}
	return nil
}

var portRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9/:._-]{0,63}$`)

// setMAC binds mac to the node (or unbinds with ""). A MAC owned by another
// node moves here with a warning naming that node.
func (s *Service) setMAC(ctx context.Context, nd *store.Node, mac string) error {
	old, err := s.st.MACsOf(ctx, []store.ID{nd.ID})
	if err != nil {
		return err
	}
	if mac == "" {
		for _, m := range old {
			if err := s.st.DeleteWhere(ctx, store.SwitchMAC, "mac", []string{m.MAC}); err != nil {
				return err
			}
		}
		return s.st.DeleteWhere(ctx, store.MACs, "node", []store.ID{nd.ID})
	}
	if len(old) == 1 && old[0].MAC == mac {
		return nil
	}
	owners, err := s.st.MACsByAddress(ctx, []string{mac})
	if err != nil {
		return err
	}
	for _, o := range owners {
		var other store.Node
		otherName := o.Node.Hex()
		if s.st.GetByID(ctx, store.Nodes, o.Node, &other) == nil {
			otherName = other.Name
		}
		s.warn(fmt.Sprintf("MAC %s moved from node '%s' to node '%s'", mac, otherName, nd.Name))
	}
	if err := s.st.DeleteWhere(ctx, store.MACs, "mac", []string{mac}); err != nil {
		return err
	}
	// Kill-safe: a node that has a MAC gets the new one in one write of its
	// MAC document, so a command killed at any moment leaves it with its
	// old MAC or the new one, never none or two.
	if len(old) == 1 {
		err = s.st.Set(ctx, store.MACs, old[0].ID, map[string]any{"mac": mac})
	} else {
		if err := s.st.DeleteWhere(ctx, store.MACs, "node", []store.ID{nd.ID}); err != nil {
			return err
		}
		err = s.st.Insert(ctx, store.MACs, store.MAC{ID: store.NewID(), MAC: mac, Node: nd.ID})
	}
	if errors.Is(err, store.ErrExists) {
		return Failf("MAC %s was bound to another node at the same time; try again", mac)
	}
	return err
}

// prepareSetIP validates `--interface IF IP` and returns the step that
// claims the new address and releases the old one.
func (s *Service) prepareSetIP(ctx context.Context, nd *store.Node, ifName, ipText string) (func() error, error) {
	var g store.Group
	if err := s.st.GetByID(ctx, store.Groups, nd.Group, &g); err != nil {
		return nil, err
	}
	i := findIface(&g, ifName)
	if i < 0 {
		return nil, Failf("No such interface '%s'", ifName)
	}
	ifc := g.Interfaces[i]
	ver := ipam.Version(ipText)
	if ver == 0 {
		return nil, notIP("IP", ipText)
	}
	slot := slotOf(&ifc, ver)
	if slot == nil {
		return nil, Failf("No IPv%d network is configured for interface '%s'", ver, ifName)
	}
	var n store.Network
	if err := s.st.GetByID(ctx, store.Networks, *slot, &n); err != nil {
		return nil, err
	}
	off, err := parseIn(&n, ipText)
	if err != nil {
		return nil, err
	}
	old, err := s.st.FindAddresses(ctx, store.AddressFilter{Owner: &nd.ID, Network: &n.ID, Iface: ifc.ID})
	if err != nil {
		return nil, err
	}
	return func() error {
		if len(old) == 1 && old[0].Offset == off.Key() {
			return nil
		}
		if err := s.claimAt(ctx, &n, off, store.KindNode, nd.ID, ifc.ID); err != nil {
			return err
		}
		return s.releaseAddresses(committed(ctx), old)
	}, nil
}

// moveNode moves a node to another group. Addresses in networks the new
// group also uses are kept (preferring the interface of the same name);
// the others are released and new ones allocated lowest-free.
func (s *Service) moveNode(ctx context.Context, nd *store.Node, to *store.Group) error {
	old, err := s.st.FindAddresses(ctx, store.AddressFilter{Owner: &nd.ID, Kind: store.KindNode})
	if err != nil {
		return err
	}
	var from store.Group
	if err := s.st.GetByID(ctx, store.Groups, nd.Group, &from); err != nil {
		return err
	}
	oldName := map[string]string{}
	for _, ifc := range from.Interfaces {
		oldName[ifc.ID] = ifc.Name
	}
	nets, err := s.networksByID(ctx)
	if err != nil {
		return err
	}
	used := map[store.ID]bool{}
	type move struct {
		addr  store.ID
		iface string
	}
	var moves []move
	type want struct {
		net   *store.Network
		iface string
	}
	var wants []want
	ifaces := append([]store.Interface(nil), to.Interfaces...)
	sort.Slice(ifaces, func(i, j int) bool { return ifaces[i].Name < ifaces[j].Name })
	pick := func(ifc store.Interface, net store.ID, sameName bool) bool {
		for _, a := range old {
			if !used[a.ID] && a.Network == net && (!sameName || oldName[a.Iface] == ifc.Name) {
				used[a.ID] = true
				moves = append(moves, move{a.ID, ifc.ID})
				return true
			}
		}
		return false
	}
	var rest []struct {
		ifc store.Interface
		net store.ID
	}
	for _, ifc := range ifaces {
		for _, slot := range []*store.ID{ifc.Network4, ifc.Network6} {
			if slot != nil && !pick(ifc, *slot, true) {
				rest = append(rest, struct {
					ifc store.Interface
					net store.ID
				}{ifc, *slot})
			}
		}
	}
	for _, r := range rest {
		if !pick(r.ifc, r.net, false) {
			if n, ok := nets[r.net]; ok {
				wants = append(wants, want{n, r.ifc.ID})
			}
		}
	}
	// The node joins the group before it claims anything there (see syncNodeClaims).
	if err := s.st.Set(ctx, store.Nodes, nd.ID, map[string]any{"group": to.ID}); err != nil {
		return err
	}
	var fresh []store.Address
	for _, w := range wants {
		got, err := s.allocateMany(ctx, w.net, store.KindNode, []ifaceClaim{{Owner: nd.ID, Iface: w.iface}})
		if err != nil {
			return s.undo(ctx, Failf("Cannot move node '%s' to group '%s': %s", nd.Name, to.Name, err.Error()),
				"node '"+nd.Name+"' in group '"+to.Name+"' and its new addresses", func(ctx context.Context) error {
					if err := s.releaseAddresses(ctx, fresh); err != nil {
						return err
					}
					if err := s.st.Set(ctx, store.Nodes, nd.ID, map[string]any{"group": nd.Group}); err != nil {
						return err
					}
					// What a concurrent setnet gave the node in the meantime goes too.
					return s.syncNodeClaims(ctx, to.ID, nil)
				})
		}
		fresh = append(fresh, got...)
	}
	ctx = committed(ctx) // the node is in its new group with its new addresses
	for _, m := range moves {
		if err := s.st.SetAddressIface(ctx, []store.ID{m.addr}, m.iface); err != nil {
			return err
		}
	}
	var drop []store.Address
	for _, a := range old {
		if !used[a.ID] {
			drop = append(drop, a)
		}
	}
	if err := s.releaseAddresses(ctx, drop); err != nil {
		return err
	}
	return s.syncNodeClaims(ctx, to.ID, []store.ID{nd.ID})
}

// DeleteNodes removes nodes with their MACs, learned MACs and addresses.
func (s *Service) DeleteNodes(ctx context.Context, names []string) error {
	if err := s.Guard(ctx); err != nil {
		return err
	}
	var nodes []store.Node
	for _, name := range names {
		nd, err := s.Node(ctx, name)
		if err != nil {
			return err
		}
		nodes = append(nodes, *nd)
	}
	ids := nodeIDs(nodes)
	macs, err := s.st.MACsOf(ctx, ids)
	if err != nil {
		return err
	}
	// The nodes go before their claims: a setnet at the same time that gives
	// them an address after this drops it when it finds no node.
	if err := s.st.DeleteIDs(ctx, store.Nodes, ids); err != nil {
		return err
	}
	if len(macs) > 0 {
		list := make([]string, len(macs))
		for i, m := range macs {
			list[i] = m.MAC
		}
		if err := s.st.DeleteWhere(ctx, store.SwitchMAC, "mac", list); err != nil {
			return err
		}
		if err := s.st.DeleteWhere(ctx, store.MACs, "node", ids); err != nil {
			return err
		}
	}
	if err := s.st.DeleteIDs(ctx, store.States, ids); err != nil {
		return err
	}
	_, err = s.st.DeleteAddresses(ctx, store.AddressFilter{Owners: ids, Kind: store.KindNode})
	return err
}

// NodeIface is one interface of a node with its addresses.
type NodeIface struct {
	Name string `json:"name"`
	IPv4 string `json:"ipv4"`
	IPv6 string `json:"ipv6"`
}

// NodeStatusView is the last step a node reported and when.
type NodeStatusView struct {
	Step string    `json:"step"`
	Time time.Time `json:"time"`
	Age  string    `json:"age"`
	// While the node downloads its image: the percentage the tracker last
	// heard from it, and how long ago.
	Download       *float64 `json:"download_percent,omitempty"`
	DownloadUpdate string   `json:"download_update,omitempty"`
}

// Text is the status as `node list` and `node show` print it.
func (v *NodeStatusView) Text() string {
	step := v.Step
	if v.Download != nil {
		step = fmt.Sprintf("%s (%.2f%% / last update %s)", step, *v.Download, v.DownloadUpdate)
	}
	return step + " - " + v.Age
}

// PeerIDHex is the BitTorrent peer id a node's ltorrent-client announces
// with, as hex: its host name right-aligned in 20 characters (the first 20
// characters of a longer name), as Luna 1.2's client did.
func PeerIDHex(hostname string) string {
	id := fmt.Sprintf("%20s", hostname)
	if len(id) > 20 {
		id = id[:20]
	}
	return hex.EncodeToString([]byte(id))
}

// downloadProgress fills in the tracker's view of a downloading node.
func (s *Service) downloadProgress(ctx context.Context, v *NodeStatusView, hostname string, now time.Time) {
	if v.Step != "install.download" {
		return
	}
	p, err := s.st.LatestPeerByPeerID(ctx, PeerIDHex(hostname))
	if err != nil || p.Updated.Before(v.Time) || p.Downloaded+p.Left <= 0 {
		return
	}
	pct := 100 * float64(p.Downloaded) / float64(p.Downloaded+p.Left)
	if pct <= 0 {
		return
	}
	v.Download = &pct
	v.DownloadUpdate = fmt.Sprintf("%dsec", int64(now.Sub(p.Updated)/time.Second))
}

// NodeView is a node as shown (and in -o json).
type NodeView struct {
	Name       string          `json:"name"`
	Group      string          `json:"group"`
	MAC        string          `json:"mac"`
	Interfaces []NodeIface     `json:"interfaces"`
	Switch     string          `json:"switch"`
	Port       string          `json:"port"`
	LocalBoot  bool            `json:"localboot"`
	SetupBMC   bool            `json:"setupbmc"`
	Service    bool            `json:"service"`
	Status     *NodeStatusView `json:"status"`
	Comment    string          `json:"comment"`
}

// maxOwnerFilter is the most nodes whose addresses and MACs NodeViews
// selects by owner; above it reading those of every node is cheaper, as
// FerretDB tests each document against every element of an $in (with
// 20,000 addresses an $in of 1,000 owners costs about as much as reading
// them all, one of 10,000 twice as much).
const maxOwnerFilter = 1000

// nodeExtras are the addresses and MACs of some nodes, or of all (and more
// than needed: NodeViews looks up only the nodes it shows).
type nodeExtras struct {
	macs   []store.MAC
	states map[store.ID]store.NodeState
	err    error
}

// nodeExtras reads the MACs of the nodes owners, or of every node when
// owners is nil.
func (s *Service) nodeExtras(ctx context.Context, owners []store.ID) nodeExtras {
	var x nodeExtras
	x.macs, x.err = s.st.MACsOf(ctx, owners)
	if x.err == nil {
		x.states, x.err = s.st.NodeStates(ctx, owners)
	}
	return x
}

// NodeViews returns nodes for list and show: those named, or every node of
// group (all groups when ""), ordered by group then name. It reads each
// collection once, whatever the number of nodes.
func (s *Service) NodeViews(ctx context.Context, group string, names []string) ([]NodeView, error) {
	// A list of every node reads the MACs of every node while it reads the
	// nodes: neither depends on the other, and on FerretDB each read is a
	// scan of its whole collection. Returning early cancels it. Addresses
	// come from each node's copy of its claims (store.Node.Addrs).
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var listed chan nodeExtras
	if len(names) == 0 && group == "" {
		listed = make(chan nodeExtras, 1)
		go func() { listed <- s.nodeExtras(ctx, nil) }()
	}
	var nodes []store.Node
	switch {
	case len(names) > 0:
		for _, n := range names {
			nd, err := s.Node(ctx, n)
			if err != nil {
				return nil, err
			}
			nodes = append(nodes, *nd)
		}
	case group != "":
		g, err := s.Group(ctx, group)
		if err != nil {
			return nil, err
		}
		if err := s.st.ListWhere(ctx, store.Nodes, "group", g.ID, &nodes); err != nil {
			return nil, err
		}
	default:
		if err := s.st.List(ctx, store.Nodes, &nodes); err != nil {
			return nil, err
		}
	}
	var groups []store.Group
	if err := s.st.List(ctx, store.Groups, &groups); err != nil {
		return nil, err
	}
	groupByID := map[store.ID]*store.Group{}
	ifName := map[string]string{}
	for i := range groups {
		groupByID[groups[i].ID] = &groups[i]
		for _, ifc := range groups[i].Interfaces {
			ifName[ifc.ID] = ifc.Name
		}
	}
	nets, err := s.networksByID(ctx)
	if err != nil {
		return nil, err
	}
	switchNames, err := s.namesByID(ctx, store.Switches)
	if err != nil {
		return nil, err
	}
	var x nodeExtras
	switch {
	case listed != nil:
		x = <-listed
	case len(nodes) <= maxOwnerFilter:
		x = s.nodeExtras(ctx, nodeIDs(nodes))
	default:
		x = s.nodeExtras(ctx, nil)
	}
	if x.err != nil {
		return nil, x.err
	}
	var addrs []store.Address // the nodes' copies of their claims
	for i := range nodes {
		addrs = append(addrs, store.NodeAddrs(&nodes[i])...)
	}
	macOf := make(map[store.ID]string, len(x.macs))
	for _, m := range x.macs {
		macOf[m.Node] = m.MAC
	}
	type key struct {
		node  store.ID
		iface string
	}
	ifs := map[key]*NodeIface{}
	perNode := map[store.ID][]*NodeIface{}
	for _, a := range addrs {
		n, ok := nets[a.Network]
		if !ok {
			continue
		}
		k := key{a.Owner, a.Iface}
		ni := ifs[k]
		if ni == nil {
			ni = &NodeIface{Name: ifName[a.Iface]}
			ifs[k] = ni
			perNode[a.Owner] = append(perNode[a.Owner], ni)
		}
		if n.Version == 6 {
			ni.IPv6 = addressText(n, a.Offset)
		} else {
			ni.IPv4 = addressText(n, a.Offset)
		}
	}
	now := s.Now()
	out := make([]NodeView, 0, len(nodes))
	for _, nd := range nodes {
		v := NodeView{Name: nd.Name, MAC: macOf[nd.ID], Port: nd.Port, LocalBoot: nd.LocalBoot,
			SetupBMC: nd.SetupBMC, Service: nd.Service, Comment: nd.Comment, Interfaces: []NodeIface{}}
		if g, ok := groupByID[nd.Group]; ok {
			v.Group = g.Name
		}
		if nd.Switch != nil {
			v.Switch = switchNames[*nd.Switch]
		}
		for _, ni := range perNode[nd.ID] {
			v.Interfaces = append(v.Interfaces, *ni)
		}
		sort.Slice(v.Interfaces, func(i, j int) bool { return v.Interfaces[i].Name < v.Interfaces[j].Name })
		if st, ok := x.states[nd.ID]; ok {
			v.Status = &NodeStatusView{Step: st.Step, Time: st.Time.UTC(), Age: Age(now.Sub(st.Time))}
			host := nd.Name
			if g, ok := groupByID[nd.Group]; ok && g.Domain != nil {
				if n, ok := nets[*g.Domain]; ok {
					host += "." + n.Name
				}
			}
			s.downloadProgress(ctx, v.Status, host, now)
		}
		out = append(out, v)
	}
	if len(names) == 0 {
		sort.SliceStable(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	}
	return out, nil
}

// Age prints a duration as Python's timedelta did, days included:
// "0:05:12", "2 days, 3:04:05".
func Age(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	secs := int64(d / time.Second)
	days := secs / 86400
	secs %= 86400
	hms := fmt.Sprintf("%d:%02d:%02d", secs/3600, secs%3600/60, secs%60)
	switch days {
	case 0:
		return hms
	case 1:
		return "1 day, " + hms
	}
	return strconv.FormatInt(days, 10) + " days, " + hms
}
