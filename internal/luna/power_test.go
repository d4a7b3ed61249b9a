package luna

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/clustervision/luna-go/internal/store"
)

func TestPowerTargets(t *testing.T) {
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
	user, pw := "admin", "s3cret"
	if err := s.AddBMCSetup(ctx, "base", BMCSetupOpts{User: &user, Password: &pw}); err != nil {
		t.Fatal(err)
	}
	// luna refuses an empty user or password; a database from 1.2 may hold one.
	if err := s.st.Insert(ctx, store.BMCSetups, store.BMCSetup{ID: store.NewID(), Name: "blank", UserID: 3}); err != nil {
		t.Fatal(err)
	}
	for _, g := range []GroupAdd{
		{Name: "compute", OSImage: "img", Network: "cluster", BMCNetwork: "ipmi", BMCSetup: "base"},
		{Name: "blank", OSImage: "img", Network: "cluster", BMCNetwork: "ipmi", BMCSetup: "blank"},
		{Name: "nosetup", OSImage: "img", Network: "cluster", BMCNetwork: "ipmi"},
		{Name: "nobmc", OSImage: "img", Network: "cluster", BMCSetup: "base"},
	} {
		if err := s.AddGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	var many []string
	for i := 1; i <= 30; i++ {
		many = append(many, fmt.Sprintf("c%02d", i))
	}
	for _, g := range []struct {
		group string
		names []string
	}{{"compute", many}, {"blank", []string{"b1"}}, {"nosetup", []string{"s1"}}, {"nobmc", []string{"m1"}}} {
		if _, err := s.AddNodes(ctx, g.group, g.names); err != nil {
			t.Fatal(err)
		}
	}
	ok := func(node, ip string) PowerTarget {
		return PowerTarget{Node: node, Addr: ip, User: "admin", Password: "s3cret"}
	}

	got, unknown, err := s.PowerTargets(ctx, []string{"m1", "c02", "ghost", "b1", "s1", "c01", "c02"}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []PowerTarget{
		{Node: "b1", Addr: "10.41.0.31", User: "ladmin", Password: "ladmin"}, // 1.2's defaults for empty values
		ok("c01", "10.41.0.1"), ok("c02", "10.41.0.2"),
		{Node: "ghost", Reason: "unknown node"},
		{Node: "m1", Reason: "no BMC address: group 'nobmc' has no interface 'BMC'"},
		{Node: "s1", Reason: "no bmcsetup: group 'nosetup' has none"},
	}
	if !reflect.DeepEqual(got, want) || unknown != nil {
		t.Errorf("named nodes:\n got %+v %q\nwant %+v", got, unknown, want)
	}

	// Groups, with nodes named as well (once each), an unknown group, and
	// more names than are looked up one by one.
	got, unknown, err = s.PowerTargets(ctx, append([]string{"b1", "nope"}, many[25:]...), []string{"compute", "nogroup"}, "BMC")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 32 || got[0].Node != "b1" || got[1] != ok("c01", "10.41.0.1") || got[30] != ok("c30", "10.41.0.30") ||
		got[31] != (PowerTarget{Node: "nope", Reason: PowerUnknownNode}) {
		t.Errorf("groups: %+v", got)
	}
	if !reflect.DeepEqual(unknown, []string{"nogroup"}) {
		t.Errorf("unknown groups: %q", unknown)
	}

	// Another interface: BOOTIF's address; one a group lacks; one without
	// an IPv4 network; a node without an address there.
	got, _, err = s.PowerTargets(ctx, []string{"c03", "m1"}, nil, "BOOTIF")
	if err != nil {
		t.Fatal(err)
	}
	if want := []PowerTarget{ok("c03", "10.40.0.3"), {Node: "m1", Addr: "10.40.0.33", User: "admin", Password: "s3cret"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("BOOTIF:\n got %+v\nwant %+v", got, want)
	}
	if got, _, _ = s.PowerTargets(ctx, []string{"c03"}, nil, "eth9"); got[0].Reason != "no BMC address: group 'compute' has no interface 'eth9'" {
		t.Errorf("eth9: %+v", got)
	}
	ipmiName := "ipmi"
	if err := s.ChangeGroupInterface(ctx, "nosetup", IfaceOp{Iface: "BMC", DelNet: &ipmiName}); err != nil {
		t.Fatal(err)
	}
	if got, _, _ = s.PowerTargets(ctx, []string{"s1"}, nil, ""); got[0].Reason != "no BMC address: interface 'BMC' of group 'nosetup' has no IPv4 network" {
		t.Errorf("no network: %+v", got)
	}
	nd, err := s.Node(ctx, "c04")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.st.Set(ctx, store.Nodes, nd.ID, map[string]any{"addrs": ""}); err != nil {
		t.Fatal(err)
	}
	if got, _, _ = s.PowerTargets(ctx, []string{"c04"}, nil, ""); got[0].Reason != "no BMC address: none on interface 'BMC'" {
		t.Errorf("no address: %+v", got)
	}
	if got, unknown, err = s.PowerTargets(ctx, nil, nil, ""); err != nil || got != nil || unknown != nil {
		t.Errorf("nothing asked: %v %v %v", got, unknown, err)
	}
}
