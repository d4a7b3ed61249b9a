// Package stored lets tests read what a Luna database holds, straight from
// the store, in the objects' own words (names, addresses as text, ids as
// hex), so that the CLI's tests check stored state without importing
// internal/store.
//
// It reads the store and not luna.Service on purpose: the rules under test
// live in package luna, and a check of what a command left behind (an
// orphaned claim, a lock left over, a half-undone change) must not go
// through the code it checks. Only tests import it.
package stored

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the embedded FerretDB's own files (FailWrites)

	"github.com/clustervision/luna-go/internal/ipam"
	"github.com/clustervision/luna-go/internal/store"
	"github.com/clustervision/luna-go/internal/testutil"
)

// Lease is how long a lock whose holder stopped renewing it stays taken.
const Lease = store.DefaultLease

// Meta is the collection of the change marker (and the schema version).
const Meta = store.Meta

// Claim kinds (Claim.Kind).
const (
	KindNode       = store.KindNode
	KindNameServer = store.KindNameServer
	KindReserved   = store.KindReserved
)

// DB is one test database.
type DB struct {
	t  testing.TB
	st *store.Store
}

// Open connects to database db at uri until the test ends.
func Open(t testing.TB, uri, db string) *DB {
	t.Helper()
	st, err := store.Open(context.Background(), uri, db, "test server", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	return &DB{t: t, st: st}
}

// Drop removes database db at uri, if it can (a test's cleanup).
func Drop(uri, db string) {
	st, err := store.Open(context.Background(), uri, db, "test server", 10*time.Second)
	if err == nil {
		_ = st.DropDatabase(context.Background())
		_ = st.Close(context.Background())
	}
}

func (d *DB) fatal(err error) {
	if err != nil {
		d.t.Helper()
		d.t.Fatal(err)
	}
}

// Dump is every document of the database as text, in a stable order: two
// dumps are equal when nothing was stored in between.
func (d *DB) Dump(t testing.TB) string {
	t.Helper()
	s, err := d.st.Dump(context.Background())
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	return s
}

// ID is the id (hex) of the object of kind (luna.Nodes, luna.Groups...)
// named name, or "" when there is none.
func (d *DB) ID(kind, name string) string {
	d.t.Helper()
	var doc struct {
		ID store.ID `bson:"_id"`
	}
	if err := d.st.GetByName(context.Background(), kind, name, &doc); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ""
		}
		d.t.Fatal(err)
	}
	return doc.ID.Hex()
}

// HasID says whether the object of kind with this id (hex) is stored: the
// same object, not another one of the same name.
func (d *DB) HasID(kind, id string) bool {
	d.t.Helper()
	oid, err := store.IDFromHex(id)
	d.fatal(err)
	var doc struct {
		ID store.ID `bson:"_id"`
	}
	if err := d.st.GetByID(context.Background(), kind, oid, &doc); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return false
		}
		d.t.Fatal(err)
	}
	return true
}

// Locks are the ids of the lock documents (`<collection>/<id>`, and
// `.../takeover/...` markers).
func (d *DB) Locks() []string {
	d.t.Helper()
	var locks []struct {
		ID string `bson:"_id"`
	}
	d.fatal(d.st.List(context.Background(), store.Locks, &locks))
	var ids []string
	for _, l := range locks {
		ids = append(ids, l.ID)
	}
	return ids
}

// Node is what a node document holds that the tests check.
type Node struct {
	ID                           string
	LocalBoot, Service, SetupBMC bool
	Port                         string
	Switch                       string   // the switch's id (hex), "" for none
	MACs                         []string // its MAC documents' addresses
}

// Node reads node name.
func (d *DB) Node(name string) Node {
	d.t.Helper()
	ctx := context.Background()
	var nd store.Node
	d.fatal(d.st.GetByName(ctx, store.Nodes, name, &nd))
	n := Node{ID: nd.ID.Hex(), LocalBoot: nd.LocalBoot, Service: nd.Service, SetupBMC: nd.SetupBMC, Port: nd.Port}
	if nd.Switch != nil {
		n.Switch = nd.Switch.Hex()
	}
	macs, err := d.st.MACsOf(ctx, []store.ID{nd.ID})
	d.fatal(err)
	for _, m := range macs {
		n.MACs = append(n.MACs, m.MAC)
	}
	return n
}

// MACDocs counts the MAC documents of these addresses, whatever node they
// name.
func (d *DB) MACDocs(macs []string) int {
	d.t.Helper()
	all, err := d.st.MACsByAddress(context.Background(), macs)
	d.fatal(err)
	return len(all)
}

// Group is what a group document holds that the tests check.
type Group struct {
	Interfaces []string // names, in stored order
	TorrentIf  string
	HasDomain  bool
	OSImage    string // the osimage's id (hex)
}

// Group reads group name.
func (d *DB) Group(name string) Group {
	d.t.Helper()
	var g store.Group
	d.fatal(d.st.GetByName(context.Background(), store.Groups, name, &g))
	out := Group{TorrentIf: g.TorrentIf, HasDomain: g.Domain != nil, OSImage: g.OSImage.Hex()}
	for _, ifc := range g.Interfaces {
		out.Interfaces = append(out.Interfaces, ifc.Name)
	}
	return out
}

// Claim is one stored address claim.
type Claim struct {
	IP    string // the address, as text
	Kind  string // KindNode, KindNameServer, KindReserved...
	Owner string // the owner's id (hex), "" for none
}

// Claims lists the claims in the network with this id (hex), with ip
// only that address's ("" for all).
func (d *DB) Claims(networkID, ip string) []Claim {
	d.t.Helper()
	ctx := context.Background()
	nid, err := store.IDFromHex(networkID)
	d.fatal(err)
	var n store.Network
	d.fatal(d.st.GetByID(ctx, store.Networks, nid, &n))
	f := store.AddressFilter{Network: &nid}
	if ip != "" {
		sub, err := ipam.NewNetwork(n.Base, n.Prefix)
		d.fatal(err)
		addr, err := ipam.ParseAddr(ip)
		d.fatal(err)
		off, err := sub.OffsetOf(addr)
		d.fatal(err)
		f.Offset = off.Key()
	}
	addrs, err := d.st.FindAddresses(ctx, f)
	d.fatal(err)
	var out []Claim
	for _, a := range addrs {
		c := Claim{IP: addressText(d.t, &n, a.Offset), Kind: a.Kind}
		if !a.Owner.IsZero() {
			c.Owner = a.Owner.Hex()
		}
		out = append(out, c)
	}
	return out
}

// ClaimsOfDeleted counts the claims still naming the network with this id
// (hex), which may be gone.
func (d *DB) ClaimsOfDeleted(networkID string) int {
	d.t.Helper()
	nid, err := store.IDFromHex(networkID)
	d.fatal(err)
	addrs, err := d.st.FindAddresses(context.Background(), store.AddressFilter{Network: &nid})
	d.fatal(err)
	return len(addrs)
}

// CountClaims counts every address claim of every network.
func (d *DB) CountClaims() int64 {
	d.t.Helper()
	n, err := d.st.Count(context.Background(), store.Addresses)
	d.fatal(err)
	return n
}

// Set writes fields of the object of kind named name, bypassing every
// rule (a test's "as if packed" and the like).
func (d *DB) Set(kind, name string, set map[string]any) {
	d.t.Helper()
	id := d.ID(kind, name)
	if id == "" {
		d.t.Fatalf("no %s %q", kind, name)
	}
	oid, err := store.IDFromHex(id)
	d.fatal(err)
	d.fatal(d.st.Set(context.Background(), kind, oid, set))
}

// CheckNodeClaims proves the invariants of nodes and their addresses
// (docs/consistency.md): every node has exactly one address on each
// network of its group's interfaces, on the right interface; no two claims
// share an address; every node claim belongs to an existing node; each
// network holds only the nodes' claims and its name server's; each node
// document's addrs copy equals its claims. Violations are test errors. It
// returns each node's addresses by network name.
func (d *DB) CheckNodeClaims(t testing.TB) map[string]map[string]string {
	t.Helper()
	ctx := context.Background()
	var nodes []store.Node
	var groups []store.Group
	var nets []store.Network
	if err := d.st.List(ctx, store.Nodes, &nodes); err != nil {
		t.Fatal(err)
	}
	if err := d.st.List(ctx, store.Groups, &groups); err != nil {
		t.Fatal(err)
	}
	if err := d.st.List(ctx, store.Networks, &nets); err != nil {
		t.Fatal(err)
	}
	addrs, err := d.st.FindAddresses(ctx, store.AddressFilter{})
	if err != nil {
		t.Fatal(err)
	}
	netByID := map[store.ID]*store.Network{}
	for i := range nets {
		netByID[nets[i].ID] = &nets[i]
	}
	groupByID := map[store.ID]*store.Group{}
	for i := range groups {
		groupByID[groups[i].ID] = &groups[i]
	}
	nodeByID := map[store.ID]*store.Node{}
	for i := range nodes {
		nodeByID[nodes[i].ID] = &nodes[i]
	}
	type slot struct {
		node store.ID
		net  store.ID
	}
	got := map[slot][]store.Address{}
	seen := map[string]bool{}
	perNet := map[store.ID]int{}
	nameServers := map[store.ID]int{}
	for _, a := range addrs {
		if k := a.Network.Hex() + "/" + a.Offset; seen[k] {
			t.Errorf("address %s of network %s is claimed twice", a.Offset, netByID[a.Network].Name)
		} else {
			seen[k] = true
		}
		switch a.Kind {
		case store.KindNode:
			if nodeByID[a.Owner] == nil {
				t.Errorf("orphan claim: %+v has no node", a)
				continue
			}
			got[slot{a.Owner, a.Network}] = append(got[slot{a.Owner, a.Network}], a)
			perNet[a.Network]++
		case store.KindNameServer:
			nameServers[a.Network]++
		default:
			t.Errorf("unexpected claim %+v", a)
		}
	}
	out := map[string]map[string]string{}
	want := map[store.ID]int{}
	for _, nd := range nodes {
		g := groupByID[nd.Group]
		if g == nil {
			t.Errorf("node %s has no group", nd.Name)
			continue
		}
		out[nd.Name] = map[string]string{}
		for _, ifc := range g.Interfaces {
			for _, net := range []*store.ID{ifc.Network4, ifc.Network6} {
				if net == nil {
					continue
				}
				want[*net]++
				cl := got[slot{nd.ID, *net}]
				if len(cl) != 1 || cl[0].Iface != ifc.ID {
					t.Errorf("node %s: claims %+v in network %s, want one on interface %s", nd.Name, cl, netByID[*net].Name, ifc.Name)
					continue
				}
				out[nd.Name][netByID[*net].Name] = addressText(t, netByID[*net], cl[0].Offset)
			}
		}
	}
	// Each node document's copy of its claims (what node list, node show
	// and lweb read) is exactly its claims.
	for _, nd := range nodes {
		var mine []store.Address
		for k, cl := range got {
			if k.node == nd.ID {
				mine = append(mine, cl...)
			}
		}
		if w := store.EncodeNodeAddrs(mine); nd.Addrs != w {
			t.Errorf("node %s: addrs copy %q, claims %q", nd.Name, nd.Addrs, w)
		}
	}
	for _, n := range nets {
		if perNet[n.ID] != want[n.ID] || nameServers[n.ID] != 1 {
			t.Errorf("network %s: %d node claims and %d name server claims, want %d and 1", n.Name, perNet[n.ID], nameServers[n.ID], want[n.ID])
		}
	}
	return out
}

func addressText(t testing.TB, n *store.Network, key string) string {
	t.Helper()
	off, err := ipam.ParseKey(key)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := ipam.NewNetwork(n.Base, n.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	ip, err := sub.AddrAt(off)
	if err != nil {
		t.Fatal(err)
	}
	return ipam.FormatAddr(ip)
}

// Status is the last step node name reported (as lweb stored it), "" when
// it reported none.
func (d *DB) Status(name string) string {
	d.t.Helper()
	ctx := context.Background()
	var nd store.Node
	d.fatal(d.st.GetByName(ctx, store.Nodes, name, &nd))
	var ns store.NodeState
	if err := d.st.GetByID(ctx, store.States, nd.ID, &ns); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ""
		}
		d.t.Fatal(err)
	}
	return ns.Step
}

// BMCSetup reads the user and password of bmcsetup name.
func (d *DB) BMCSetup(name string) (user, password string) {
	d.t.Helper()
	var b store.BMCSetup
	d.fatal(d.st.GetByName(context.Background(), store.BMCSetups, name, &b))
	return b.User, b.Password
}

// ChangeMarker is the change marker's value ("" before the first change).
func (d *DB) ChangeMarker() string {
	d.t.Helper()
	v, err := d.st.ChangeMarker(context.Background())
	d.fatal(err)
	return v
}

// FailWrites makes the embedded server refuse the writes ops ("INSERT",
// "UPDATE", "DELETE"; none = INSERT and UPDATE) of collection coll in
// database db, as a server that fails them would: SQLite triggers on the
// collection's table in the server's own file abort them. The returned
// function lifts the fault. It needs the embedded server (not
// LUNA_TEST_MONGODB_URI) and a collection that exists.
func FailWrites(t testing.TB, db, coll string, ops ...string) (lift func()) {
	t.Helper()
	if len(ops) == 0 {
		ops = []string{"INSERT", "UPDATE"}
	}
	dir := testutil.DataDir()
	if dir == "" {
		t.Fatal("FailWrites needs the embedded FerretDB (unset LUNA_TEST_MONGODB_URI)")
	}
	sdb, err := sql.Open("sqlite", "file:"+filepath.Join(dir, db+".sqlite")+"?mode=rw&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	sdb.SetMaxOpenConns(1)
	var table string
	if err := sdb.QueryRow(`SELECT table_name FROM _ferretdb_collections WHERE name = ?`, coll).Scan(&table); err != nil {
		sdb.Close()
		t.Fatalf("collection %s of database %s in %s: %v", coll, db, dir, err)
	}
	trigger := func(op string) string { return `"luna_fault_` + table + `_` + op + `"` }
	for _, op := range ops {
		q := `CREATE TRIGGER ` + trigger(op) + ` BEFORE ` + op + ` ON "` + table + `" BEGIN SELECT RAISE(ABORT, 'injected fault'); END`
		if _, err := sdb.Exec(q); err != nil {
			sdb.Close()
			t.Fatalf("%s: %v", q, err)
		}
	}
	lifted := false
	lift = func() {
		if lifted {
			return
		}
		lifted = true
		for _, op := range ops {
			if _, err := sdb.Exec(`DROP TRIGGER IF EXISTS ` + trigger(op)); err != nil {
				t.Errorf("lift the fault: %v", err)
			}
		}
		sdb.Close()
	}
	t.Cleanup(lift)
	return lift
}
