package luna

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/clustervision/luna-go/internal/ipam"
	"github.com/clustervision/luna-go/internal/store"
)

// ClusterName is the name of the one cluster document.
const ClusterName = "general"

// Cluster loads the cluster document.
func (s *Service) Cluster(ctx context.Context) (*store.Cluster, error) {
	var c store.Cluster
	if err := s.load(ctx, store.Clusters, ClusterName, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// Guard refuses changes on the passive node of an HA pair: with cluster_ips
// set, only the node holding the floating frontend address may change state.
func (s *Service) Guard(ctx context.Context) error {
	active, err := s.IsActive(ctx)
	if err != nil {
		return err
	}
	if !active {
		return Failf("Inactive HA node.")
	}
	return nil
}

// ClusterInit are the options of `luna cluster init`.
type ClusterInit struct {
	FrontendAddress string
	NodePrefix      string
	NodeDigits      int
	User            string
	Path            string
}

// InitCluster creates the cluster document and the log directory.
func (s *Service) InitCluster(ctx context.Context, o ClusterInit) error {
	if _, err := s.Cluster(ctx); err == nil {
		return AlreadyCreated(ClusterName)
	}
	if _, err := ipam.ParseAddr(o.FrontendAddress); err != nil {
		return notIP("IP", o.FrontendAddress)
	}
	if err := validatePrefix(o.NodePrefix); err != nil {
		return err
	}
	if err := validateDigits(o.NodeDigits); err != nil {
		return err
	}
	path, err := filepath.Abs(o.Path)
	if err != nil || !isDir(path) {
		return Errorf("Wrong path '%s' specified.", o.Path)
	}
	uid, gid, group, err := lookupUser(o.User)
	if err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return Errorf("Wrong path '%s' specified.", o.Path)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && (int(sys.Uid) != uid || int(sys.Gid) != gid) {
		return Errorf("Path '%s' is not owned by '%s:%s'", path, o.User, group)
	}
	logDir := s.Getenv("LUNA_LOGDIR")
	if logDir == "" {
		logDir = "/var/log/luna"
	}
	if err := os.MkdirAll(logDir, 0o750); err != nil {
		return Errorf("Cannot create log directory: %v", err)
	}
	if err := os.Chown(logDir, uid, gid); err != nil {
		return Errorf("Cannot change the owner of %s: %v", logDir, err)
	}
	c := DefaultCluster()
	c.ID = store.NewID()
	c.NodePrefix, c.NodeDigits, c.User, c.Path = o.NodePrefix, o.NodeDigits, o.User, path
	c.FrontendAddress = o.FrontendAddress
	return s.insert(ctx, store.Clusters, ClusterName, c)
}

// DefaultCluster has the settings of a new cluster.
func DefaultCluster() store.Cluster {
	return store.Cluster{
		Name:                 ClusterName,
		NodePrefix:           "node",
		NodeDigits:           3,
		User:                 "luna",
		Path:                 "/opt/luna",
		FrontendPort:         7050,
		ServerPort:           7051,
		TrackerInterval:      10,
		TrackerMinInterval:   5,
		TrackerMaxPeers:      200,
		TorrentListenPortMin: 7052,
		TorrentListenPortMax: 7200,
		TorrentPidfile:       "/run/luna/ltorrent.pid",
		LwebPidfile:          "/run/luna/lweb.pid",
		NamedIncludeFile:     "/etc/named.luna.zones",
		NamedZoneDir:         "/var/named",
	}
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func lookupUser(name string) (uid, gid int, group string, err error) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, "", Errorf("No such user '%s' exists.", name)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		return 0, 0, "", Errorf("No such group '%s' exists.", u.Gid)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid, g.Name, nil
}

func validatePrefix(p string) error {
	if p == "" {
		return nil
	}
	if err := ValidateName(HostName, p+"0"); err != nil {
		return Errorf("Invalid node prefix '%s': use letters, digits and '-'", p)
	}
	return nil
}

func validateDigits(d int) error {
	if d < 1 || d > 12 {
		return Errorf("Node digits should be in the range [1..12]")
	}
	return nil
}

// ClusterChange are the options of `luna cluster change`; nil means not given.
type ClusterChange struct {
	NodePrefix           *string
	NodeDigits           *int
	Path                 *string
	User                 *string
	FrontendAddress      *string
	FrontendPort         *int
	FrontendHTTPS        *string
	InsecureInstall      *string
	AllowRebind          *string
	HTTPSCert            *string
	HTTPSKey             *string
	ServerPort           *int
	TrackerInterval      *int
	TrackerMinInterval   *int
	TrackerMaxPeers      *int
	TorrentListenPortMin *int
	TorrentListenPortMax *int
	TorrentPidfile       *string
	TorrentSoftTimeout   *int
	TorrentHardTimeout   *int
	LwebNumProc          *int
	LwebPidfile          *string
	ClusterIPs           *string
	NamedIncludeFile     *string
	NamedZoneDir         *string
	Comment              *string
}

// ChangeCluster validates every given option first and then stores them all
// in one update: either everything changes or nothing does.
// It holds the object's lock while it works (see locked).
func (s *Service) ChangeCluster(ctx context.Context, o ClusterChange) error {
	return s.locked(ctx, store.Clusters, ClusterName, func(ctx context.Context, id store.ID) error { return s.changeCluster(ctx, id, o) })
}

func (s *Service) changeCluster(ctx context.Context, id store.ID, o ClusterChange) error {
	if err := s.Guard(ctx); err != nil {
		return err
	}
	c := &store.Cluster{}
	if err := s.byID(ctx, store.Clusters, id, ClusterName, c); err != nil {
		return err
	}
	set := map[string]any{}
	for _, step := range []func(ClusterChange, *store.Cluster, map[string]any) error{
		clusterNaming, clusterPorts, clusterCounts, clusterFlags, clusterFiles, clusterOthers,
	} {
		if err := step(o, c, set); err != nil {
			return err
		}
	}
	return s.st.Set(ctx, store.Clusters, c.ID, set)
}

// clusterNaming checks the node names, path, user and frontend address.
func clusterNaming(o ClusterChange, _ *store.Cluster, set map[string]any) error {
	if o.NodePrefix != nil {
		if err := validatePrefix(*o.NodePrefix); err != nil {
			return err
		}
		set["nodeprefix"] = *o.NodePrefix
	}
	if o.NodeDigits != nil {
		if err := validateDigits(*o.NodeDigits); err != nil {
			return err
		}
		set["nodedigits"] = *o.NodeDigits
	}
	if o.Path != nil {
		p, err := filepath.Abs(*o.Path)
		if err != nil || !isDir(p) {
			return Invalidf("Wrong path specified.")
		}
		set["path"] = p
	}
	if o.User != nil {
		if _, err := user.Lookup(*o.User); err != nil {
			return Invalidf("No such user exists.")
		}
		set["user"] = *o.User
	}
	if o.FrontendAddress != nil {
		if _, err := ipam.ParseAddr(*o.FrontendAddress); err != nil {
			return notIP("IP", *o.FrontendAddress)
		}
		set["frontend_address"] = *o.FrontendAddress
	}
	return nil
}

// clusterPorts checks the port numbers and the torrent port range.
func clusterPorts(o ClusterChange, c *store.Cluster, set map[string]any) error {
	ports := []struct {
		key string
		v   *int
	}{{"frontend_port", o.FrontendPort}, {"server_port", o.ServerPort},
		{"torrent_listen_port_min", o.TorrentListenPortMin}, {"torrent_listen_port_max", o.TorrentListenPortMax}}
	for _, p := range ports {
		if p.v != nil {
			if *p.v < 1 || *p.v > 65535 {
				return Invalidf("Value '%s' should be a port number in the range [1..65535]", p.key)
			}
			set[p.key] = *p.v
		}
	}
	lo, hi := c.TorrentListenPortMin, c.TorrentListenPortMax
	if o.TorrentListenPortMin != nil {
		lo = *o.TorrentListenPortMin
	}
	if o.TorrentListenPortMax != nil {
		hi = *o.TorrentListenPortMax
	}
	if lo > hi {
		return Invalidf("torrent_listen_port_min %d is above torrent_listen_port_max %d", lo, hi)
	}
	return nil
}

// clusterCounts checks the tracker and lweb counts and the torrent timeouts.
func clusterCounts(o ClusterChange, _ *store.Cluster, set map[string]any) error {
	counts := []struct {
		key string
		v   *int
	}{{"tracker_interval", o.TrackerInterval}, {"tracker_min_interval", o.TrackerMinInterval},
		{"tracker_maxpeers", o.TrackerMaxPeers}, {"lweb_num_proc", o.LwebNumProc}}
	for _, p := range counts {
		if p.v != nil {
			if *p.v < 0 {
				return Invalidf("Value '%s' should not be negative", p.key)
			}
			set[p.key] = *p.v
		}
	}
	timeouts := []struct {
		key string
		v   *int
	}{{"torrent_soft_timeout", o.TorrentSoftTimeout}, {"torrent_hard_timeout", o.TorrentHardTimeout}}
	for _, p := range timeouts {
		if p.v != nil {
			if *p.v < 1 {
				return Invalidf("Value '%s' should be a positive number of seconds", p.key)
			}
			set[p.key] = *p.v
		}
	}
	return nil
}

// clusterFlags checks the yes/no options.
func clusterFlags(o ClusterChange, _ *store.Cluster, set map[string]any) error {
	if o.FrontendHTTPS != nil {
		b, err := YesNo("frontend_https", *o.FrontendHTTPS)
		if err != nil {
			return err
		}
		set["frontend_https"] = b
	}
	if o.InsecureInstall != nil {
		b, err := YesNo("insecure_install", *o.InsecureInstall)
		if err != nil {
			return err
		}
		set["insecure_install"] = b
	}
	if o.AllowRebind != nil {
		b, err := YesNo("allow_rebind", *o.AllowRebind)
		if err != nil {
			return err
		}
		set["allow_rebind"] = b
	}
	return nil
}

// clusterFiles checks the file and directory options.
func clusterFiles(o ClusterChange, _ *store.Cluster, set map[string]any) error {
	files := []struct {
		key string
		v   *string
	}{{"torrent_pidfile", o.TorrentPidfile}, {"lweb_pidfile", o.LwebPidfile},
		{"named_include_file", o.NamedIncludeFile}, {"named_zone_dir", o.NamedZoneDir},
		{"https_cert", o.HTTPSCert}, {"https_key", o.HTTPSKey}}
	for _, f := range files {
		if f.v != nil {
			if *f.v != "" && (!filepath.IsAbs(*f.v) || strings.ContainsAny(*f.v, "\n\"';` ")) {
				return Invalidf("Value '%s' should be an absolute path without spaces or quotes", f.key)
			}
			set[f.key] = *f.v
		}
	}
	return nil
}

// clusterOthers checks the HA addresses and takes the comment.
func clusterOthers(o ClusterChange, _ *store.Cluster, set map[string]any) error {
	if o.ClusterIPs != nil {
		ips, err := parseClusterIPs(*o.ClusterIPs)
		if err != nil {
			return err
		}
		set["cluster_ips"] = ips
	}
	if o.Comment != nil {
		set["comment"] = *o.Comment
	}
	return nil
}

// YesNo reads the y/yes/n/no choices of 1.2's boolean options.
func YesNo(key, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "y", "yes":
		return true, nil
	case "n", "no":
		return false, nil
	}
	return false, Errorf("Value '%s' should be one of y, yes, n, no", key)
}

func parseClusterIPs(v string) (string, error) {
	if strings.TrimSpace(v) == "" {
		return "", nil
	}
	var out []string
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if _, err := ipam.ParseAddr(item); err != nil {
			return "", notIP("IP", item)
		}
		out = append(out, item)
	}
	return strings.Join(out, ","), nil
}

// DeleteCluster removes the cluster document when no other object exists,
// or the whole database with force.
func (s *Service) DeleteCluster(ctx context.Context, force bool) error {
	if err := s.Guard(ctx); err != nil {
		return err
	}
	if force {
		return s.st.DropDatabase(ctx)
	}
	var users []store.Ref
	for _, coll := range []string{store.Networks, store.OSImages, store.BMCSetups, store.Groups, store.Nodes, store.Switches, store.OtherDevs} {
		var docs []struct {
			ID   store.ID `bson:"_id"`
			Name string   `bson:"name"`
		}
		if err := s.st.List(ctx, coll, &docs); err != nil {
			return err
		}
		for _, d := range docs {
			users = append(users, store.Ref{Collection: coll, ID: d.ID, Name: d.Name})
		}
	}
	if len(users) > 0 {
		return InUse(ClusterName, users)
	}
	c, err := s.Cluster(ctx)
	if err != nil {
		return err
	}
	return s.st.Delete(ctx, store.Clusters, c.ID)
}

// ClusterURL is proto://frontend_address:frontend_port, as put in scripts.
func ClusterURL(c *store.Cluster) string {
	proto := "http"
	if c.FrontendHTTPS {
		proto = "https"
	}
	host := c.FrontendAddress
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return fmt.Sprintf("%s://%s:%d", proto, host, c.FrontendPort)
}

// LearnedMACRow is one line of `cluster listmacs`.
type LearnedMACRow struct {
	Switch   string `json:"switch"`
	Port     string `json:"port"`
	PortName string `json:"portname"`
	MAC      string `json:"mac"`
	ConfPort bool   `json:"confport"`
	Node     string `json:"node"`
}

// ListMACs joins the MACs learned from the switches with the nodes that own them.
func (s *Service) ListMACs(ctx context.Context) ([]LearnedMACRow, error) {
	var switches []store.Switch
	if err := s.st.List(ctx, store.Switches, &switches); err != nil {
		return nil, err
	}
	if len(switches) == 0 {
		return nil, Failf("No switches configured in this cluster")
	}
	swName := map[store.ID]string{}
	for _, sw := range switches {
		swName[sw.ID] = sw.Name
	}
	learned, err := s.st.LearnedMACs(ctx)
	if err != nil {
		return nil, err
	}
	macs := make([]string, len(learned))
	for i, l := range learned {
		macs[i] = l.MAC
	}
	owners, err := s.st.MACsByAddress(ctx, macs)
	if err != nil {
		return nil, err
	}
	nodeOf := map[string]store.ID{}
	var nodeIDs []store.ID
	for _, m := range owners {
		nodeOf[m.MAC] = m.Node
		nodeIDs = append(nodeIDs, m.Node)
	}
	var nodes []store.Node
	if len(nodeIDs) > 0 {
		if err := s.st.ListIDs(ctx, store.Nodes, nodeIDs, &nodes); err != nil {
			return nil, err
		}
	}
	byID := map[store.ID]store.Node{}
	for _, n := range nodes {
		byID[n.ID] = n
	}
	var rows []LearnedMACRow
	for _, l := range learned {
		name, ok := swName[l.Switch]
		if !ok {
			continue // learned on a switch deleted since: stale
		}
		r := LearnedMACRow{Switch: name, Port: l.Port, PortName: l.PortName, MAC: l.MAC, Node: "-"}
		if id, ok := nodeOf[l.MAC]; ok {
			if n, ok := byID[id]; ok {
				r.Node = n.Name
				r.ConfPort = n.Switch != nil && *n.Switch == l.Switch && (n.Port == l.Port || n.Port == l.PortName)
			}
		}
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.Switch != b.Switch {
			return a.Switch < b.Switch
		}
		if c := comparePorts(a.Port, b.Port); c != 0 {
			return c < 0
		}
		if a.PortName != b.PortName {
			return a.PortName < b.PortName
		}
		if a.MAC != b.MAC {
			return a.MAC < b.MAC
		}
		return a.Node < b.Node
	})
	return rows, nil
}

// comparePorts orders numeric ports numerically and others after them by text.
func comparePorts(a, b string) int {
	ai, aerr := strconv.Atoi(a)
	bi, berr := strconv.Atoi(b)
	switch {
	case aerr == nil && berr == nil:
		return ai - bi
	case aerr == nil:
		return -1
	case berr == nil:
		return 1
	}
	return strings.Compare(a, b)
}

// DHCPRange is the DHCP network's name and its range as text ("" when none).
func (s *Service) DHCPRange(ctx context.Context, c *store.Cluster) (network, start, end string) {
	if c.DHCPNet == nil {
		return "", "", ""
	}
	var n store.Network
	if err := s.st.GetByID(ctx, store.Networks, *c.DHCPNet, &n); err != nil {
		return "", "", ""
	}
	return n.Name, addressText(&n, c.DHCPRangeStart), addressText(&n, c.DHCPRangeEnd)
}
