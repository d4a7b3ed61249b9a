package luna

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clustervision/luna-go/internal/ipam"
	"github.com/clustervision/luna-go/internal/store"
	"github.com/clustervision/luna-go/internal/testutil"
)

const (
	helperProcs  = 20
	helperClaims = 5
)

// TestHelperClaim is not a test: it is the body of the processes started by
// TestConcurrentClaimLowest, and returns at once in a normal run.
func TestHelperClaim(t *testing.T) {
	uri := os.Getenv("LUNA_HELPER_URI")
	if uri == "" {
		return
	}
	ctx := context.Background()
	st, err := store.Open(ctx, uri, os.Getenv("LUNA_HELPER_DB"), "test server", 20*time.Second)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer st.Close(ctx)
	s := NewService(st)
	n, err := s.Network(ctx, os.Getenv("LUNA_HELPER_NET"))
	if err != nil {
		t.Fatalf("network: %v", err)
	}
	testutil.HelperStart(t)
	for i := 0; i < helperClaims; i++ {
		off, err := s.claimLowest(ctx, n, store.KindReserved, store.ID{}, "")
		if err != nil {
			t.Fatalf("claim %d: %v", i, err)
		}
		fmt.Printf("claimed %s\n", off)
	}
}

// ownConnections returns n services on database db, each with its own
// connection, as concurrent clients have.
func ownConnections(t *testing.T, db string, n int) []*Service {
	t.Helper()
	ctx := context.Background()
	svcs := make([]*Service, n)
	for i := range svcs {
		st, err := store.Open(ctx, testutil.URI(), db, "test server", 20*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close(ctx) })
		svcs[i] = NewService(st)
	}
	return svcs
}

// newTestService is a fresh database with a cluster document.
func newTestService(t *testing.T) (*Service, string) {
	t.Helper()
	st, db := testutil.Store(t)
	s := NewService(st)
	s.Getenv = func(string) string { return "" }
	c := DefaultCluster()
	c.ID = store.NewID()
	c.FrontendAddress = "10.40.0.254"
	if err := st.Insert(context.Background(), store.Clusters, c); err != nil {
		t.Fatal(err)
	}
	return s, db
}

// TestConcurrentClaimLowest starts 20 processes that each claim the lowest
// free address of one network 5 times, all released at the same moment.
// Every claim must be distinct and, because allocation always takes the
// lowest free offset and retries on a duplicate key, together they must be
// exactly offsets 1..100.
func TestConcurrentClaimLowest(t *testing.T) {
	ctx := context.Background()
	s, db := newTestService(t)
	if err := s.AddNetwork(ctx, NetworkAdd{Name: "net40", Network: "10.40.0.0", Prefix: 24, NSHostname: "master"}); err != nil {
		t.Fatal(err)
	}
	n, err := s.Network(ctx, "net40")
	if err != nil {
		t.Fatal(err)
	}

	envs := make([][]string, helperProcs)
	for i := range envs {
		envs[i] = []string{"LUNA_HELPER_URI=" + testutil.URI(), "LUNA_HELPER_DB=" + db, "LUNA_HELPER_NET=" + n.Name}
	}
	results := testutil.RunHelpers(t, "TestHelperClaim", envs)

	seen := map[uint64]int{}
	total := 0
	for i, r := range results {
		if r.Code != 0 {
			t.Fatalf("helper %d: exit %d\n%s%s", i, r.Code, r.Stdout, r.Stderr)
		}
		got := 0
		sc := bufio.NewScanner(strings.NewReader(r.Stdout))
		for sc.Scan() {
			v, ok := strings.CutPrefix(sc.Text(), "claimed ")
			if !ok {
				continue
			}
			off, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				t.Fatalf("helper %d printed %q", i, sc.Text())
			}
			seen[off]++
			got++
		}
		if got != helperClaims {
			t.Errorf("helper %d claimed %d addresses, want %d", i, got, helperClaims)
		}
		total += got
	}
	if total != helperProcs*helperClaims {
		t.Fatalf("%d claims, want %d", total, helperProcs*helperClaims)
	}
	for off, k := range seen {
		if k > 1 {
			t.Errorf("offset %d was given to %d helpers", off, k)
		}
		if off < 1 || off > helperProcs*helperClaims {
			t.Errorf("offset %d is not among the lowest %d", off, helperProcs*helperClaims)
		}
	}
	if len(seen) != helperProcs*helperClaims {
		t.Errorf("%d distinct offsets, want %d", len(seen), helperProcs*helperClaims)
	}

	// The free list derived from the claims.
	sub, err := subnet(n)
	if err != nil {
		t.Fatal(err)
	}
	set, err := s.usedSet(ctx, n, sub)
	if err != nil {
		t.Fatal(err)
	}
	if low, ok := set.Lowest(); !ok || low != ipam.OffsetFrom(101) {
		t.Errorf("lowest free offset %v (%v), want 101", low, ok)
	}
	want := []ipam.Range{{Start: ipam.OffsetFrom(101), End: ipam.OffsetFrom(253)}}
	if free := set.Free(); len(free) != 1 || free[0] != want[0] {
		t.Errorf("free ranges %v, want %v", free, want)
	}
	if c, err := s.st.Count(ctx, store.Addresses); err != nil || c != 101 {
		t.Errorf("%d claims stored (%v), want 101 (100 and the name server's)", c, err)
	}
}

// TestConcurrentOverlappingNetworks: clients with their own connections add,
// at the same moment, networks that all overlap each other but have
// different bases (so the unique index on the base does not decide): a chain
// 10.50.0.0/16 ⊃ 10.50.128.0/17 ⊃ … ⊃ 10.50.255.252/30. At most one may stay.
func TestConcurrentOverlappingNetworks(t *testing.T) {
	ctx := context.Background()
	s, db := newTestService(t)
	const first, last = 16, 30
	const n = last - first + 1
	svcs := ownConnections(t, db, n)
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			<-start
			p := first + i
			base := 1<<16 - 1<<(32-p)
			o := NetworkAdd{Name: fmt.Sprintf("net%d", p), Network: fmt.Sprintf("10.50.%d.%d", base>>8, base&255),
				Prefix: p, NSHostname: "master"}
			errs <- svcs[i].AddNetwork(ctx, o)
		}(i)
	}
	close(start)
	won := 0
	for i := 0; i < n; i++ {
		if err := <-errs; err == nil {
			won++
		} else if !strings.Contains(err.Error(), "overlaps") {
			t.Errorf("unexpected error: %v", err)
		}
	}
	views, err := s.NetworkViews(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if won > 1 || len(views) != won {
		var got []string
		for _, v := range views {
			got = append(got, fmt.Sprintf("%s/%d", v.Network, v.Prefix))
		}
		t.Fatalf("%d adds succeeded; networks stored: %v", won, got)
	}
	// What failed left no name server claim behind.
	if c, _ := s.st.Count(ctx, store.Addresses); c != int64(won) {
		t.Errorf("%d claims for %d networks", c, won)
	}
}

// TestConcurrentOverlappingMoves: networks far apart are moved at the same
// moment onto the nested chain of TestConcurrentOverlappingNetworks with
// `network change --network --prefix`; at most one may end up there.
func TestConcurrentOverlappingMoves(t *testing.T) {
	ctx := context.Background()
	s, db := newTestService(t)
	const first, last = 16, 30
	const n = last - first + 1
	for i := 0; i < n; i++ {
		if err := s.AddNetwork(ctx, NetworkAdd{Name: fmt.Sprintf("net%d", i), Network: fmt.Sprintf("10.%d.0.0", 100+i),
			Prefix: 30, NSHostname: "master"}); err != nil {
			t.Fatal(err)
		}
	}
	svcs := ownConnections(t, db, n)
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			<-start
			p := first + i
			base := 1<<16 - 1<<(32-p)
			text := fmt.Sprintf("10.50.%d.%d", base>>8, base&255)
			errs <- svcs[i].ChangeNetwork(ctx, fmt.Sprintf("net%d", i), NetworkChange{Network: &text, Prefix: &p})
		}(i)
	}
	close(start)
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil && !strings.Contains(err.Error(), "overlaps") {
			t.Errorf("unexpected error: %v", err)
		}
	}
	var nets []store.Network
	if err := s.st.List(ctx, store.Networks, &nets); err != nil {
		t.Fatal(err)
	}
	for i := range nets {
		a, _ := subnet(&nets[i])
		for j := i + 1; j < len(nets); j++ {
			if b, _ := subnet(&nets[j]); a.Overlaps(b) {
				t.Errorf("stored networks overlap: %s and %s", a, b)
			}
		}
	}
}

// TestSyncNodeClaims: what concurrent writers can leave behind is repaired
// by syncNodeClaims: a node given two addresses in one place keeps the
// lowest, a missing address is allocated, a claim on a network or interface
// the group no longer has is released, and (for the whole group) so is a
// claim whose node is gone. Nodes of another group are left alone.
func TestSyncNodeClaims(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestService(t)
	for _, n := range []NetworkAdd{{Name: "cluster", Network: "10.40.0.0", Prefix: 16}, {Name: "ipmi", Network: "10.41.0.0", Prefix: 16}} {
		n.NSHostname = "master"
		if err := s.AddNetwork(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.st.Insert(ctx, store.OSImages, store.OSImage{ID: store.NewID(), Name: "img"}); err != nil {
		t.Fatal(err)
	}
	for _, g := range []GroupAdd{{Name: "compute", OSImage: "img", Network: "cluster", BMCNetwork: "ipmi"}, {Name: "other", OSImage: "img", Network: "cluster"}} {
		if err := s.AddGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AddNodes(ctx, "compute", []string{"n1", "n2", "n3", "n4"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddNodes(ctx, "other", []string{"o1"}); err != nil {
		t.Fatal(err)
	}
	g, _ := s.Group(ctx, "compute")
	cluster, _ := s.Network(ctx, "cluster")
	ipmi, _ := s.Network(ctx, "ipmi")
	node := func(name string) store.ID {
		nd, err := s.Node(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return nd.ID
	}
	boot := g.Interfaces[findIface(g, BootIf)].ID
	claim := func(net *store.Network, off uint64, owner store.ID, iface string) {
		t.Helper()
		a := store.Address{ID: store.NewID(), Network: net.ID, Offset: ipam.OffsetFrom(off).Key(), Kind: store.KindNode, Owner: owner, Iface: iface}
		if err := s.st.Insert(ctx, store.Addresses, a); err != nil {
			t.Fatal(err)
		}
	}
	// n1 got a second BOOTIF address above its own (10.40.0.1); n2 two
	// others instead of its own; n3 lost its BMC address; n4 holds one on an
	// interface the group does not have; a deleted node left one behind; o1,
	// of another group, has one that is not compute's business.
	claim(cluster, 100, node("n1"), boot)
	n2, n3 := node("n2"), node("n3")
	if _, err := s.st.DeleteAddresses(ctx, store.AddressFilter{Owner: &n2, Network: &cluster.ID}); err != nil {
		t.Fatal(err)
	}
	claim(cluster, 202, n2, boot)
	claim(cluster, 201, n2, boot)
	if _, err := s.st.DeleteAddresses(ctx, store.AddressFilter{Owner: &n3, Network: &ipmi.ID}); err != nil {
		t.Fatal(err)
	}
	claim(ipmi, 300, node("n4"), "no-such-interface")
	claim(cluster, 400, store.NewID(), boot)
	claim(cluster, 500, node("o1"), "no-such-interface")

	if err := s.syncNodeClaims(ctx, g.ID, []store.ID{node("n1"), n2, n3, node("n4")}); err != nil {
		t.Fatal(err)
	}
	if err := s.syncNodeClaims(ctx, g.ID, nil); err != nil {
		t.Fatal(err)
	}
	addrs, err := s.st.FindAddresses(ctx, store.AddressFilter{Kind: store.KindNode})
	if err != nil {
		t.Fatal(err)
	}
	names := map[store.ID]string{}
	for _, n := range []string{"n1", "n2", "n3", "n4", "o1"} {
		names[node(n)] = n
	}
	ifNames := map[string]string{}
	for _, gn := range []string{"compute", "other"} {
		gg, _ := s.Group(ctx, gn)
		for _, ifc := range gg.Interfaces {
			ifNames[ifc.ID] = ifc.Name
		}
	}
	var got []string
	for _, a := range addrs {
		n := cluster
		if a.Network == ipmi.ID {
			n = ipmi
		}
		got = append(got, fmt.Sprintf("%s:%s:%s", names[a.Owner], ifNames[a.Iface], addressText(n, a.Offset)))
	}
	sort.Strings(got)
	want := "n1:BMC:10.41.0.1 n1:BOOTIF:10.40.0.1 n2:BMC:10.41.0.2 n2:BOOTIF:10.40.0.201 n3:BMC:10.41.0.3 n3:BOOTIF:10.40.0.3 " +
		"n4:BMC:10.41.0.4 n4:BOOTIF:10.40.0.4 o1::10.40.1.244 o1:BOOTIF:10.40.0.5"
	if strings.Join(got, " ") != want {
		t.Errorf("after sync:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
}
