package luna

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/clustervision/luna-go/internal/store"
)

// BootNet is a node's address on its boot interface in one IP version.
type BootNet struct {
	IP      string
	Prefix  int
	Netmask string
}

// BootParams is everything a node boot script (iPXE or syslinux) needs.
type BootParams struct {
	NodeID     store.ID
	BaseURL    string // proto://frontend_address:frontend_port
	Name       string
	Hostname   string // name.domain, or name
	Domain     string
	MAC        string
	KernelFile string
	InitrdFile string
	KernOpts   string
	Service    bool
	LocalBoot  bool
	BootProto  string // static or dhcp
	Net4, Net6 *BootNet
	Token      string // per-boot token for the install request ("" = none)
}

// Cmdline is the kernel command line, in 1.2's order plus luna.ip6,
// luna.token and initrd= (needed by the UEFI stub).
func (p *BootParams) Cmdline() string {
	args := []string{"root=luna", "luna.bootproto=" + p.BootProto}
	if p.BootProto == "static" {
		args = append(args, "luna.mac="+p.MAC)
		if p.Net4 != nil {
			args = append(args, "luna.ip="+p.Net4.IP+"/"+strconv.Itoa(p.Net4.Prefix))
		}
		if p.Net6 != nil {
			args = append(args, "luna.ip6="+p.Net6.IP+"/"+strconv.Itoa(p.Net6.Prefix))
		}
	}
	args = append(args, "luna.url="+p.BaseURL+"/luna", "luna.node="+p.Name, "luna.hostname="+p.Hostname,
		"luna.service="+boolDigit(p.Service))
	if p.Token != "" {
		args = append(args, "luna.token="+p.Token)
	}
	if p.KernOpts != "" {
		args = append(args, p.KernOpts)
	}
	if p.InitrdFile != "" {
		args = append(args, "initrd="+p.InitrdFile)
	}
	return strings.Join(args, " ")
}

func boolDigit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// InstallIface is one interface of a node as the install script configures it.
type InstallIface struct {
	Name     string
	Params   string
	IPv4     string
	Prefix4  int
	Netmask4 string
	IPv6     string
	Prefix6  int
}

// InstallBMC are the BMC settings the install script applies.
type InstallBMC struct {
	UserID      int
	User        string
	Password    string
	NetChannel  int
	MgmtChannel int
	IP          string // the node's address on interface BMC ("" = leave the LAN settings)
	Netmask     string
}

// InstallParams is everything the install script needs.
type InstallParams struct {
	BaseURL        string
	Name           string
	Hostname       string
	Domain         string
	MAC            string
	Token          string
	PreScript      string
	PartScript     string
	PostScript     string
	TorrentIf      string // "" = the boot interface
	TorrentIfIP    string
	TorrentIfPfx   int
	TorrentIfIsBoo bool
	Interfaces     []InstallIface
	KernVer        string
	KernOpts       string
	Torrent        string      // <uuid>.torrent
	Tarball        string      // <uuid>.tgz
	BMC            *InstallBMC // nil: no BMC setup
}

// nodeContext is a node with what its scripts refer to.
type nodeContext struct {
	cluster *store.Cluster
	node    *store.Node
	group   *store.Group
	image   *store.OSImage
	nets    map[store.ID]*store.Network
	addrs   []store.Address
	mac     string
	bmc     *store.BMCSetup // the group's BMC setup, nil if none
	token   string          // the token of the node's current boot (not in a Snapshot)
}

func (s *Service) loadNodeContext(ctx context.Context, name string) (*nodeContext, error) {
	c, err := s.Cluster(ctx)
	if err != nil {
		return nil, err
	}
	nd, err := s.Node(ctx, name)
	if err != nil {
		return nil, err
	}
	nc := &nodeContext{cluster: c, node: nd, group: &store.Group{}, image: &store.OSImage{}}
	if err := s.st.GetByID(ctx, store.Groups, nd.Group, nc.group); err != nil {
		return nil, err
	}
	if err := s.st.GetByID(ctx, store.OSImages, nc.group.OSImage, nc.image); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if nc.nets, err = s.networksByID(ctx); err != nil {
		return nil, err
	}
	nc.addrs = store.NodeAddrs(nd)
	macs, err := s.st.MACsOf(ctx, []store.ID{nd.ID})
	if err != nil {
		return nil, err
	}
	if len(macs) > 0 {
		nc.mac = macs[0].MAC
	}
	var st store.NodeState
	if err := s.st.GetByID(ctx, store.States, nd.ID, &st); err == nil {
		nc.token = st.Token
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if nc.group.BMCSetup != nil {
		var b store.BMCSetup
		if err := s.st.GetByID(ctx, store.BMCSetups, *nc.group.BMCSetup, &b); err == nil {
			nc.bmc = &b
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	return nc, nil
}

func (nc *nodeContext) domain() string {
	if nc.group.Domain == nil {
		return ""
	}
	if n, ok := nc.nets[*nc.group.Domain]; ok {
		return n.Name
	}
	return ""
}

func (nc *nodeContext) hostname() string {
	if d := nc.domain(); d != "" {
		return nc.node.Name + "." + d
	}
	return nc.node.Name
}

// addrOn returns the node's address on interface ifc in the network of slot.
func (nc *nodeContext) addrOn(ifc *store.Interface, slot *store.ID) *BootNet {
	if slot == nil {
		return nil
	}
	n, ok := nc.nets[*slot]
	if !ok {
		return nil
	}
	for _, a := range nc.addrs {
		if a.Iface == ifc.ID && a.Network == n.ID {
			bn := &BootNet{IP: addressText(n, a.Offset), Prefix: n.Prefix}
			if sub, err := subnet(n); err == nil {
				bn.Netmask = sub.Netmask()
			}
			return bn
		}
	}
	return nil
}

// BootParams gathers what the boot script of a node shows.
func (s *Service) BootParams(ctx context.Context, name string) (*BootParams, error) {
	nc, err := s.loadNodeContext(ctx, name)
	if err != nil {
		return nil, err
	}
	return nc.bootParams(), nil
}

func (nc *nodeContext) bootParams() *BootParams {
	p := &BootParams{NodeID: nc.node.ID, BaseURL: ClusterURL(nc.cluster), Name: nc.node.Name, Hostname: nc.hostname(), Domain: nc.domain(),
		MAC: nc.mac, KernelFile: nc.image.KernFile, InitrdFile: nc.image.InitrdFile, KernOpts: nc.image.KernOpts,
		Service: nc.node.Service, LocalBoot: nc.node.LocalBoot, BootProto: "dhcp", Token: nc.token}
	if i := findIface(nc.group, BootIf); i >= 0 && nc.mac != "" {
		ifc := &nc.group.Interfaces[i]
		p.Net4, p.Net6 = nc.addrOn(ifc, ifc.Network4), nc.addrOn(ifc, ifc.Network6)
		if p.Net4 != nil || p.Net6 != nil {
			p.BootProto = "static"
		}
	}
	return p
}

// InstallParams gathers what the install script of a node needs. A node
// whose image was never packed has no install script.
func (s *Service) InstallParams(ctx context.Context, name string) (*InstallParams, error) {
	nc, err := s.loadNodeContext(ctx, name)
	if err != nil {
		return nil, err
	}
	return nc.installParams(), nil
}

func (nc *nodeContext) installParams() *InstallParams {
	p := &InstallParams{BaseURL: ClusterURL(nc.cluster), Name: nc.node.Name, Hostname: nc.hostname(), Domain: nc.domain(),
		MAC: nc.mac, Token: nc.token, PreScript: nc.group.PreScript, PartScript: nc.group.PartScript,
		PostScript: nc.group.PostScript, KernVer: nc.image.KernVer, KernOpts: nc.image.KernOpts}
	if nc.image.Torrent != "" {
		p.Torrent = nc.image.Torrent + ".torrent"
	}
	if nc.image.Tarball != "" {
		p.Tarball = nc.image.Tarball + ".tgz"
	}
	ifaces := append([]store.Interface(nil), nc.group.Interfaces...)
	sort.Slice(ifaces, func(i, j int) bool { return ifaces[i].Name < ifaces[j].Name })
	for i := range ifaces {
		ifc := &ifaces[i]
		ii := InstallIface{Name: ifc.Name, Params: ifc.Params}
		if a := nc.addrOn(ifc, ifc.Network4); a != nil {
			ii.IPv4, ii.Prefix4, ii.Netmask4 = a.IP, a.Prefix, a.Netmask
		}
		if a := nc.addrOn(ifc, ifc.Network6); a != nil {
			ii.IPv6, ii.Prefix6 = a.IP, a.Prefix
		}
		p.Interfaces = append(p.Interfaces, ii)
		if ifc.Name == nc.group.TorrentIf {
			p.TorrentIf, p.TorrentIfIP, p.TorrentIfPfx, p.TorrentIfIsBoo = ifc.Name, ii.IPv4, ii.Prefix4, ifc.Name == BootIf
		}
	}
	if b := nc.bmc; b != nil && nc.node.SetupBMC {
		p.BMC = &InstallBMC{UserID: or(b.UserID, 3), User: orS(b.User, "ladmin"), Password: orS(b.Password, "ladmin"),
			NetChannel: or(b.NetChannel, 1), MgmtChannel: or(b.MgmtChannel, 1)}
		for _, ii := range p.Interfaces {
			if ii.Name == BMCIf {
				p.BMC.IP, p.BMC.Netmask = ii.IPv4, ii.Netmask4
			}
		}
	}
	return p
}

func or(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func orS(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// NodeNames lists every node name, sorted (the iPXE menu's node list).
func (s *Service) NodeNames(ctx context.Context) ([]string, error) {
	var nodes []struct {
		Name string `bson:"name"`
	}
	if err := s.st.List(ctx, store.Nodes, &nodes); err != nil {
		return nil, err
	}
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Name
	}
	return out, nil
}

// StepRe is what a reported status may look like.
var StepRe = regexp.MustCompile(`^[ a-zA-Z0-9.\-_]{1,64}$`)

// SetNodeStatus records the last step a node reported.
func (s *Service) SetNodeStatus(ctx context.Context, name, step string) error {
	if !StepRe.MatchString(step) {
		return Failf("Invalid status %s", quote(step))
	}
	nd, err := s.Node(ctx, name)
	if err != nil {
		return err
	}
	return s.st.SetNodeStatuses(ctx, []store.StatusUpdate{{NodeID: nd.ID, Node: name, Status: store.NodeStatus{Step: step, Time: s.Now().UTC()}}})
}

// NewToken returns a fresh per-boot token: lweb puts it on the node's kernel
// command line and the install request of that boot must carry it (or come
// from the node's own address).
func NewToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NodeIPs returns every address of a node as text.
func (s *Service) NodeIPs(ctx context.Context, name string) ([]string, error) {
	nd, err := s.Node(ctx, name)
	if err != nil {
		return nil, err
	}
	nets, err := s.networksByID(ctx)
	if err != nil {
		return nil, err
	}
	return addressTexts(nets, store.NodeAddrs(nd)), nil
}

func addressTexts(nets map[store.ID]*store.Network, addrs []store.Address) []string {
	var out []string
	for _, a := range addrs {
		if n, ok := nets[a.Network]; ok {
			out = append(out, addressText(n, a.Offset))
		}
	}
	return out
}

// ErrUnknownNode is returned by Discover when nothing identifies the machine.
var ErrUnknownNode = errors.New("node not identified")

// DiscoverRequest is a discovery as lweb received it.
type DiscoverRequest struct {
	HWData []string // iPXE hwdata tokens: asset tag, ${mac}, net0..net9 MACs, in that order
	Chosen string   // the node name chosen in the iPXE menu ("" = none)
	Client string   // the requester's address
}

// Discovery is what Discover found.
type Discovery struct {
	Name   string
	Bound  bool // a MAC was bound to the node by this discovery
	HadMAC bool // the node had a MAC before it
}

// Discover identifies a booting machine from the iPXE hwdata tokens and an
// optional node name chosen in the menu. A chosen name binds the first
// valid MAC (the boot NIC's ${mac} comes first); otherwise a known MAC,
// then a MAC learned on the switch port configured for a node (by port
// name, then by bridge port number), which is then bound. A binding that
// would change a node's MAC or take a MAC from another node is refused
// with ErrRebindRefused unless the request comes from that node or the
// cluster allows it (allow_rebind; see bootauth.go).
func (s *Service) Discover(ctx context.Context, r DiscoverRequest) (Discovery, error) {
	var macs []string
	seen := map[string]bool{}
	for _, t := range r.HWData {
		m, err := NormalizeMAC(strings.TrimSpace(t))
		if err == nil && !seen[m] {
			seen[m] = true
			macs = append(macs, m)
		}
	}
	var c *store.Cluster
	bind := func(nd *store.Node, mac string) (Discovery, error) {
		if c == nil {
			var err error
			if c, err = s.Cluster(ctx); err != nil {
				return Discovery{}, err
			}
		}
		hadMAC, err := s.mayBind(ctx, c, nd, mac, r.Client)
		if err != nil {
			return Discovery{Name: nd.Name, HadMAC: hadMAC}, err
		}
		if err := s.setMAC(ctx, nd, mac); err != nil {
			return Discovery{}, err
		}
		return Discovery{Name: nd.Name, Bound: true, HadMAC: hadMAC}, nil
	}
	if r.Chosen != "" {
		nd, err := s.Node(ctx, r.Chosen)
		if err != nil {
			return Discovery{}, err
		}
		if len(macs) > 0 {
			return bind(nd, macs[0])
		}
		cur, err := s.st.MACsOf(ctx, []store.ID{nd.ID})
		if err != nil {
			return Discovery{}, err
		}
		return Discovery{Name: nd.Name, HadMAC: len(cur) > 0}, nil
	}
	if len(macs) == 0 {
		return Discovery{}, ErrUnknownNode
	}
	bound, err := s.st.MACsByAddress(ctx, macs)
	if err != nil {
		return Discovery{}, err
	}
	for _, m := range macs { // in hwdata order
		for _, b := range bound {
			if b.MAC == m {
				var nd store.Node
				if err := s.st.GetByID(ctx, store.Nodes, b.Node, &nd); err != nil {
					return Discovery{}, ErrUnknownNode
				}
				return Discovery{Name: nd.Name, HadMAC: true}, nil
			}
		}
	}
	learned, err := s.st.LearnedMACsByMAC(ctx, macs)
	if err != nil {
		return Discovery{}, err
	}
	for _, byName := range []bool{true, false} {
		for _, m := range macs {
			for _, l := range learned {
				if l.MAC != m {
					continue
				}
				port := l.Port
				if byName {
					port = l.PortName
				}
				var nodes []store.Node
				if err := s.st.ListWhere(ctx, store.Nodes, "switch", l.Switch, &nodes); err != nil {
					return Discovery{}, err
				}
				for i := range nodes {
					if nodes[i].Port != "" && nodes[i].Port == port {
						return bind(&nodes[i], m)
					}
				}
			}
		}
	}
	return Discovery{}, ErrUnknownNode
}

// NodeStatusCounts counts nodes by their last status step ("none" when
// they never reported).
func (s *Service) NodeStatusCounts(ctx context.Context) (map[string]int, error) {
	var nodes []struct {
		ID store.ID `bson:"_id"`
	}
	if err := s.st.List(ctx, store.Nodes, &nodes); err != nil {
		return nil, err
	}
	states, err := s.st.NodeStates(ctx, nil)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, n := range nodes {
		st := "none"
		if state, ok := states[n.ID]; ok {
			st = state.Step
		}
		out[st]++
	}
	return out, nil
}
