package luna

import (
	"context"
	"sort"

	"golang.org/x/sync/errgroup"

	"github.com/clustervision/luna-go/internal/store"
)

// Snapshot is a read-only copy of everything booting nodes ask lweb for:
// each node with its group, image, networks, addresses, MAC and BMC setup.
// It is read with one query per collection, so its cost does not grow with
// the number of queries a mass boot makes; lweb keeps one and replaces it
// when the store's change marker moves.
type Snapshot struct {
	nodes map[string]*nodeContext // by node name
	boot  map[string]*BootParams  // by node name, computed once (discovery asks for them)
	byMAC map[string]string       // MAC -> node name
	names []string                // sorted
}

// LoadSnapshot reads the cluster, every node, group, osimage, network, BMC
// setup and MAC; node addresses are the nodes' copies of their claims.
func (s *Service) LoadSnapshot(ctx context.Context) (*Snapshot, error) {
	c, err := s.Cluster(ctx)
	if err != nil {
		return nil, err
	}
	var (
		nodes  []store.Node
		groups []store.Group
		images []store.OSImage
		bmcs   []store.BMCSetup
		macs   []store.MAC
	)
	// The collections are read at the same time: the server reads the
	// nodes and the MACs (the two large ones) on two cores, not one after
	// the other (docs/BENCHMARKS.md, bench/dhcpdns).
	var nets map[store.ID]*store.Network
	g, gctx := errgroup.WithContext(ctx)
	for _, l := range []struct {
		coll string
		out  any
	}{{store.Nodes, &nodes}, {store.Groups, &groups}, {store.OSImages, &images}, {store.BMCSetups, &bmcs}, {store.MACs, &macs}} {
		g.Go(func() error { return s.st.List(gctx, l.coll, l.out) })
	}
	g.Go(func() error {
		var err error
		nets, err = s.networksByID(gctx)
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	groupByID := make(map[store.ID]*store.Group, len(groups))
	for i := range groups {
		groupByID[groups[i].ID] = &groups[i]
	}
	imageByID := make(map[store.ID]*store.OSImage, len(images))
	for i := range images {
		imageByID[images[i].ID] = &images[i]
	}
	bmcByID := make(map[store.ID]*store.BMCSetup, len(bmcs))
	for i := range bmcs {
		bmcByID[bmcs[i].ID] = &bmcs[i]
	}
	macOf := make(map[store.ID]string, len(macs))
	for _, m := range macs {
		macOf[m.Node] = m.MAC
	}
	sn := &Snapshot{nodes: make(map[string]*nodeContext, len(nodes)), boot: make(map[string]*BootParams, len(nodes)),
		byMAC: make(map[string]string, len(macs)), names: make([]string, 0, len(nodes))}
	for i := range nodes {
		nd := &nodes[i]
		g, ok := groupByID[nd.Group]
		if !ok {
			continue // a node whose group is gone (a concurrent delete): not bootable
		}
		nc := &nodeContext{cluster: c, node: nd, group: g, image: &store.OSImage{}, nets: nets,
			addrs: store.NodeAddrs(nd), mac: macOf[nd.ID]}
		if im, ok := imageByID[g.OSImage]; ok {
			nc.image = im
		}
		if g.BMCSetup != nil {
			nc.bmc = bmcByID[*g.BMCSetup]
		}
		sn.nodes[nd.Name] = nc
		sn.boot[nd.Name] = nc.bootParams()
		sn.names = append(sn.names, nd.Name)
		if nc.mac != "" {
			sn.byMAC[nc.mac] = nd.Name
		}
	}
	sort.Strings(sn.names)
	return sn, nil
}

// Len is the number of nodes in the snapshot.
func (sn *Snapshot) Len() int { return len(sn.nodes) }

// Names are the node names, sorted (the iPXE menu's list). Do not modify.
func (sn *Snapshot) Names() []string { return sn.names }

// NodeByMAC returns the node the first bound MAC of macs belongs to.
func (sn *Snapshot) NodeByMAC(macs []string) (string, bool) {
	for _, m := range macs {
		if n, ok := sn.byMAC[m]; ok {
			return n, true
		}
	}
	return "", false
}

// Node returns a copy of a node's document as it was read.
func (sn *Snapshot) Node(name string) (*store.Node, bool) {
	nc, ok := sn.nodes[name]
	if !ok {
		return nil, false
	}
	nd := *nc.node
	return &nd, true
}

// BootParams are a node's boot script parameters (without a token), a copy.
func (sn *Snapshot) BootParams(name string) (*BootParams, bool) {
	p, ok := sn.boot[name]
	if !ok {
		return nil, false
	}
	cp := *p
	return &cp, true
}

// InstallParams are a node's install script parameters.
func (sn *Snapshot) InstallParams(name string) (*InstallParams, bool) {
	nc, ok := sn.nodes[name]
	if !ok {
		return nil, false
	}
	return nc.installParams(), true
}

// NodeIPs are every address of a node, as text.
func (sn *Snapshot) NodeIPs(name string) ([]string, bool) {
	nc, ok := sn.nodes[name]
	if !ok {
		return nil, false
	}
	return addressTexts(nc.nets, nc.addrs), true
}
