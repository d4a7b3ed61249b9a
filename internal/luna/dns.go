package luna

import (
	"context"
	"net/netip"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/clustervision/luna-go/internal/ipam"
	"github.com/clustervision/luna-go/internal/store"
)

// DNSHost is one named address of a network.
type DNSHost struct {
	Name string // one DNS label
	IP   netip.Addr
}

// DNSNetwork is what makedns puts in the zones of one network.
type DNSNetwork struct {
	Name       string // the forward zone
	Base       netip.Addr
	Prefix     int
	NSHostname string
	NSIP       netip.Addr // invalid when the network has no name server address
	Include    string
	RevInclude string
	Hosts      []DNSHost // by address; the name server included
}

// DNSConfig is everything `luna cluster makedns` writes.
type DNSConfig struct {
	IncludeFile string // named_include_file
	ZoneDir     string // named_zone_dir
	Networks    []DNSNetwork
}

// DNSLabel turns a host name of --reservedips into a DNS label: interface
// suffixes may hold '.' and '_' (eth0.100), which become '-'.
func DNSLabel(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '_' {
			return '-'
		}
		return r
	}, name)
}

// DNSConfig gathers the zones' contents: every network with its nodes
// (<node>-<ifname> where the node's group has several interfaces on the
// network, spec §7.4), switches, other devices and the name server. Nodes
// come from one snapshot, the other holders from their documents.
func (s *Service) DNSConfig(ctx context.Context) (*DNSConfig, error) {
	if err := s.Guard(ctx); err != nil {
		return nil, err
	}
	c, err := s.Cluster(ctx)
	if err != nil {
		return nil, err
	}
	if c.NamedIncludeFile == "" {
		return nil, Failf("named_include_file should be configured")
	}
	if c.NamedZoneDir == "" {
		return nil, Failf("named_zone_dir should be configured")
	}
	var nets []store.Network
	if err := s.st.List(ctx, store.Networks, &nets); err != nil {
		return nil, err
	}
	if len(nets) == 0 {
		return nil, Failf("No networks configured in this cluster")
	}
	// The nodes come from one snapshot; the other holders from the copies
	// of their claims on their own documents (store.DevAddrs: a query of
	// the claims by kind reads every claim on FerretDB), read at the same
	// time.
	var (
		sn    *Snapshot
		addrs []store.Address
		names map[store.ID]string
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		sn, err = s.LoadSnapshot(gctx)
		return err
	})
	g.Go(func() error {
		var err error
		addrs, names, err = s.st.DevAddrs(gctx)
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	hosts := map[store.ID][]hostAt{}
	for _, name := range sn.names {
		nc := sn.nodes[name]
		for _, a := range nc.addrs {
			hosts[a.Network] = append(hosts[a.Network], hostAt{name: name + nodeSuffix(nc.group, a.Iface, a.Network, nets), offset: a.Offset})
		}
	}
	nsOffset := map[store.ID]string{}
	for _, a := range addrs {
		switch a.Kind {
		case store.KindNameServer:
			nsOffset[a.Network] = a.Offset
		case store.KindSwitch, store.KindOtherDev:
			if nm, ok := names[a.Owner]; ok {
				hosts[a.Network] = append(hosts[a.Network], hostAt{name: nm, offset: a.Offset})
			}
		}
	}
	sort.Slice(nets, func(i, j int) bool { return nets[i].Name < nets[j].Name })
	cfg := &DNSConfig{IncludeFile: c.NamedIncludeFile, ZoneDir: c.NamedZoneDir}
	for i := range nets {
		n := &nets[i]
		sub, err := subnet(n)
		if err != nil {
			return nil, err
		}
		dn := DNSNetwork{Name: n.Name, Base: sub.Base(), Prefix: n.Prefix, NSHostname: n.NSHostname,
			Include: n.Include, RevInclude: n.RevInclude}
		list := hosts[n.ID]
		if k, ok := nsOffset[n.ID]; ok {
			list = append(list, hostAt{name: n.NSHostname, offset: k, ns: true})
		}
		sort.SliceStable(list, func(i, j int) bool { return list[i].offset < list[j].offset })
		seen := map[string]bool{}
		for _, h := range list {
			ip, ok := hostIP(sub, h.offset)
			if !ok {
				continue
			}
			if h.ns {
				dn.NSIP = ip
			}
			label := DNSLabel(h.name)
			if !hostLabel.MatchString(label) {
				s.warn("'" + h.name + "' in network '" + n.Name + "' is not a DNS label: no record.")
				continue
			}
			key := strings.ToLower(label)
			if seen[key] {
				s.warn("Duplicate name '" + label + "' in network '" + n.Name + "': " + ipam.FormatAddr(ip) + " has no record.")
				continue
			}
			seen[key] = true
			dn.Hosts = append(dn.Hosts, DNSHost{Name: label, IP: ip})
		}
		cfg.Networks = append(cfg.Networks, dn)
	}
	return cfg, nil
}

type hostAt struct {
	name   string
	offset string
	ns     bool
}

func hostIP(sub ipam.Network, key string) (netip.Addr, bool) {
	off, err := ipam.ParseKey(key)
	if err != nil {
		return netip.Addr{}, false
	}
	ip, err := sub.AddrAt(off)
	return ip, err == nil
}

// nodeSuffix is "-<ifname>" when the group has several interfaces on the
// network (lower case unless that makes two collide), "" otherwise; the
// same names as `network show --reservedips` (nodeSuffixes).
func nodeSuffix(g *store.Group, iface string, net store.ID, nets []store.Network) string {
	version := 4
	for i := range nets {
		if nets[i].ID == net {
			version = nets[i].Version
		}
	}
	var on []store.Interface
	for _, ifc := range g.Interfaces {
		slot := ifc.Network4
		if version == 6 {
			slot = ifc.Network6
		}
		if slot != nil && *slot == net {
			on = append(on, ifc)
		}
	}
	if len(on) < 2 {
		return ""
	}
	lower := map[string]int{}
	for _, ifc := range on {
		lower[strings.ToLower(ifc.Name)]++
	}
	for _, ifc := range on {
		if ifc.ID == iface {
			if lower[strings.ToLower(ifc.Name)] > 1 {
				return "-" + ifc.Name
			}
			return "-" + strings.ToLower(ifc.Name)
		}
	}
	return ""
}
