package luna

import (
	"context"
	"testing"

	"github.com/clustervision/luna-go/internal/store"
)

// The copies of the claims of switches, other devices and name servers
// (what makedns reads, store.DevAddrs) follow the claims through every verb
// that moves them.
func TestDevAddrsFollowClaims(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestService(t)
	str := func(v string) *string { return &v }
	check := func(step string) {
		t.Helper()
		want, err := s.st.FindAddresses(ctx, store.AddressFilter{Kinds: []string{store.KindSwitch, store.KindOtherDev, store.KindNameServer}})
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := s.st.DevAddrs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("after %s: copies %+v, claims %+v", step, got, want)
		}
		for i := range want {
			want[i].ID = store.ID{}
			if got[i] != want[i] {
				t.Fatalf("after %s: copy %+v, claim %+v", step, got[i], want[i])
			}
		}
	}
	steps := []struct {
		name string
		do   func() error
	}{
		{"network add", func() error {
			return s.AddNetwork(ctx, NetworkAdd{Name: "net40", Network: "10.40.0.0", Prefix: 24, NSHostname: "master"})
		}},
		{"network add -i", func() error {
			return s.AddNetwork(ctx, NetworkAdd{Name: "net6", Network: "fd40::", Prefix: 64, NSHostname: "master", NSIP: "fd40::53"})
		}},
		{"network change --ns_ip", func() error { return s.ChangeNetwork(ctx, "net40", NetworkChange{NSIP: str("10.40.0.53")}) }},
		{"network change --ns_ip (same)", func() error { return s.ChangeNetwork(ctx, "net40", NetworkChange{NSIP: str("10.40.0.53")}) }},
		{"switch add", func() error {
			return s.AddSwitches(ctx, []string{"sw01"}, SwitchOpts{Network: str("net40"), IP: str("10.40.0.200")})
		}},
		{"switch change --ip", func() error { return s.ChangeSwitch(ctx, "sw01", SwitchOpts{IP: str("10.40.0.201")}) }},
		{"switch change --network", func() error { return s.ChangeSwitch(ctx, "sw01", SwitchOpts{Network: str("net6")}) }},
		{"otherdev add", func() error { return s.AddOtherDevs(ctx, []string{"pdu01"}, "net40", "10.40.0.210") }},
		{"otherdev change (second network)", func() error {
			return s.ChangeOtherDev(ctx, "pdu01", str("net6"), str("fd40::10"), nil)
		}},
		{"otherdev change (move)", func() error { return s.ChangeOtherDev(ctx, "pdu01", str("net40"), str("10.40.0.211"), nil) }},
		{"otherdev change (same)", func() error { return s.ChangeOtherDev(ctx, "pdu01", str("net40"), str("10.40.0.211"), nil) }},
		{"otherdev change (detach)", func() error { return s.ChangeOtherDev(ctx, "pdu01", str("net6"), str(""), nil) }},
		{"otherdev add (second)", func() error { return s.AddOtherDevs(ctx, []string{"nas01"}, "net6", "fd40::20") }},
		{"otherdev delete", func() error { return s.DeleteOtherDev(ctx, "nas01") }},
		{"switch delete", func() error { return s.DeleteSwitch(ctx, "sw01") }},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		check(st.name)
	}
	// A refused change leaves the copy as it was.
	if err := s.ChangeOtherDev(ctx, "pdu01", str("net40"), str("10.40.0.53"), nil); err == nil {
		t.Fatal("otherdev change onto the name server's address was accepted")
	}
	check("a refused otherdev change")
	if err := s.ChangeSwitch(ctx, "nosuch", SwitchOpts{IP: str("10.40.0.9")}); err == nil {
		t.Fatal("change of a missing switch was accepted")
	}
	check("a refused switch change")
}
