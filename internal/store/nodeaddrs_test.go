package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/clustervision/luna-go/internal/store"
	"github.com/clustervision/luna-go/internal/testutil"
)

func TestNodeAddrsRoundTrip(t *testing.T) {
	nd := store.Node{ID: store.NewID()}
	net4, net6 := store.NewID(), store.NewID()
	claims := []store.Address{
		{Network: net6, Offset: "00000000000000000000000000000007", Kind: store.KindNode, Owner: nd.ID, Iface: "ib0id"},
		{Network: net4, Offset: "00000000000000000000000000000001", Kind: store.KindNode, Owner: nd.ID, Iface: "bootid"},
	}
	nd.Addrs = store.EncodeNodeAddrs(claims)
	// Canonical: the order of the claims does not matter.
	if other := store.EncodeNodeAddrs([]store.Address{claims[1], claims[0]}); other != nd.Addrs {
		t.Fatalf("encoding depends on order: %q vs %q", other, nd.Addrs)
	}
	got := store.NodeAddrs(&nd)
	if len(got) != 2 {
		t.Fatalf("decoded %+v from %q", got, nd.Addrs)
	}
	seen := map[string]bool{}
	for _, a := range got {
		seen[a.Iface+a.Network.Hex()+a.Offset] = a.Owner == nd.ID && a.Kind == store.KindNode
	}
	for _, c := range claims {
		if !seen[c.Iface+c.Network.Hex()+c.Offset] {
			t.Errorf("claim %+v lost in %q", c, nd.Addrs)
		}
	}
	if store.NodeAddrs(&store.Node{}) != nil {
		t.Error("an empty copy decodes to addresses")
	}
}

// Opening a version 1 database (no copies) writes every node's copy from its claims.
func TestSchemaUpgradeBuildsNodeAddrs(t *testing.T) {
	ctx := context.Background()
	st, db := testutil.Store(t)
	c := driver(t)
	net := store.NewID()
	var ids []store.ID
	for i := 0; i < 3; i++ {
		nd := store.Node{ID: store.NewID(), Name: fmt.Sprintf("node%03d", i+1), Group: store.NewID(), SetupBMC: true}
		ids = append(ids, nd.ID)
		if err := st.Insert(ctx, store.Nodes, nd); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			continue // no addresses
		}
		if err := st.Insert(ctx, store.Addresses, store.Address{ID: store.NewID(), Network: net,
			Offset: fmt.Sprintf("%032x", i+1), Kind: store.KindNode, Owner: nd.ID, Iface: "bootid"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Database(db).Collection(store.Meta).UpdateOne(ctx, bson.M{"_id": "schema"}, bson.M{"$set": bson.M{"version": 1}}); err != nil {
		t.Fatal(err)
	}
	st2, err := store.Open(ctx, testutil.URI(), db, "test server", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close(ctx)
	for i, id := range ids {
		var nd store.Node
		if err := st2.GetByID(ctx, store.Nodes, id, &nd); err != nil {
			t.Fatal(err)
		}
		want := ""
		if i < 2 {
			want = "bootid/" + net.Hex() + "/" + fmt.Sprintf("%032x", i+1)
		}
		if nd.Addrs != want {
			t.Errorf("%s: addrs %q, want %q", nd.Name, nd.Addrs, want)
		}
	}
}

// Many status updates at once are stored: FerretDB 1.24 hangs on a single
// update command of 100 statements, so the store splits them.
func TestManyStatusUpdates(t *testing.T) {
	ctx := context.Background()
	st, _ := testutil.Store(t)
	var ups []store.StatusUpdate
	for i := 0; i < 250; i++ {
		nd := store.Node{ID: store.NewID(), Name: fmt.Sprintf("node%03d", i), Group: store.NewID()}
		if err := st.Insert(ctx, store.Nodes, nd); err != nil {
			t.Fatal(err)
		}
		ups = append(ups, store.StatusUpdate{NodeID: nd.ID, Node: nd.Name, Status: store.NodeStatus{Step: "boot.request", Time: time.Now().UTC()}})
	}
	done := make(chan error, 1)
	go func() { done <- st.SetNodeStatuses(ctx, ups) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("250 status updates did not finish within 60 s")
	}
	states, err := st.NodeStates(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range ups {
		if s, ok := states[u.NodeID]; !ok || s.Step != "boot.request" {
			t.Fatalf("%s: status %+v", u.Node, s)
		}
	}
	if len(states) != len(ups) {
		t.Fatalf("%d states for %d nodes", len(states), len(ups))
	}
}

// Opening a version 2 database moves statuses and boot tokens out of the
// node documents into NodeState documents.
func TestSchemaUpgradeMovesNodeStates(t *testing.T) {
	ctx := context.Background()
	_, db := testutil.Store(t)
	c := driver(t)
	nodes := c.Database(db).Collection(store.Nodes)
	booted, idle := store.NewID(), store.NewID()
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	if _, err := nodes.InsertMany(ctx, []any{
		bson.M{"_id": booted, "name": "node001", "group": store.NewID(), "setupbmc": true,
			"status": bson.M{"step": "install.success", "time": at}, "boot_token": "0123456789abcdef0123456789abcdef"},
		bson.M{"_id": idle, "name": "node002", "group": store.NewID(), "setupbmc": true},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Database(db).Collection(store.Meta).UpdateOne(ctx, bson.M{"_id": "schema"}, bson.M{"$set": bson.M{"version": 2}}); err != nil {
		t.Fatal(err)
	}
	st2, err := store.Open(ctx, testutil.URI(), db, "test server", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close(ctx)
	states, err := st2.NodeStates(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := store.NodeState{ID: booted, Step: "install.success", Time: at, Token: "0123456789abcdef0123456789abcdef"}
	if len(states) != 1 || !states[booted].Time.Equal(at) || states[booted].Step != want.Step || states[booted].Token != want.Token {
		t.Fatalf("states %+v, want only %+v", states, want)
	}
	n, err := nodes.CountDocuments(ctx, bson.M{"$or": bson.A{bson.M{"status": bson.M{"$exists": true}}, bson.M{"boot_token": bson.M{"$exists": true}}}})
	if err != nil || n != 0 {
		t.Fatalf("%d node documents still carry a status or token (%v)", n, err)
	}
}

// Opening a version 3 database writes the copies of the claims of
// switches, other devices and name servers, and DevAddrs reads them back as
// the claims are.
func TestSchemaUpgradeBuildsDevAddrs(t *testing.T) {
	ctx := context.Background()
	st, db := testutil.Store(t)
	c := driver(t)
	n1 := store.Network{ID: store.NewID(), Name: "a", Base: "10.1.0.0", Prefix: 16, Version: 4}
	n2 := store.Network{ID: store.NewID(), Name: "b", Base: "10.2.0.0", Prefix: 16, Version: 4}
	sw := store.Switch{ID: store.NewID(), Name: "sw01", Network: n1.ID}
	dev := store.OtherDev{ID: store.NewID(), Name: "pdu01"}
	bare := store.OtherDev{ID: store.NewID(), Name: "bare"}
	for _, d := range []struct {
		coll string
		doc  any
	}{{store.Networks, n1}, {store.Networks, n2}, {store.Switches, sw}, {store.OtherDevs, dev}, {store.OtherDevs, bare}} {
		if err := st.Insert(ctx, d.coll, d.doc); err != nil {
			t.Fatal(err)
		}
	}
	key := func(i int) string { return fmt.Sprintf("%032x", i) }
	claims := []store.Address{
		{Network: n1.ID, Offset: key(254), Kind: store.KindNameServer, Owner: n1.ID},
		{Network: n2.ID, Offset: key(9), Kind: store.KindNameServer, Owner: n2.ID},
		{Network: n1.ID, Offset: key(200), Kind: store.KindSwitch, Owner: sw.ID},
		{Network: n1.ID, Offset: key(201), Kind: store.KindOtherDev, Owner: dev.ID},
		{Network: n2.ID, Offset: key(3), Kind: store.KindOtherDev, Owner: dev.ID},
		{Network: n1.ID, Offset: key(1), Kind: store.KindNode, Owner: store.NewID(), Iface: "bootid"},
	}
	for _, a := range claims {
		a.ID = store.NewID()
		if err := st.Insert(ctx, store.Addresses, a); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Database(db).Collection(store.Meta).UpdateOne(ctx, bson.M{"_id": "schema"}, bson.M{"$set": bson.M{"version": 3}}); err != nil {
		t.Fatal(err)
	}
	st2, err := store.Open(ctx, testutil.URI(), db, "test server", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close(ctx)
	var gotSw store.Switch
	var gotNet store.Network
	var gotDev, gotBare store.OtherDev
	for _, g := range []struct {
		coll string
		id   store.ID
		out  any
	}{{store.Switches, sw.ID, &gotSw}, {store.Networks, n2.ID, &gotNet}, {store.OtherDevs, dev.ID, &gotDev}, {store.OtherDevs, bare.ID, &gotBare}} {
		if err := st2.GetByID(ctx, g.coll, g.id, g.out); err != nil {
			t.Fatal(err)
		}
	}
	if gotSw.Offset != key(200) || gotNet.NSOffset != key(9) || gotBare.Addrs != "" ||
		gotDev.Addrs != store.EncodeDevAddrs(claims[3:5]) {
		t.Fatalf("copies: switch %q, network ns %q, device %q, bare device %q", gotSw.Offset, gotNet.NSOffset, gotDev.Addrs, gotBare.Addrs)
	}
	// DevAddrs gives what FindAddresses gives for those kinds.
	want, err := st2.FindAddresses(ctx, store.AddressFilter{Kinds: []string{store.KindSwitch, store.KindOtherDev, store.KindNameServer}})
	if err != nil {
		t.Fatal(err)
	}
	got, names, err := st2.DevAddrs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("DevAddrs %+v, want %+v", got, want)
	}
	for i := range want {
		want[i].ID = store.ID{}
		if got[i] != want[i] {
			t.Errorf("DevAddrs[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	if names[sw.ID] != "sw01" || names[dev.ID] != "pdu01" {
		t.Errorf("names %v", names)
	}
}
