package luna

import (
	"context"

	"github.com/clustervision/luna-go/internal/store"
)

// What `luna <object> show` and the CLI's editors read, in luna's own
// types: the CLI never holds a stored document (cli.TestNoStoreTypes).

// ClusterView is the cluster's settings, as `luna cluster show` prints
// them. The DHCP range is the network's name and two addresses ("" when
// `cluster makedhcp` never ran); the torrent timeouts have their defaults
// applied.
type ClusterView struct {
	Name, Comment                               string
	NodePrefix                                  string
	NodeDigits                                  int
	User, Path                                  string
	Debug                                       int
	ClusterIPs, FrontendAddress                 string
	FrontendPort                                int
	FrontendHTTPS, InsecureInstall, AllowRebind bool
	HTTPSCert, HTTPSKey                         string
	ServerPort                                  int
	TrackerInterval, TrackerMinInterval         int
	TrackerMaxPeers                             int
	TorrentListenPortMin, TorrentListenPortMax  int
	TorrentPidfile                              string
	TorrentSoftTimeout, TorrentHardTimeout      int // seconds
	LwebNumProc                                 int
	LwebPidfile                                 string
	NamedIncludeFile, NamedZoneDir              string
	DHCPNet, DHCPRangeStart, DHCPRangeEnd       string
}

// ClusterView reads the cluster's settings.
func (s *Service) ClusterView(ctx context.Context) (*ClusterView, error) {
	c, err := s.Cluster(ctx)
	if err != nil {
		return nil, err
	}
	v := &ClusterView{Name: c.Name, Comment: c.Comment, NodePrefix: c.NodePrefix, NodeDigits: c.NodeDigits, User: c.User,
		Path: c.Path, Debug: c.Debug, ClusterIPs: c.ClusterIPs, FrontendAddress: c.FrontendAddress, FrontendPort: c.FrontendPort,
		FrontendHTTPS: c.FrontendHTTPS, InsecureInstall: c.InsecureInstall, AllowRebind: c.AllowRebind,
		HTTPSCert: c.HTTPSCert, HTTPSKey: c.HTTPSKey, ServerPort: c.ServerPort, TrackerInterval: c.TrackerInterval,
		TrackerMinInterval: c.TrackerMinInterval, TrackerMaxPeers: c.TrackerMaxPeers,
		TorrentListenPortMin: c.TorrentListenPortMin, TorrentListenPortMax: c.TorrentListenPortMax,
		TorrentPidfile: c.TorrentPidfile, TorrentSoftTimeout: orSeconds(c.TorrentSoftTimeout, DefaultTorrentSoftTimeout.Seconds()),
		TorrentHardTimeout: orSeconds(c.TorrentHardTimeout, DefaultTorrentHardTimeout.Seconds()),
		LwebNumProc:        c.LwebNumProc, LwebPidfile: c.LwebPidfile, NamedIncludeFile: c.NamedIncludeFile, NamedZoneDir: c.NamedZoneDir}
	v.DHCPNet, v.DHCPRangeStart, v.DHCPRangeEnd = s.DHCPRange(ctx, c)
	return v, nil
}

func orSeconds(v int, def float64) int {
	if v == 0 {
		return int(def)
	}
	return v
}

// BMCSetupView is a bmcsetup as `luna bmcsetup show|list` print it.
type BMCSetupView struct {
	Name        string `json:"name"`
	User        string `json:"user"`
	Password    string `json:"password"`
	UserID      int    `json:"userid"`
	NetChannel  int    `json:"netchannel"`
	MgmtChannel int    `json:"mgmtchannel"`
	Comment     string `json:"comment"`
}

func bmcSetupView(b *store.BMCSetup) BMCSetupView {
	return BMCSetupView{Name: b.Name, User: b.User, Password: b.Password, UserID: b.UserID,
		NetChannel: b.NetChannel, MgmtChannel: b.MgmtChannel, Comment: b.Comment}
}

// BMCSetupViews reads the named bmcsetups, or every one (by name) when no
// name is given.
func (s *Service) BMCSetupViews(ctx context.Context, names ...string) ([]BMCSetupView, error) {
	var all []store.BMCSetup
	if len(names) == 0 {
		if err := s.st.List(ctx, store.BMCSetups, &all); err != nil {
			return nil, err
		}
	}
	for _, n := range names {
		b, err := s.BMCSetup(ctx, n)
		if err != nil {
			return nil, err
		}
		all = append(all, *b)
	}
	views := []BMCSetupView{}
	for i := range all {
		views = append(views, bmcSetupView(&all[i]))
	}
	return views, nil
}

// Text fields of objects, as `--comment`, `--prescript`, `--include`...
// open them in the editor.
const (
	TextComment         = "comment"
	TextPreScript       = "prescript"
	TextPartScript      = "partscript"
	TextPostScript      = "postscript"
	TextInclude         = "include"
	TextRevInclude      = "rev_include"
	TextGrabExcludeList = "grab_exclude_list"
)

// texts holds every text field an object type has (each type has a few).
type texts struct {
	Comment         string `bson:"comment"`
	PreScript       string `bson:"prescript"`
	PartScript      string `bson:"partscript"`
	PostScript      string `bson:"postscript"`
	Include         string `bson:"include"`
	RevInclude      string `bson:"rev_include"`
	GrabExcludeList string `bson:"grab_exclude_list"`
}

// textFields are the text fields of each object type.
var textFields = map[string][]string{
	Clusters: {TextComment}, BMCSetups: {TextComment}, Nodes: {TextComment}, Switches: {TextComment}, OtherDevs: {TextComment},
	Groups:   {TextComment, TextPreScript, TextPartScript, TextPostScript},
	Networks: {TextComment, TextInclude, TextRevInclude},
	OSImages: {TextComment, TextGrabExcludeList},
}

// Text reads one text field (TextComment...) of the object of kind named
// name.
func (s *Service) Text(ctx context.Context, kind, name, field string) (string, error) {
	ok := false
	for _, f := range textFields[kind] {
		ok = ok || f == field
	}
	if !ok {
		return "", Errorf("Object type '%s' has no text field '%s'", kind, field)
	}
	var t texts
	if err := s.load(ctx, kind, name, &t); err != nil {
		return "", err
	}
	return map[string]string{TextComment: t.Comment, TextPreScript: t.PreScript, TextPartScript: t.PartScript,
		TextPostScript: t.PostScript, TextInclude: t.Include, TextRevInclude: t.RevInclude,
		TextGrabExcludeList: t.GrabExcludeList}[field], nil
}

// Exists says, as an error, that the object of kind named name does not
// exist (nil when it does).
func (s *Service) Exists(ctx context.Context, kind, name string) error {
	_, err := s.IDOf(ctx, kind, name)
	return err
}

// InterfaceParams reads the parameters (ifcfg lines) of interface iface of
// group; "" when the group has no such interface (changing it then says
// so).
func (s *Service) InterfaceParams(ctx context.Context, group, iface string) (string, error) {
	g, err := s.Group(ctx, group)
	if err != nil {
		return "", err
	}
	for _, ifc := range g.Interfaces {
		if ifc.Name == iface {
			return ifc.Params, nil
		}
	}
	return "", nil
}

// NetworkHosts lists what holds an address in network name (`network
// show --reservedips`).
func (s *Service) NetworkHosts(ctx context.Context, name string) ([]HostAddr, error) {
	n, err := s.Network(ctx, name)
	if err != nil {
		return nil, err
	}
	return s.HostsIn(ctx, n)
}
