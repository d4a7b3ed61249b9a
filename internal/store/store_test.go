package store_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/clustervision/luna-go/internal/store"
	"github.com/clustervision/luna-go/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(testutil.WithDB(m).Run()) }

func open(t *testing.T, db string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), testutil.URI(), db, "test server", 10*time.Second)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	return st
}

// driver is a plain MongoDB client on the test server, to look at and write
// documents behind the store's back.
func driver(t *testing.T) *mongo.Client {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(testutil.URI()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c
}

func TestUniqueNames(t *testing.T) {
	ctx := context.Background()
	st, _ := testutil.Store(t)
	for _, coll := range []string{store.Networks, store.BMCSetups, store.Switches, store.OtherDevs} {
		if err := st.Insert(ctx, coll, bson.M{"_id": store.NewID(), "name": "dup", "network": coll + "-a"}); err != nil {
			t.Fatalf("%s: first insert: %v", coll, err)
		}
		err := st.Insert(ctx, coll, bson.M{"_id": store.NewID(), "name": "dup", "network": coll + "-b"})
		if !errors.Is(err, store.ErrExists) {
			t.Errorf("%s: second insert with the same name: %v, want ErrExists", coll, err)
		}
		if n, _ := st.CountWhere(ctx, coll, "name", "dup"); n != 1 {
			t.Errorf("%s: %d documents named dup", coll, n)
		}
	}
	// A rename onto a taken name is refused by the index too.
	id := store.NewID()
	if err := st.Insert(ctx, store.Switches, bson.M{"_id": id, "name": "other"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Set(ctx, store.Switches, id, map[string]any{"name": "dup"}); !errors.Is(err, store.ErrExists) {
		t.Errorf("rename onto a taken name: %v, want ErrExists", err)
	}
	// The same name in another collection is fine.
	if err := st.Insert(ctx, store.Nodes, bson.M{"_id": store.NewID(), "name": "dup"}); err != nil {
		t.Errorf("same name in another collection: %v", err)
	}
}

// TestConcurrentClaim: 50 clients, each with its own connection, claim the
// same address at once; the unique index lets exactly one win.
func TestConcurrentClaim(t *testing.T) {
	ctx := context.Background()
	_, db := testutil.Store(t)
	network := store.NewID()
	const n = 50
	stores := make([]*store.Store, n)
	for i := range stores {
		stores[i] = open(t, db)
	}
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		errs    = make([]error, n)
		winners = make([]store.ID, n)
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			a := store.Address{ID: store.NewID(), Network: network, Offset: "0000000000000000000000000000000a",
				Kind: store.KindReserved}
			<-start
			errs[i] = stores[i].Insert(ctx, store.Addresses, a)
			winners[i] = a.ID
		}(i)
	}
	close(start)
	wg.Wait()
	won := 0
	var winner store.ID
	for i, err := range errs {
		switch {
		case err == nil:
			won++
			winner = winners[i]
		case !errors.Is(err, store.ErrExists):
			t.Errorf("client %d: %v, want nil or ErrExists", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d clients won the same address, want 1", won)
	}
	addrs, err := stores[0].FindAddresses(ctx, store.AddressFilter{Network: &network})
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 1 || addrs[0].ID != winner {
		t.Fatalf("stored claims %+v, want only the winner's %s", addrs, winner.Hex())
	}
}

func TestDumpStable(t *testing.T) {
	ctx := context.Background()
	st, _ := testutil.Store(t)
	net := store.Network{ID: store.NewID(), Name: "cluster", Base: "10.30.0.0", Prefix: 16, Version: 4}
	if err := st.Insert(ctx, store.Networks, net); err != nil {
		t.Fatal(err)
	}
	for _, off := range []string{"000000000000000000000000000000ff", "00000000000000000000000000000001"} {
		if err := st.Insert(ctx, store.Addresses, store.Address{ID: store.NewID(), Network: net.ID, Offset: off, Kind: store.KindReserved}); err != nil {
			t.Fatal(err)
		}
	}
	d1, err := st.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := st.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d1 != d2 {
		t.Fatalf("two dumps differ:\n%s\n---\n%s", d1, d2)
	}
	for _, want := range []string{"== network\n", `"name":"cluster"`, "== ipaddr\n", "== luna_meta\n", "unique=true"} {
		if !strings.Contains(d1, want) {
			t.Errorf("dump lacks %q:\n%s", want, d1)
		}
	}
	// A change shows.
	if err := st.Set(ctx, store.Networks, net.ID, map[string]any{"comment": "x"}); err != nil {
		t.Fatal(err)
	}
	if d3, _ := st.Dump(ctx); d3 == d1 {
		t.Error("dump did not change after an update")
	}
}

func TestUsers(t *testing.T) {
	ctx := context.Background()
	st, _ := testutil.Store(t)
	ipmi := store.Network{ID: store.NewID(), Name: "ipmi", Base: "10.31.0.0", Prefix: 16, Version: 4}
	other := store.Network{ID: store.NewID(), Name: "other", Base: "10.32.0.0", Prefix: 16, Version: 4}
	for _, n := range []store.Network{ipmi, other} {
		if err := st.Insert(ctx, store.Networks, n); err != nil {
			t.Fatal(err)
		}
	}
	users, err := st.Users(ctx, store.Networks, ipmi.ID)
	if err != nil || len(users) != 0 {
		t.Fatalf("users of an unused network: %v, %v", users, err)
	}
	sw := store.Switch{ID: store.NewID(), Name: "switch01", Network: ipmi.ID}
	if err := st.Insert(ctx, store.Switches, sw); err != nil {
		t.Fatal(err)
	}
	pdu := store.OtherDev{ID: store.NewID(), Name: "pdu01"}
	if err := st.Insert(ctx, store.OtherDevs, pdu); err != nil {
		t.Fatal(err)
	}
	if err := st.Insert(ctx, store.Addresses, store.Address{ID: store.NewID(), Network: ipmi.ID,
		Offset: "00000000000000000000000000000032", Kind: store.KindOtherDev, Owner: pdu.ID}); err != nil {
		t.Fatal(err)
	}
	users, err = st.Users(ctx, store.Networks, ipmi.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range users {
		got = append(got, u.String())
	}
	if strings.Join(got, " ") != "[switch/switch01] [otherdev/pdu01]" {
		t.Errorf("users of ipmi: %v", got)
	}
	if users, _ := st.Users(ctx, store.Networks, other.ID); len(users) != 0 {
		t.Errorf("users of an unused network: %v", users)
	}
}

func TestSchemaVersion(t *testing.T) {
	ctx := context.Background()
	st, db := testutil.Store(t)
	_ = st
	c := driver(t)
	meta := c.Database(db).Collection(store.Meta)
	var m struct {
		Version int `bson:"version"`
	}
	if err := meta.FindOne(ctx, bson.M{"_id": "schema"}).Decode(&m); err != nil {
		t.Fatalf("schema document: %v", err)
	}
	if m.Version != store.SchemaVersion {
		t.Fatalf("schema version %d, want %d", m.Version, store.SchemaVersion)
	}
	// Opening again keeps it (and succeeds).
	open(t, db)
	if n, _ := meta.CountDocuments(ctx, bson.M{}); n != 1 {
		t.Errorf("%d meta documents after a second open", n)
	}

	// A database written by a newer Luna is refused.
	if _, err := meta.UpdateOne(ctx, bson.M{"_id": "schema"}, bson.M{"$set": bson.M{"version": 99}}); err != nil {
		t.Fatal(err)
	}
	st2, err := store.Open(ctx, testutil.URI(), db, "test server", 10*time.Second)
	if err == nil {
		_ = st2.Close(ctx)
		t.Fatal("a database with schema version 99 was opened")
	}
	if msg := err.Error(); !strings.Contains(msg, "99") || !strings.Contains(msg, "newer") || strings.Contains(msg, "\n") {
		t.Errorf("refusal is not one clear line: %q", msg)
	}
	// And the refusal wrote nothing.
	if err := meta.FindOne(ctx, bson.M{"_id": "schema"}).Decode(&m); err != nil || m.Version != 99 {
		t.Errorf("schema version after refusal: %d, %v", m.Version, err)
	}
}

// TestConcurrentFirstOpen: several clients opening a new database at once all
// succeed and leave one schema document and the unique indexes.
func TestConcurrentFirstOpen(t *testing.T) {
	ctx := context.Background()
	db := testutil.NewDatabase()
	const n = 20
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			st, err := store.Open(ctx, testutil.URI(), db, "test server", 10*time.Second)
			if err == nil {
				_ = st.Close(ctx)
			}
			errs[i] = err
		}(i)
	}
	close(start)
	wg.Wait()
	st := open(t, db)
	t.Cleanup(func() { _ = st.DropDatabase(ctx) })
	for i, err := range errs {
		if err != nil {
			t.Errorf("client %d: %v", i, err)
		}
	}
	if n, _ := st.Count(ctx, store.Meta); n != 1 {
		t.Errorf("%d schema documents", n)
	}
	if err := st.Insert(ctx, store.Networks, bson.M{"_id": store.NewID(), "name": "a", "network": "1"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Insert(ctx, store.Networks, bson.M{"_id": store.NewID(), "name": "a", "network": "2"}); !errors.Is(err, store.ErrExists) {
		t.Errorf("duplicate name after concurrent first opens: %v", err)
	}
}

// TestOpenNamesWhatWasTried: a connection error names the URI's hosts, all
// of them, and a URI that cannot be parsed is said so at once.
func TestOpenNamesWhatWasTried(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	_, err := store.Open(ctx, "bogus", "luna", "localhost", 10*time.Second)
	if err == nil || !strings.HasPrefix(err.Error(), "Unable to connect to MongoDB: the URI could not be parsed: ") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("bogus URI: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("a bad URI took %s to fail", d)
	}
	_, err = store.Open(ctx, "mongodb://127.0.0.1:1,127.0.0.1:2/?replicaSet=rs0", "luna", "localhost", 500*time.Millisecond)
	if err == nil || !strings.HasPrefix(err.Error(), "Unable to connect to MongoDB at 127.0.0.1:1,127.0.0.1:2: ") {
		t.Fatalf("unreachable hosts: %v", err)
	}
	// A host without a port is named with the port dialled (27017).
	_, err = store.Open(ctx, "mongodb://198.51.100.1,[::1]:1/", "luna", "localhost", 500*time.Millisecond)
	if err == nil || !strings.HasPrefix(err.Error(), "Unable to connect to MongoDB at 198.51.100.1:27017,[::1]:1: ") {
		t.Fatalf("hosts without a port: %v", err)
	}
}
