package luna

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/clustervision/luna-go/internal/store"
)

// Default scripts of a new group, as in 1.2: a diskless node on tmpfs.
const (
	DefaultPartScript = "mount -t tmpfs tmpfs /sysroot"
	DefaultPostScript = "cat << EOF >> /sysroot/etc/fstab\ntmpfs   /       tmpfs    defaults        0 0\nEOF"
)

// Special interface names.
const (
	BootIf = "BOOTIF"
	BMCIf  = "BMC"
)

func newIfaceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// GroupAdd are the options of `luna group add`.
type GroupAdd struct {
	Name       string
	OSImage    string
	BMCSetup   string // optional
	BMCNetwork string // optional: creates interface BMC on it
	Network    string // BOOTIF network and domain
}

// AddGroup creates a group with interface BOOTIF on Network (and BMC on
// BMCNetwork). A new group has no nodes, so nothing is allocated.
func (s *Service) AddGroup(ctx context.Context, o GroupAdd) error {
	if err := ValidateName(ObjectName, o.Name); err != nil {
		return err
	}
	if err := s.Guard(ctx); err != nil {
		return err
	}
	if _, err := s.IDOf(ctx, store.Groups, o.Name); err == nil {
		return AlreadyCreated(o.Name)
	}
	img, err := s.IDOf(ctx, store.OSImages, o.OSImage)
	if err != nil {
		return err
	}
	net, err := s.Network(ctx, o.Network)
	if err != nil {
		return err
	}
	g := store.Group{ID: store.NewID(), Name: o.Name, OSImage: img, Domain: &net.ID,
		PartScript: DefaultPartScript, PostScript: DefaultPostScript}
	boot := store.Interface{ID: newIfaceID(), Name: BootIf}
	setSlot(&boot, net)
	g.Interfaces = append(g.Interfaces, boot)
	if o.BMCSetup != "" {
		id, err := s.IDOf(ctx, store.BMCSetups, o.BMCSetup)
		if err != nil {
			return err
		}
		g.BMCSetup = &id
	}
	if o.BMCNetwork != "" {
		bn, err := s.Network(ctx, o.BMCNetwork)
		if err != nil {
			return err
		}
		if bn.Version != 4 {
			return Errorf("The BMC network must be IPv4: '%s' is IPv%d", bn.Name, bn.Version)
		}
		bmc := store.Interface{ID: newIfaceID(), Name: BMCIf}
		setSlot(&bmc, bn)
		g.Interfaces = append(g.Interfaces, bmc)
	}
	if err := s.insert(ctx, store.Groups, o.Name, g); err != nil {
		return err
	}
	refs := []ref{{store.OSImages, g.OSImage}, {store.Networks, *g.Domain}}
	if g.BMCSetup != nil {
		refs = append(refs, ref{store.BMCSetups, *g.BMCSetup})
	}
	for _, ifc := range g.Interfaces {
		if ifc.Network4 != nil {
			refs = append(refs, ref{store.Networks, *ifc.Network4})
		}
		if ifc.Network6 != nil {
			refs = append(refs, ref{store.Networks, *ifc.Network6})
		}
	}
	if err := s.confirmRefs(ctx, refs...); err != nil {
		return s.undo(ctx, err, "group '"+g.Name+"'", func(ctx context.Context) error { return s.st.Delete(ctx, store.Groups, g.ID) })
	}
	return nil
}

func setSlot(ifc *store.Interface, n *store.Network) {
	id := n.ID
	if n.Version == 6 {
		ifc.Network6 = &id
	} else {
		ifc.Network4 = &id
	}
}

func slotOf(ifc *store.Interface, version int) *store.ID {
	if version == 6 {
		return ifc.Network6
	}
	return ifc.Network4
}

// Group loads a group by name.
func (s *Service) Group(ctx context.Context, name string) (*store.Group, error) {
	var g store.Group
	if err := s.load(ctx, store.Groups, name, &g); err != nil {
		return nil, err
	}
	return &g, nil
}

// findIface returns the index of the interface called name, or -1.
func findIface(g *store.Group, name string) int {
	for i, ifc := range g.Interfaces {
		if ifc.Name == name {
			return i
		}
	}
	return -1
}

// GroupChange are the group-wide options of `luna group change`.
type GroupChange struct {
	OSImage    *string
	Domain     *string // "" clears
	BMCSetup   *string // "" clears
	TorrentIf  *string // "" clears
	PreScript  *string
	PartScript *string
	PostScript *string
	Comment    *string
}

// ChangeGroup validates every given option and stores them in one update.
// It holds the object's lock while it works (see locked).
func (s *Service) ChangeGroup(ctx context.Context, name string, o GroupChange) error {
	return s.locked(ctx, store.Groups, name, func(ctx context.Context, id store.ID) error { return s.changeGroup(ctx, id, name, o) })
}

func (s *Service) changeGroup(ctx context.Context, id store.ID, name string, o GroupChange) error {
	if err := s.Guard(ctx); err != nil {
		return err
	}
	g := &store.Group{}
	if err := s.byID(ctx, store.Groups, id, name, g); err != nil {
		return err
	}
	set := map[string]any{}
	if o.OSImage != nil {
		id, err := s.IDOf(ctx, store.OSImages, *o.OSImage)
		if err != nil {
			return err
		}
		set["osimage"] = id
	}
	refs := []struct {
		key, coll string
		v         *string
	}{{"domain", store.Networks, o.Domain}, {"bmcsetup", store.BMCSetups, o.BMCSetup}}
	for _, r := range refs {
		if r.v == nil {
			continue
		}
		if *r.v == "" {
			set[r.key] = nil
			continue
		}
		id, err := s.IDOf(ctx, r.coll, *r.v)
		if err != nil {
			return err
		}
		set[r.key] = id
	}
	if o.TorrentIf != nil {
		if *o.TorrentIf != "" && findIface(g, *o.TorrentIf) < 0 {
			return Failf("Interface '%s' does not exist", *o.TorrentIf)
		}
		set["torrent_if"] = *o.TorrentIf
	}
	for key, v := range map[string]*string{"prescript": o.PreScript, "partscript": o.PartScript,
		"postscript": o.PostScript, "comment": o.Comment} {
		if v != nil {
			set[key] = *v
		}
	}
	if err := s.st.Set(ctx, store.Groups, g.ID, set); err != nil {
		return err
	}
	// An osimage, bmcsetup or network named here may have been deleted at
	// the same moment (see deleteUnused): then put the old ones back.
	var named []ref
	for key, coll := range map[string]string{"osimage": store.OSImages, "bmcsetup": store.BMCSetups, "domain": store.Networks} {
		if id, ok := set[key].(store.ID); ok {
			named = append(named, ref{coll, id})
		}
	}
	if err := s.confirmRefs(ctx, named...); err != nil {
		return s.undo(ctx, err, "the new osimage, bmcsetup and domain of group '"+g.Name+"'", func(ctx context.Context) error {
			return s.st.Set(ctx, store.Groups, g.ID, map[string]any{"osimage": g.OSImage, "bmcsetup": g.BMCSetup, "domain": g.Domain})
		})
	}
	return nil
}

// IfaceOp is one `--interface IF` action of `luna group change`.
type IfaceOp struct {
	Iface  string
	Add    bool
	Delete bool
	SetNet *string
	DelNet *string // "" = the only network of the interface
	Rename *string
	Params *string
}

// ChangeGroupInterface performs one interface action. setnet allocates an
// address for every node of the group and delnet releases them; either all
// nodes change or none does.
// It holds the object's lock while it works (see locked).
func (s *Service) ChangeGroupInterface(ctx context.Context, name string, op IfaceOp) error {
	return s.locked(ctx, store.Groups, name, func(ctx context.Context, id store.ID) error { return s.changeGroupInterface(ctx, id, name, op) })
}

func (s *Service) changeGroupInterface(ctx context.Context, id store.ID, name string, op IfaceOp) error {
	if err := s.Guard(ctx); err != nil {
		return err
	}
	g := &store.Group{}
	if err := s.byID(ctx, store.Groups, id, name, g); err != nil {
		return err
	}
	i := findIface(g, op.Iface)
	if op.Add {
		if err := ValidateName(IfaceName, op.Iface); err != nil {
			return err
		}
		if i >= 0 {
			return Failf("Interface '%s' already exists", op.Iface)
		}
		g.Interfaces = append(g.Interfaces, store.Interface{ID: newIfaceID(), Name: op.Iface})
		return s.st.Set(ctx, store.Groups, g.ID, map[string]any{"interfaces": g.Interfaces})
	}
	if i < 0 {
		return Failf("Interface '%s' does not exist", op.Iface)
	}
	ifc := &g.Interfaces[i]
	switch {
	case op.SetNet != nil:
		return s.setNet(ctx, g, i, *op.SetNet)
	case op.DelNet != nil:
		return s.delNet(ctx, g, i, *op.DelNet)
	case op.Delete:
		// The group first, then the claims: a node added at the same time
		// either sees the interface gone or has its claims released here.
		id := ifc.ID
		g.Interfaces = append(g.Interfaces[:i], g.Interfaces[i+1:]...)
		set := map[string]any{"interfaces": g.Interfaces}
		if g.TorrentIf == op.Iface {
			set["torrent_if"] = ""
		}
		if err := s.st.Set(ctx, store.Groups, g.ID, set); err != nil {
			return err
		}
		ctx = committed(ctx)
		if _, err := s.st.DeleteAddresses(ctx, store.AddressFilter{Kind: store.KindNode, Iface: id}); err != nil {
			return err
		}
		return s.syncNodeClaims(ctx, g.ID, nil)
	case op.Rename != nil:
		if err := ValidateName(IfaceName, *op.Rename); err != nil {
			return err
		}
		if findIface(g, *op.Rename) >= 0 {
			return Failf("Interface '%s' already exists", *op.Rename)
		}
		switch op.Iface {
		case BootIf:
			s.warn("No boot interface for nodes in the group configured. DHCP will be used during provisioning.")
		case BMCIf:
			s.warn("An interface named 'BMC' needs to be defined in order to have node's BMC configured.")
		}
		ifc.Name = *op.Rename
		set := map[string]any{"interfaces": g.Interfaces}
		if g.TorrentIf == op.Iface {
			set["torrent_if"] = *op.Rename
		}
		return s.st.Set(ctx, store.Groups, g.ID, set)
	case op.Params != nil:
		if err := validateParams(*op.Params); err != nil {
			return err
		}
		ifc.Params = strings.TrimSpace(*op.Params)
		return s.st.Set(ctx, store.Groups, g.ID, map[string]any{"interfaces": g.Interfaces})
	}
	return Failf("Action for interfaces should be specified.")
}

// validateParams checks ifcfg lines (KEY=value) before they are written into
// the install script.
func validateParams(p string) error {
	for _, line := range strings.Split(strings.TrimSpace(p), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.IndexFunc(k, func(r rune) bool {
			return !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
		}) >= 0 {
			return Errorf("Interface parameters must be KEY=value lines: %s", quote(line))
		}
		if strings.ContainsAny(line, "`$\\") || strings.Contains(line, "LUNA_IFCFG") {
			return Errorf("Interface parameters must not contain '`', '$', '\\' or LUNA_IFCFG: %s", quote(line))
		}
	}
	return nil
}

// setNet puts network net on interface i and gives every node of the group an address in it.
func (s *Service) setNet(ctx context.Context, g *store.Group, i int, netName string) error {
	ifc := &g.Interfaces[i]
	n, err := s.Network(ctx, netName)
	if err != nil {
		return err
	}
	if slotOf(ifc, n.Version) != nil {
		return Failf("Network IPv%d is already defined for interface '%s'", n.Version, ifc.Name)
	}
	if ifc.Name == BMCIf && n.Version != 4 {
		return Errorf("The BMC network must be IPv4: '%s' is IPv%d", n.Name, n.Version)
	}
	var nodes []store.Node
	if err := s.st.ListWhere(ctx, store.Nodes, "group", g.ID, &nodes); err != nil {
		return err
	}
	reqs := make([]ifaceClaim, len(nodes))
	for k, nd := range nodes {
		reqs[k] = ifaceClaim{Owner: nd.ID, Iface: ifc.ID}
	}
	claims, err := s.allocateMany(ctx, n, store.KindNode, reqs)
	if err != nil {
		return Failf("Could not reserve IPs (IPv%d) for the %d nodes on interface '%s': %s", n.Version, len(nodes), ifc.Name, err.Error())
	}
	setSlot(ifc, n)
	var undo undoList
	undo.add(fmt.Sprintf("%d address claims in network '%s'", len(claims), n.Name), func(ctx context.Context) error { return s.releaseAddresses(ctx, claims) })
	if err := s.st.Set(ctx, store.Groups, g.ID, map[string]any{"interfaces": g.Interfaces}); err != nil {
		return undo.run(ctx, s, err)
	}
	if err := s.confirmNetwork(ctx, n); err != nil { // deleted at the same time (see deleteUnused)
		if n.Version == 6 {
			ifc.Network6 = nil
		} else {
			ifc.Network4 = nil
		}
		undo.add("network '"+n.Name+"' on interface '"+ifc.Name+"' of group '"+g.Name+"'", func(ctx context.Context) error {
			return s.st.Set(ctx, store.Groups, g.ID, map[string]any{"interfaces": g.Interfaces})
		})
		return undo.run(ctx, s, err)
	}
	// Nodes added, moved or deleted while we allocated.
	return s.syncNodeClaims(committed(ctx), g.ID, nil)
}

// delNet removes a network from interface i and releases the nodes' addresses in it.
func (s *Service) delNet(ctx context.Context, g *store.Group, i int, netName string) error {
	ifc := &g.Interfaces[i]
	var target *store.ID
	switch {
	case netName != "":
		n, err := s.Network(ctx, netName)
		if err != nil {
			return err
		}
		if cur := slotOf(ifc, n.Version); cur == nil || *cur != n.ID {
			return Failf("Network '%s' is not configured for interface '%s'", netName, ifc.Name)
		}
		target = &n.ID
	case ifc.Network4 != nil && ifc.Network6 != nil:
		return Failf("Both IPv4 and IPv6 networks are configured for group. Need to specify network name.")
	case ifc.Network4 != nil:
		target = ifc.Network4
	case ifc.Network6 != nil:
		target = ifc.Network6
	default:
		return Failf("No network is configured for interface '%s'", ifc.Name)
	}
	id := *target
	if ifc.Network4 != nil && *ifc.Network4 == id {
		ifc.Network4 = nil
	} else {
		ifc.Network6 = nil
	}
	if err := s.st.Set(ctx, store.Groups, g.ID, map[string]any{"interfaces": g.Interfaces}); err != nil {
		return err
	}
	ctx = committed(ctx)
	if _, err := s.st.DeleteAddresses(ctx, store.AddressFilter{Network: &id, Kind: store.KindNode, Iface: ifc.ID}); err != nil {
		return err
	}
	return s.syncNodeClaims(ctx, g.ID, nil)
}

// CloneGroup copies a group with its interfaces (parameters included) and
// networks; nodes are not copied.
func (s *Service) CloneGroup(ctx context.Context, name, to string) error {
	if err := ValidateName(ObjectName, to); err != nil {
		return err
	}
	if err := s.Guard(ctx); err != nil {
		return err
	}
	g, err := s.Group(ctx, name)
	if err != nil {
		return err
	}
	c := *g
	c.ID = store.NewID()
	c.Name = to
	c.Interfaces = make([]store.Interface, len(g.Interfaces))
	for i, ifc := range g.Interfaces {
		ifc.ID = newIfaceID()
		c.Interfaces[i] = ifc
	}
	return s.insert(ctx, store.Groups, to, c)
}

// DeleteGroup removes a group without nodes.
func (s *Service) DeleteGroup(ctx context.Context, name string) error {
	if err := s.Guard(ctx); err != nil {
		return err
	}
	g, err := s.Group(ctx, name)
	if err != nil {
		return err
	}
	return s.deleteUnused(ctx, store.Groups, g.Name, g.ID, g)
}

// IfaceView is a group interface with its networks by name.
type IfaceView struct {
	Name     string `json:"name"`
	Network4 string `json:"network4"`
	Net4     string `json:"net4"` // NETWORK/PREFIX
	Netmask4 string `json:"netmask4"`
	Network6 string `json:"network6"`
	Net6     string `json:"net6"`
	Params   string `json:"params"`
}

// GroupView is a group as shown (and in -o json).
type GroupView struct {
	Name       string      `json:"name"`
	OSImage    string      `json:"osimage"`
	BMCSetup   string      `json:"bmcsetup"`
	Domain     string      `json:"domain"`
	Interfaces []IfaceView `json:"interfaces"`
	PreScript  string      `json:"prescript"`
	PartScript string      `json:"partscript"`
	PostScript string      `json:"postscript"`
	TorrentIf  string      `json:"torrent_if"`
	Comment    string      `json:"comment"`
}

// GroupViews returns the named groups (all when names is empty).
func (s *Service) GroupViews(ctx context.Context, names ...string) ([]GroupView, error) {
	var groups []store.Group
	if len(names) == 0 {
		if err := s.st.List(ctx, store.Groups, &groups); err != nil {
			return nil, err
		}
	} else {
		for _, n := range names {
			g, err := s.Group(ctx, n)
			if err != nil {
				return nil, err
			}
			groups = append(groups, *g)
		}
	}
	nets, err := s.networksByID(ctx)
	if err != nil {
		return nil, err
	}
	imgs, err := s.namesByID(ctx, store.OSImages)
	if err != nil {
		return nil, err
	}
	bmcs, err := s.namesByID(ctx, store.BMCSetups)
	if err != nil {
		return nil, err
	}
	out := make([]GroupView, 0, len(groups))
	for _, g := range groups {
		v := GroupView{Name: g.Name, OSImage: imgs[g.OSImage], PreScript: g.PreScript, PartScript: g.PartScript,
			PostScript: g.PostScript, TorrentIf: g.TorrentIf, Comment: g.Comment, Interfaces: []IfaceView{}}
		if g.BMCSetup != nil {
			v.BMCSetup = bmcs[*g.BMCSetup]
		}
		if g.Domain != nil {
			if n, ok := nets[*g.Domain]; ok {
				v.Domain = n.Name
			}
		}
		for _, ifc := range g.Interfaces {
			iv := IfaceView{Name: ifc.Name, Params: ifc.Params}
			if ifc.Network4 != nil {
				if n, ok := nets[*ifc.Network4]; ok {
					iv.Network4, iv.Net4 = n.Name, n.Base+"/"+itoa(n.Prefix)
					if sub, err := subnet(n); err == nil {
						iv.Netmask4 = sub.Netmask()
					}
				}
			}
			if ifc.Network6 != nil {
				if n, ok := nets[*ifc.Network6]; ok {
					iv.Network6, iv.Net6 = n.Name, n.Base+"/"+itoa(n.Prefix)
				}
			}
			v.Interfaces = append(v.Interfaces, iv)
		}
		sort.Slice(v.Interfaces, func(i, j int) bool { return v.Interfaces[i].Name < v.Interfaces[j].Name })
		out = append(out, v)
	}
	return out, nil
}

// namesByID maps every id of a collection to its name.
func (s *Service) namesByID(ctx context.Context, coll string) (map[store.ID]string, error) {
	var docs []struct {
		ID   store.ID `bson:"_id"`
		Name string   `bson:"name"`
	}
	if err := s.st.List(ctx, coll, &docs); err != nil {
		return nil, err
	}
	m := make(map[store.ID]string, len(docs))
	for _, d := range docs {
		m[d.ID] = d.Name
	}
	return m, nil
}
