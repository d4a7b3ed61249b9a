package luna

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/clustervision/luna-go/internal/ipam"
	"github.com/clustervision/luna-go/internal/store"
)

// DHCPOptions are the options of `luna cluster makedhcp`: a network and a
// range (all three or none: none reuses the stored ones) and 1.2's
// --native_dhcp_ha.
type DHCPOptions struct {
	Network, Start, End string
	NativeHA            bool
}

// DHCPHost is one fixed address: a node's MAC and its address on the
// provisioning interface.
type DHCPHost struct {
	Name string
	MAC  string
	IP   string
}

// DHCPPeer is this server's side of an ISC failover pair (--native_dhcp_ha).
type DHCPPeer struct {
	Primary     bool
	Address     string // this server
	PeerAddress string // the other master
}

// DHCPConfig is everything makedhcp writes: the one subnet of the DHCP
// network, its dynamic range, the iPXE chain and a fixed address per node.
type DHCPConfig struct {
	NetworkName string
	Network     string // base address
	Netmask     string
	Prefix      int
	RangeStart  string
	RangeEnd    string
	FrontendIP  string
	BootURL     string // what iPXE (user class "iPXE") is told to chain: <base>/luna?step=boot
	HTTPBootURL string // what a UEFI HTTP boot client is told to fetch: <base>/boot/luna_ipxe.efi
	OMAPIKey    string // base64 HMAC-MD5 secret, the same on every run
	Hosts       []DHCPHost
	// HA is set when the cluster has cluster_ips: a configuration for the
	// other master is written too. Peers are the two sides of a failover
	// pair (primary first) with --native_dhcp_ha; without it both masters
	// get the same file and only the active one runs dhcpd (1.2's default).
	HA    bool
	Peers []DHCPPeer
}

// HTTPBootFile is the iPXE EFI binary a UEFI HTTP boot client downloads
// from lweb's /boot/ (copy luna_ipxe.efi into <cluster path>/boot).
const HTTPBootFile = "luna_ipxe.efi"

// maxDHCPRange bounds the addresses of a DHCP range: each is a claim.
const maxDHCPRange = 65536

// ConfigureDHCP is `luna cluster makedhcp`: with a network and a range it
// reserves the range in the network (one claim per address, so nodes are
// never given one of them and a range over used addresses is refused) and
// stores it in the cluster; without them it reuses the stored ones. It
// returns the configuration to write, built from one snapshot of the nodes.
func (s *Service) ConfigureDHCP(ctx context.Context, o DHCPOptions) (*DHCPConfig, error) {
	if err := s.Guard(ctx); err != nil {
		return nil, err
	}
	if o.Network != "" && (o.Start == "" || o.End == "") {
		return nil, Failf("Network range should be specified")
	}
	if o.Network == "" && (o.Start != "" || o.End != "") {
		return nil, Failf("Network should be specified")
	}
	var cfg *DHCPConfig
	err := s.locked(ctx, store.Clusters, ClusterName, func(ctx context.Context, id store.ID) error {
		var err error
		cfg, err = s.configureDHCP(ctx, id, o)
		return err
	})
	return cfg, err
}

func (s *Service) configureDHCP(ctx context.Context, id store.ID, o DHCPOptions) (*DHCPConfig, error) {
	c := &store.Cluster{}
	if err := s.byID(ctx, store.Clusters, id, ClusterName, c); err != nil {
		return nil, err
	}
	if o.Network == "" && c.DHCPNet == nil {
		return nil, Failf("DHCP network should be specified.")
	}
	if c.FrontendAddress == "" {
		return nil, Failf("Frontend address should be set.")
	}
	set := map[string]any{}
	if c.DHCPOMAPIKey == "" {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		c.DHCPOMAPIKey = base64.StdEncoding.EncodeToString(b[:])
		set["dhcp_omapi_key"] = c.DHCPOMAPIKey
	}
	var n *store.Network
	if o.Network != "" {
		var err error
		if n, err = s.Network(ctx, o.Network); err != nil {
			return nil, err
		}
		start, end, err := dhcpRange(n, c.FrontendAddress, o.Start, o.End)
		if err != nil {
			return nil, err
		}
		if err := s.claimDHCPRange(ctx, c, n, start, end); err != nil {
			return nil, err
		}
		set["dhcp_net"], set["dhcp_range_start"], set["dhcp_range_end"] = n.ID, start.Key(), end.Key()
		c.DHCPNet, c.DHCPRangeStart, c.DHCPRangeEnd = &n.ID, start.Key(), end.Key()
	} else {
		n = &store.Network{}
		if err := s.st.GetByID(ctx, store.Networks, *c.DHCPNet, n); err != nil {
			return nil, err
		}
		if _, err := dhcpFrontend(n, c.FrontendAddress); err != nil {
			return nil, err
		}
	}
	if len(set) > 0 {
		if err := s.st.Set(ctx, store.Clusters, c.ID, set); err != nil {
			return nil, err
		}
	}
	if o.Network != "" {
		if err := s.releaseOldDHCP(ctx, n.ID, c.DHCPRangeStart, c.DHCPRangeEnd); err != nil {
			return nil, err
		}
	}
	sub, err := subnet(n)
	if err != nil {
		return nil, err
	}
	cfg := &DHCPConfig{NetworkName: n.Name, Network: n.Base, Netmask: sub.Netmask(), Prefix: n.Prefix,
		RangeStart: addressText(n, c.DHCPRangeStart), RangeEnd: addressText(n, c.DHCPRangeEnd),
		FrontendIP: c.FrontendAddress, BootURL: ClusterURL(c) + "/luna?step=boot",
		HTTPBootURL: ClusterURL(c) + "/boot/" + HTTPBootFile, OMAPIKey: c.DHCPOMAPIKey, HA: c.ClusterIPs != ""}
	if cfg.Peers, err = s.dhcpPeers(c, o.NativeHA); err != nil {
		return nil, err
	}
	sn, err := s.LoadSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	cfg.Hosts = sn.dhcpHosts(n, s.warn)
	return cfg, nil
}

// dhcpFrontend checks that the frontend address is a host of the DHCP
// network: it is the router, name server and next-server handed out.
func dhcpFrontend(n *store.Network, frontend string) (ipam.Offset, error) {
	if n.Version != 4 {
		return ipam.Offset{}, Failf("Only IPv4 networks are supported.")
	}
	off, err := parseIn(n, frontend)
	if err != nil {
		return ipam.Offset{}, Failf("Frontend IP does not belong to network.")
	}
	return off, nil
}

// dhcpRange checks a new range: an IPv4 network, both ends usable hosts of
// it, start <= end (a one-address range is fine), the frontend outside it.
func dhcpRange(n *store.Network, frontend, startText, endText string) (start, end ipam.Offset, err error) {
	fe, err := dhcpFrontend(n, frontend)
	if err != nil {
		return start, end, err
	}
	for _, p := range []struct {
		off   *ipam.Offset
		text  string
		which string
	}{{&start, startText, "Start"}, {&end, endText, "End"}} {
		if _, err := ipam.ParseAddr(p.text); err != nil {
			return start, end, notIP("IP", p.text)
		}
		if *p.off, err = parseIn(n, p.text); err != nil {
			return start, end, addressRefused(p.text, ErrInvalid,
				fmt.Sprintf("%s of the range '%s' does not belong to network '%s'", p.which, p.text, n.Name))
		}
	}
	if end.Cmp(start) < 0 {
		return start, end, Failf("End IP of the range should not be below the start.")
	}
	if fe.Cmp(start) >= 0 && fe.Cmp(end) <= 0 {
		return start, end, Failf("The range %s-%s includes the frontend address %s.", startText, endText, frontend)
	}
	if size := end.Sub(start.Lo).Lo + 1; end.Hi != 0 || size > maxDHCPRange {
		return start, end, Failf("The range %s-%s is too large: at most %d addresses.", startText, endText, maxDHCPRange)
	}
	return start, end, nil
}

// claimDHCPRange claims every address of [start, end] in n that the
// cluster's range does not hold yet. A taken address (a node, switch,
// reservation, ...) undoes the new claims and names its holder; the old
// range stays as it was.
func (s *Service) claimDHCPRange(ctx context.Context, c *store.Cluster, n *store.Network, start, end ipam.Offset) error {
	held, err := s.st.FindAddresses(ctx, store.AddressFilter{Network: &n.ID, Kind: store.KindDHCP})
	if err != nil {
		return err
	}
	have := make(map[string]bool, len(held))
	for _, a := range held {
		have[a.Offset] = true
	}
	var docs []any
	var offs []ipam.Offset
	for off := start; off.Cmp(end) <= 0; off = off.Add(1) {
		if !have[off.Key()] {
			docs = append(docs, store.Address{ID: store.NewID(), Network: n.ID, Offset: off.Key(), Kind: store.KindDHCP, Owner: c.ID})
			offs = append(offs, off)
		}
	}
	var done []store.Address
	undo := func(err error) error {
		return s.undo(ctx, err, fmt.Sprintf("%d new DHCP range claims in network '%s'", len(done), n.Name),
			func(ctx context.Context) error { return s.releaseAddresses(ctx, done) })
	}
	const chunk = 1000
	for i := 0; i < len(docs); i += chunk {
		j := min(i+chunk, len(docs))
		k, err := s.st.InsertMany(ctx, store.Addresses, docs[i:j])
		if err != nil && !errors.Is(err, store.ErrExists) {
			k = j - i // interrupted or lost: any of them may be stored
		}
		for _, d := range docs[i : i+k] {
			done = append(done, d.(store.Address))
		}
		if err != nil {
			if errors.Is(err, store.ErrExists) {
				sub, _ := subnet(n)
				ip, _ := sub.AddrAt(offs[i+k])
				err = Failf("Unable to reserve new range: IP '%s' is used by %s", ipam.FormatAddr(ip), s.holder(ctx, n.ID, offs[i+k]))
			}
			return undo(err)
		}
	}
	if err := s.confirmNetwork(ctx, n); err != nil {
		return undo(err)
	}
	return nil
}

// releaseOldDHCP drops the range claims outside the stored range: those of
// a previous range, in this network or another.
func (s *Service) releaseOldDHCP(ctx context.Context, net store.ID, start, end string) error {
	all, err := s.st.FindAddresses(ctx, store.AddressFilter{Kind: store.KindDHCP})
	if err != nil {
		return err
	}
	var drop []store.Address
	for _, a := range all {
		if a.Network != net || a.Offset < start || a.Offset > end { // keys are fixed-width hex
			drop = append(drop, a)
		}
	}
	return s.releaseAddresses(ctx, drop)
}

// dhcpPeers are the failover sides for --native_dhcp_ha: this master (the
// one of cluster_ips configured here) first as primary, the other second.
func (s *Service) dhcpPeers(c *store.Cluster, native bool) ([]DHCPPeer, error) {
	if !native {
		return nil, nil
	}
	if c.ClusterIPs == "" {
		s.warn("Not an HA cluster (no cluster_ips): --native_dhcp_ha ignored.")
		return nil, nil
	}
	ips := strings.Split(c.ClusterIPs, ",")
	if len(ips) != 2 {
		return nil, Failf("Native DHCP HA needs exactly two cluster IPs, not %d (cluster change --cluster_ips A,B).", len(ips))
	}
	for _, ip := range ips {
		if ipam.Version(ip) != 4 {
			return nil, Failf("Native DHCP HA needs IPv4 cluster IPs, not '%s'.", ip)
		}
	}
	local := -1
	for i, ip := range ips {
		if s.IsLocalIP(ip) {
			local = i
			break
		}
	}
	if local < 0 {
		return nil, Failf("No proper cluster IPs are configured: none of %s is an address of this machine.", c.ClusterIPs)
	}
	me, peer := ips[local], ips[1-local]
	return []DHCPPeer{{Primary: true, Address: me, PeerAddress: peer}, {Primary: false, Address: peer, PeerAddress: me}}, nil
}

// dhcpHosts lists, by node name, every node with a MAC and an address on
// its group's provisioning interface in n: the interface on n (IPv4), BMC
// excluded, BOOTIF preferred, otherwise the first by name.
func (sn *Snapshot) dhcpHosts(n *store.Network, warn func(string)) []DHCPHost {
	if warn == nil {
		warn = func(string) {}
	}
	provIface := map[store.ID]string{} // group id -> interface id ("" = none)
	var out []DHCPHost
	for _, name := range sn.names {
		nc := sn.nodes[name]
		if nc.mac == "" {
			continue
		}
		ifID, ok := provIface[nc.group.ID]
		if !ok {
			ifID = provisioningIface(nc.group, n.ID, warn)
			provIface[nc.group.ID] = ifID
		}
		if ifID == "" {
			continue
		}
		for _, a := range nc.addrs {
			if a.Iface == ifID && a.Network == n.ID {
				out = append(out, DHCPHost{Name: name, MAC: nc.mac, IP: addressText(n, a.Offset)})
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func provisioningIface(g *store.Group, net store.ID, warn func(string)) string {
	var on []store.Interface
	for _, ifc := range g.Interfaces {
		if ifc.Network4 != nil && *ifc.Network4 == net && ifc.Name != BMCIf {
			if ifc.Name == BootIf {
				return ifc.ID
			}
			on = append(on, ifc)
		}
	}
	if len(on) == 0 {
		return ""
	}
	sort.Slice(on, func(i, j int) bool { return on[i].Name < on[j].Name })
	if len(on) > 1 {
		warn("Group '" + g.Name + "' has several interfaces in the provisioning network: using " + on[0].Name + ".")
	}
	return on[0].ID
}
