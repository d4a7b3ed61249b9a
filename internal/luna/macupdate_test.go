package luna

import (
	"context"
	"testing"

	"github.com/clustervision/luna-go/internal/store"
)

func TestSwitchTargets(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestService(t)
	if got, err := s.SwitchTargets(ctx); err != nil || len(got) != 0 {
		t.Fatalf("no switches: %v %v", got, err)
	}
	for _, n := range []NetworkAdd{
		{Name: "ipmi", Network: "10.50.0.0", Prefix: 16, NSHostname: "master"},
		{Name: "v6", Network: "fdee::", Prefix: 64, NSHostname: "master"},
	} {
		if err := s.AddNetwork(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	add := func(name, net, ip string, oid *string) {
		t.Helper()
		read := "sw-" + name
		if err := s.AddSwitches(ctx, []string{name}, SwitchOpts{Network: &net, IP: &ip, Read: &read, OID: oid}); err != nil {
			t.Fatalf("add %s: %v", name, err)
		}
	}
	dot1d := ".1.3.6.1.2.1.17.4.3.1.2"
	add("b-switch", "ipmi", "10.50.1.2", nil)
	add("a-switch", "v6", "fdee::2", &dot1d)
	// Renumbering the network moves the switch: its address is an offset.
	net16 := "10.51.0.0"
	if err := s.ChangeNetwork(ctx, "ipmi", NetworkChange{Network: &net16}); err != nil {
		t.Fatalf("renumber: %v", err)
	}
	got, err := s.SwitchTargets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %+v", got)
	}
	want := []SwitchTarget{
		{Name: "a-switch", IP: "fdee::2", Community: "sw-a-switch", OID: dot1d},
		{Name: "b-switch", IP: "10.51.1.2", Community: "sw-b-switch", OID: DefaultSwitchOID},
	}
	for i, w := range want {
		g := got[i]
		if g.ID.IsZero() {
			t.Errorf("%s: no id", g.Name)
		}
		g.ID = store.ID{}
		if g != w {
			t.Errorf("target %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestIsActive(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestService(t)
	c, err := s.Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	local := map[string]bool{}
	s.IsLocalIP = func(ip string) bool { return local[ip] }
	for _, tc := range []struct {
		clusterIPs, frontend string
		local, want          bool
	}{
		{"", "10.40.0.254", false, true},                     // no HA
		{"10.40.0.1,10.40.0.2", "", false, true},             // HA without a floating address
		{"10.40.0.1,10.40.0.2", "10.40.0.254", false, false}, // the other master holds it
		{"10.40.0.1,10.40.0.2", "10.40.0.254", true, true},   // this one does
	} {
		if err := s.st.Set(ctx, store.Clusters, c.ID, map[string]any{"cluster_ips": tc.clusterIPs, "frontend_address": tc.frontend}); err != nil {
			t.Fatal(err)
		}
		local = map[string]bool{tc.frontend: tc.local}
		got, err := s.IsActive(ctx)
		if err != nil || got != tc.want {
			t.Errorf("cluster_ips=%q frontend=%q local=%v: active=%v err=%v, want %v", tc.clusterIPs, tc.frontend, tc.local, got, err, tc.want)
		}
		if guard := s.Guard(ctx); (guard == nil) != tc.want {
			t.Errorf("cluster_ips=%q frontend=%q local=%v: Guard=%v disagrees with IsActive", tc.clusterIPs, tc.frontend, tc.local, guard)
		}
	}
}
