package store

import "time"

// Cluster is the one cluster document, named "general".
type Cluster struct {
	ID                   ID     `bson:"_id"`
	Name                 string `bson:"name"`
	NodePrefix           string `bson:"nodeprefix"`
	NodeDigits           int    `bson:"nodedigits"`
	User                 string `bson:"user"`
	Path                 string `bson:"path"`
	Debug                int    `bson:"debug"`
	ClusterIPs           string `bson:"cluster_ips"`
	FrontendAddress      string `bson:"frontend_address"`
	FrontendPort         int    `bson:"frontend_port"`
	FrontendHTTPS        bool   `bson:"frontend_https"`
	HTTPSCert            string `bson:"https_cert"`
	HTTPSKey             string `bson:"https_key"`
	InsecureInstall      bool   `bson:"insecure_install"`
	AllowRebind          bool   `bson:"allow_rebind,omitempty"`
	ServerPort           int    `bson:"server_port"`
	TrackerInterval      int    `bson:"tracker_interval"`
	TrackerMinInterval   int    `bson:"tracker_min_interval"`
	TrackerMaxPeers      int    `bson:"tracker_maxpeers"`
	TorrentListenPortMin int    `bson:"torrent_listen_port_min"`
	TorrentListenPortMax int    `bson:"torrent_listen_port_max"`
	TorrentPidfile       string `bson:"torrent_pidfile"`
	TorrentSoftTimeout   int    `bson:"torrent_soft_timeout,omitempty"` // seconds; 0 = 600
	TorrentHardTimeout   int    `bson:"torrent_hard_timeout,omitempty"` // seconds; 0 = 3600
	LwebNumProc          int    `bson:"lweb_num_proc"`
	LwebPidfile          string `bson:"lweb_pidfile"`
	NamedIncludeFile     string `bson:"named_include_file"`
	NamedZoneDir         string `bson:"named_zone_dir"`
	DHCPNet              *ID    `bson:"dhcp_net"`
	DHCPRangeStart       string `bson:"dhcp_range_start"`         // offset key
	DHCPRangeEnd         string `bson:"dhcp_range_end"`           // offset key
	DHCPOMAPIKey         string `bson:"dhcp_omapi_key,omitempty"` // base64, made by the first makedhcp
	Comment              string `bson:"comment"`
}

// Network is an IPv4 or IPv6 subnet. Every address in it is a claim in the
// ipaddr collection, stored as an offset from the base so that a change of
// base renumbers its users.
type Network struct {
	ID         ID     `bson:"_id"`
	Name       string `bson:"name"`
	Base       string `bson:"network"` // base address text, host bits clear
	Prefix     int    `bson:"prefix"`
	Version    int    `bson:"version"`
	NSHostname string `bson:"ns_hostname"`
	NSOffset   string `bson:"ns_offset,omitempty"` // copy of the name server's claim, see DevAddrs
	Include    string `bson:"include"`
	RevInclude string `bson:"rev_include"`
	Comment    string `bson:"comment"`
}

// Address kinds: who holds a claim.
const (
	KindNode       = "node"
	KindSwitch     = "switch"
	KindOtherDev   = "otherdev"
	KindNameServer = "nameserver"
	KindReserved   = "reserved"
	KindDHCP       = "dhcp"
)

// Address is a claim of one address in one network. The unique index on
// (network, offset) makes each address have at most one owner.
type Address struct {
	ID      ID     `bson:"_id"`
	Network ID     `bson:"network"`
	Offset  string `bson:"offset"` // ipam.Offset.Key(): 32 hex digits
	Kind    string `bson:"kind"`
	Owner   ID     `bson:"owner"`           // zero for reserved and dhcp
	Iface   string `bson:"iface,omitempty"` // group interface id, for nodes
}

// BMCSetup holds the IPMI settings the install script applies.
type BMCSetup struct {
	ID          ID     `bson:"_id"`
	Name        string `bson:"name"`
	UserID      int    `bson:"userid"`
	User        string `bson:"user"`
	Password    string `bson:"password"`
	NetChannel  int    `bson:"netchannel"`
	MgmtChannel int    `bson:"mgmtchannel"`
	Comment     string `bson:"comment"`
}

// Switch is an Ethernet switch whose forwarding table lweb reads over SNMP.
// Its address is an Address of kind switch; Offset is a copy of its offset.
type Switch struct {
	ID      ID     `bson:"_id"`
	Name    string `bson:"name"`
	Network ID     `bson:"network"`
	Offset  string `bson:"offset,omitempty"` // copy of its claim, see DevAddrs
	Read    string `bson:"read"`
	RW      string `bson:"rw"`
	OID     string `bson:"oid"`
	Comment string `bson:"comment"`
}

// OtherDev is any other device with addresses (PDUs, storage, ...). Its
// addresses are Addresses of kind otherdev, one per network; Addrs is a
// copy of them (EncodeDevAddrs).
type OtherDev struct {
	ID      ID     `bson:"_id"`
	Name    string `bson:"name"`
	Addrs   string `bson:"addrs,omitempty"`
	Comment string `bson:"comment"`
}

// OSImage is an operating system tree that nodes boot.
type OSImage struct {
	ID              ID     `bson:"_id"`
	Name            string `bson:"name"`
	Path            string `bson:"path"`
	KernVer         string `bson:"kernver"`
	KernOpts        string `bson:"kernopts"`
	KernFile        string `bson:"kernfile"`
	InitrdFile      string `bson:"initrdfile"`
	DracutModules   string `bson:"dracutmodules"`
	KernModules     string `bson:"kernmodules"`
	GrabExcludeList string `bson:"grab_exclude_list"`
	GrabFilesystems string `bson:"grab_filesystems"`
	Tarball         string `bson:"tarball"`
	Torrent         string `bson:"torrent"`
	Comment         string `bson:"comment"`
}

// Interface is one network interface of a group; ID is stable across renames.
type Interface struct {
	ID       string `bson:"id"`
	Name     string `bson:"name"`
	Network4 *ID    `bson:"network4"`
	Network6 *ID    `bson:"network6"`
	Params   string `bson:"params"`
}

// Group holds what its nodes share.
type Group struct {
	ID         ID          `bson:"_id"`
	Name       string      `bson:"name"`
	OSImage    ID          `bson:"osimage"`
	BMCSetup   *ID         `bson:"bmcsetup"`
	Domain     *ID         `bson:"domain"`
	Interfaces []Interface `bson:"interfaces"`
	PreScript  string      `bson:"prescript"`
	PartScript string      `bson:"partscript"`
	PostScript string      `bson:"postscript"`
	TorrentIf  string      `bson:"torrent_if"`
	Comment    string      `bson:"comment"`
}

// NodeStatus is the last step a booting node reported.
type NodeStatus struct {
	Step string    `bson:"step"`
	Time time.Time `bson:"time"`
}

// Node is one machine. Its MAC is in the mac collection, its addresses in ipaddr.
// Fields that are usually empty are left out of the stored document when
// empty: every list of nodes reads every node, and on FerretDB the cost of a
// read grows with the number of fields.
type Node struct {
	ID        ID     `bson:"_id"`
	Name      string `bson:"name"`
	Group     ID     `bson:"group"`
	Switch    *ID    `bson:"switch,omitempty"`
	Port      string `bson:"port,omitempty"`
	LocalBoot bool   `bson:"localboot,omitempty"`
	SetupBMC  bool   `bson:"setupbmc"`
	Service   bool   `bson:"service,omitempty"`
	Comment   string `bson:"comment,omitempty"`
	Addrs     string `bson:"addrs,omitempty"` // copy of its claims, see EncodeNodeAddrs
}

// NodeState is what a booting node last reported and the token of its
// current boot. It lives in its own collection, one document per node with
// the node's id, so that lweb, which writes it all the time during a boot,
// never writes the node document an administrator may be changing: an
// update on FerretDB rewrites the whole document and is not atomic.
type NodeState struct {
	ID    ID        `bson:"_id"` // the node's id
	Step  string    `bson:"step"`
	Time  time.Time `bson:"time"`
	Token string    `bson:"token,omitempty"`
	// TokenAddr is the address the token was handed to (the discovery's
	// client): a node without an address of its own may act from there.
	TokenAddr string `bson:"token_addr,omitempty"`
}

// MAC binds one MAC address to one node; unique both ways.
type MAC struct {
	ID   ID     `bson:"_id"`
	MAC  string `bson:"mac"`
	Node ID     `bson:"node"`
}

// LearnedMAC is a MAC address seen on a switch port by the SNMP updater.
type LearnedMAC struct {
	ID       ID        `bson:"_id"`
	Switch   ID        `bson:"switch_id"`
	MAC      string    `bson:"mac"`
	Port     string    `bson:"port"`
	PortName string    `bson:"portname"`
	Updated  time.Time `bson:"updated"`
}

// TrackerPeer is one peer of one torrent as last announced to lweb's
// tracker; info_hash and peer_id are lower-case hex, as in Luna 1.2.
type TrackerPeer struct {
	ID         ID        `bson:"_id"`
	InfoHash   string    `bson:"info_hash"`
	IP         string    `bson:"ip"`
	Port       int       `bson:"port"`
	PeerID     string    `bson:"peer_id"`
	Updated    time.Time `bson:"updated"`
	Uploaded   int64     `bson:"uploaded"`
	Downloaded int64     `bson:"downloaded"`
	Left       int64     `bson:"left"`
	Status     string    `bson:"status,omitempty"`
}
