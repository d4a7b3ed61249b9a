package macupdater

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clustervision/luna-go/internal/luna"
	"github.com/clustervision/luna-go/internal/store"
	"github.com/clustervision/luna-go/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(testutil.WithDB(m).Run()) }

const (
	fdbQ = OIDQBridgeFdbPort
	fdbD = OIDBridgeFdbPort
)

// switchTables is a switch with four learned MACs in the Q-BRIDGE table
// (one on VLAN 10), one in the old BRIDGE-MIB table, ifNames for ports 1
// and 5, and a bridge port (48) whose interface has no name.
func switchTables() []agentVar {
	return []agentVar{
		{fdbQ + ".1.0.37.144.1.2.3", "integer", "5"},
		{fdbQ + ".1.0.37.144.1.2.4", "integer", "1"},
		{fdbQ + ".10.0.37.144.1.2.5", "integer", "7"},
		{fdbQ + ".1.0.37.144.1.2.255", "integer", "48"},
		// dot1qTpFdbStatus, the next column: what walking the whole table reads too.
		{".1.3.6.1.2.1.17.7.1.2.2.1.3.1.0.37.144.1.2.3", "integer", "3"},
		{fdbD + ".0.37.144.1.2.6", "integer", "5"},
		{".1.3.6.1.2.1.17.4.3.1.3.0.37.144.1.2.6", "integer", "3"},
		{OIDBasePortIfIndex + ".1", "integer", "10101"},
		{OIDBasePortIfIndex + ".5", "integer", "10105"},
		{OIDBasePortIfIndex + ".48", "integer", "10148"},
		{OIDIfName + ".10101", "string", "Gi1/0/1"},
		{OIDIfName + ".10105", "string", "Gi1/0/5"},
	}
}

func TestMACFromIndex(t *testing.T) {
	for _, c := range []struct {
		index, mac string
		ok         bool
	}{
		{"0.37.144.1.2.3", "00:25:90:01:02:03", true},
		{"1.0.37.144.1.2.3", "00:25:90:01:02:03", true},
		{"4094.255.255.255.255.255.255", "ff:ff:ff:ff:ff:ff", true},
		{"37.144.1.2.3", "", false},
		{"2.1.1.0.37.144.1.2.3", "", false},
		{"0.37.144.1.2.256", "", false},
		{"", "", false},
		{"0.37.144.1.2.x", "", false},
	} {
		mac, ok := MACFromIndex(c.index)
		if mac != c.mac || ok != c.ok {
			t.Errorf("MACFromIndex(%q) = %q, %v; want %q, %v", c.index, mac, ok, c.mac, c.ok)
		}
	}
}

func TestFDBColumn(t *testing.T) {
	for _, c := range []struct{ oid, want, err string }{
		{".1.3.6.1.2.1.17.7.1.2.2.1.2", ".1.3.6.1.2.1.17.7.1.2.2.1.2", ""},
		{"1.3.6.1.2.1.17.4.3.1.2", ".1.3.6.1.2.1.17.4.3.1.2", ""},
		{".1.3.6.1.4.1.9.9.999.1", ".1.3.6.1.4.1.9.9.999.1", ""}, // a vendor table: trusted
		{".1.3.6.1.2.1.17.7.1.2.2", "", "--oid .1.3.6.1.2.1.17.7.1.2.2.1.2"},
		{".1.3.6.1.2.1.17.7.1.2.2.1", "", "--oid .1.3.6.1.2.1.17.7.1.2.2.1.2"},
		{".1.3.6.1.2.1.17.4.3", "", "--oid .1.3.6.1.2.1.17.4.3.1.2"},
		{".1.3.6.1.2.1.17", "", "whole forwarding table"},
		{"1.3.6.1.2.1.17.7.1.2.2.1.2 ", "", "not a numeric OID"},
	} {
		got, err := FDBColumn(c.oid)
		if c.err == "" {
			if err != nil || got != c.want {
				t.Errorf("FDBColumn(%q) = %q, %v; want %q", c.oid, got, err, c.want)
			}
		} else if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("FDBColumn(%q) error = %v, want one containing %q", c.oid, err, c.err)
		}
	}
}

// TestSNMPWalkerAgainstSnmpd reads the forwarding table of a real agent.
func TestSNMPWalkerAgainstSnmpd(t *testing.T) {
	a := startAgent(t, switchTables())
	w := &SNMPWalker{Port: a.port, Timeout: 2 * time.Second, Retries: 1}
	target := luna.SwitchTarget{Name: "sw1", IP: "127.0.0.1", Community: "public"}
	var got []string
	err := w.Walk(context.Background(), target, fdbQ, func(oid string, v any) error {
		got = append(got, fmt.Sprintf("%s=%T(%v)", oid, v, v))
		return nil
	})
	if err != nil {
		t.Fatalf("walk: %v\n%s", err, a.log.String())
	}
	want := []string{
		fdbQ + ".1.0.37.144.1.2.3=5",
		fdbQ + ".1.0.37.144.1.2.4=1",
		fdbQ + ".1.0.37.144.1.2.255=48",
		fdbQ + ".10.0.37.144.1.2.5=7",
	}
	for i := range want {
		want[i] = strings.Replace(want[i], "=", "=int64(", 1) + ")" // integers arrive as int64
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("walk of %s:\n%s\nwant:\n%s", fdbQ, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	names := map[string]any{}
	if err := w.Walk(context.Background(), target, OIDIfName, func(oid string, v any) error {
		names[oid] = v
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(names) != 2 || names[OIDIfName+".10105"] != "Gi1/0/5" {
		t.Errorf("ifName walk = %#v", names)
	}
	// A wrong community is not answered: a timeout, not an empty table.
	bad := target
	bad.Community = "nope"
	w.Timeout, w.Retries = 300*time.Millisecond, 0
	if err := w.Walk(context.Background(), bad, fdbQ, func(string, any) error { return nil }); err == nil {
		t.Errorf("walk with a wrong community succeeded")
	}
}

// fixture is a cluster whose network 127.0.0.0/8 holds switches on the test
// agent and nodes cabled to them.
type fixture struct {
	svc *luna.Service
	st  *store.Store
	log *lockedBuffer
	u   *Updater
	now time.Time
}

func newService(t *testing.T) *luna.Service {
	t.Helper()
	svc, _ := newServiceStore(t)
	return svc
}

// newServiceStore is newService with its store, for a test to look at or
// arrange what the Service does not offer.
func newServiceStore(t *testing.T) (*luna.Service, *store.Store) {
	t.Helper()
	ctx := context.Background()
	st, _ := testutil.Store(t)
	svc := luna.NewService(st)
	logDir := t.TempDir()
	svc.Getenv = func(k string) string {
		if k == "LUNA_LOGDIR" {
			return logDir
		}
		return ""
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.InitCluster(ctx, luna.ClusterInit{FrontendAddress: "127.0.0.1", NodePrefix: "node", NodeDigits: 3,
		User: me.Username, Path: t.TempDir()}); err != nil {
		t.Fatalf("cluster init: %v", err)
	}
	if err := svc.AddNetwork(ctx, luna.NetworkAdd{Name: "loop", Network: "127.0.0.0", Prefix: 8, NSHostname: "master"}); err != nil {
		t.Fatalf("network add: %v", err)
	}
	return svc, st
}

func addSwitch(t *testing.T, svc *luna.Service, name, ip, oid string) {
	t.Helper()
	net := "loop"
	o := luna.SwitchOpts{Network: &net, IP: &ip}
	if oid != "" {
		o.OID = &oid
	}
	if err := svc.AddSwitches(context.Background(), []string{name}, o); err != nil {
		t.Fatalf("switch add %s: %v", name, err)
	}
}

func newFixture(t *testing.T, port uint16) *fixture {
	t.Helper()
	svc, st := newServiceStore(t)
	addSwitch(t, svc, "sw1", "127.0.0.1", "")   // Q-BRIDGE, the default oid
	addSwitch(t, svc, "sw2", "127.0.0.2", fdbD) // BRIDGE-MIB
	f := &fixture{svc: svc, st: st, log: &lockedBuffer{}, now: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
	f.u = &Updater{
		Svc:    svc,
		Walker: &SNMPWalker{Port: port, Timeout: 2 * time.Second, Retries: 1},
		Log:    slog.New(slog.NewTextHandler(f.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    func() time.Time { return f.now },
	}
	return f
}

func (f *fixture) addNodes(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	img := t.TempDir()
	for _, d := range []string{"lib/modules/6.1.0-18-amd64", "boot"} {
		if err := os.MkdirAll(filepath.Join(img, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(img, "boot/vmlinuz-6.1.0-18-amd64"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.AddOSImage(ctx, "img", img, "", ""); err != nil {
		t.Fatalf("osimage add: %v", err)
	}
	if err := f.svc.AddGroup(ctx, luna.GroupAdd{Name: "compute", OSImage: "img", Network: "loop"}); err != nil {
		t.Fatalf("group add: %v", err)
	}
	if _, err := f.svc.AddNodes(ctx, "compute", []string{"node001", "node002", "node003"}); err != nil {
		t.Fatalf("node add: %v", err)
	}
	sw := "sw1"
	for _, n := range []struct{ name, mac, port string }{
		{"node001", "00:25:90:01:02:03", "Gi1/0/5"}, // by port name
		{"node002", "00:25:90:01:02:04", "1"},       // by bridge port number
		{"node003", "00:25:90:01:02:05", "9"},       // cabled elsewhere than configured
	} {
		mac, port := n.mac, n.port
		if err := f.svc.ChangeNode(ctx, n.name, luna.NodeChange{MAC: &mac, Switch: &sw, Port: &port}); err != nil {
			t.Fatalf("node change %s: %v", n.name, err)
		}
	}
}

func learned(t *testing.T, st *store.Store, names map[store.ID]string) []string {
	t.Helper()
	all, err := st.LearnedMACs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range all {
		out = append(out, fmt.Sprintf("%s %s %s %s", names[l.Switch], l.MAC, l.Port, l.PortName))
	}
	sort.Strings(out)
	return out
}

func switchNames(t *testing.T, svc *luna.Service) map[store.ID]string {
	t.Helper()
	targets, err := svc.SwitchTargets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := map[store.ID]string{}
	for _, tg := range targets {
		m[tg.ID] = tg.Name
	}
	return m
}

// TestPassAgainstSnmpd is a whole pass against a real agent: the MACs of
// both kinds of forwarding table are stored with the bridge port and the
// interface name, `cluster listmacs` joins them with the nodes, a second
// pass adds nothing, and a MAC that is no longer seen expires after ten
// intervals.
func TestPassAgainstSnmpd(t *testing.T) {
	ctx := context.Background()
	a := startAgent(t, switchTables())
	f := newFixture(t, a.port)
	f.addNodes(t)

	added, err := f.u.Pass(ctx)
	if err != nil {
		t.Fatalf("pass: %v\n%s", err, f.log.String())
	}
	if added != 5 {
		t.Errorf("added %d, want 5\n%s", added, f.log.String())
	}
	if !strings.Contains(f.log.String(), "Added 5 new mac addresses.") {
		t.Errorf("log lacks 1.2's summary line:\n%s", f.log.String())
	}
	names := switchNames(t, f.svc)
	want := []string{
		"sw1 00:25:90:01:02:03 5 Gi1/0/5",
		"sw1 00:25:90:01:02:04 1 Gi1/0/1",
		"sw1 00:25:90:01:02:05 7 7",   // bridge port without dot1dBasePortIfIndex
		"sw1 00:25:90:01:02:ff 48 48", // ifIndex without ifName
		"sw2 00:25:90:01:02:06 5 Gi1/0/5",
	}
	if got := learned(t, f.st, names); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("switch_mac:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	all, _ := f.st.LearnedMACs(ctx)
	for _, l := range all {
		if !l.Updated.Equal(f.now) {
			t.Errorf("%s updated %v, want the pass time %v", l.MAC, l.Updated, f.now)
		}
	}

	rows, err := f.svc.ListMACs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, fmt.Sprintf("%s|%s|%s|%s|%v|%s", r.Switch, r.Port, r.PortName, r.MAC, r.ConfPort, r.Node))
	}
	wantRows := []string{
		"sw1|1|Gi1/0/1|00:25:90:01:02:04|true|node002",
		"sw1|5|Gi1/0/5|00:25:90:01:02:03|true|node001",
		"sw1|7|7|00:25:90:01:02:05|false|node003",
		"sw1|48|48|00:25:90:01:02:ff|false|-",
		"sw2|5|Gi1/0/5|00:25:90:01:02:06|false|-",
	}
	if strings.Join(got, "\n") != strings.Join(wantRows, "\n") {
		t.Errorf("listmacs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantRows, "\n"))
	}

	// Nothing new on the next pass.
	f.now = f.now.Add(30 * time.Second)
	if added, err := f.u.Pass(ctx); err != nil || added != 0 {
		t.Errorf("second pass: added %d, err %v; want 0", added, err)
	}

	// 00:25:90:01:02:ff leaves the switch; ten intervals after the pass
	// that last saw it, it is gone and the rest are still there.
	var fewer []agentVar
	for _, v := range switchTables() {
		if !strings.HasSuffix(v.oid, ".255") {
			fewer = append(fewer, v)
		}
	}
	a.set(t, fewer)
	f.now = f.now.Add(ExpireAfter*DefaultInterval - time.Second)
	if _, err := f.u.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if got := learned(t, f.st, names); len(got) != 5 {
		t.Errorf("expired too early: %q", got)
	}
	f.now = f.now.Add(2 * time.Second)
	if _, err := f.u.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if got := learned(t, f.st, names); strings.Join(got, "\n") != strings.Join(append(want[:3:3], want[4]), "\n") {
		t.Errorf("after expiry:\n%s", strings.Join(got, "\n"))
	}
	st := f.u.Stats()
	if st.Passes != 4 || st.Learned != 5 || st.Expired != 1 || st.Failures != 0 || !st.LastPass.Equal(f.now) {
		t.Errorf("stats = %+v", st)
	}
	if strings.Contains(f.log.String(), "level=WARN") {
		t.Errorf("warnings from good switches:\n%s", f.log.String())
	}
}

// TestPassBadSwitches: a switch with no agent, one whose oid is the whole
// table, and one whose oid is a table of another shape are each reported
// (once while the problem lasts) and do not keep the good switch from
// being read.
func TestPassBadSwitches(t *testing.T) {
	ctx := context.Background()
	a := startAgent(t, switchTables())
	f := newFixture(t, a.port)
	addSwitch(t, f.svc, "sw-dead", "127.0.0.9", "")                         // nothing listens there
	addSwitch(t, f.svc, "sw-table", "127.0.0.3", ".1.3.6.1.2.1.17.7.1.2.2") // the whole table
	addSwitch(t, f.svc, "sw-shape", "127.0.0.4", OIDBasePortIfIndex)        // rows indexed by one sub-id

	added, err := f.u.Pass(ctx)
	if err != nil {
		t.Fatalf("pass: %v", err)
	}
	if added != 5 {
		t.Errorf("added %d, want the good switches' 5\n%s", added, f.log.String())
	}
	out := f.log.String()
	for _, w := range []string{
		`level=WARN msg="MAC updater: switch sw-dead: read .1.3.6.1.2.1.17.7.1.2.2.1.2: `,
		`level=WARN msg="MAC updater: switch sw-table: oid .1.3.6.1.2.1.17.7.1.2.2 is the whole forwarding table, not its port column: set it with ` +
			"`luna switch change NAME --oid .1.3.6.1.2.1.17.7.1.2.2.1.2`",
		`level=WARN msg="MAC updater: switch sw-shape: skipped 3 entries of .1.3.6.1.2.1.17.1.4.1.2 that are not a MAC address with a port number`,
	} {
		if strings.Count(out, w) != 1 {
			t.Errorf("log lacks (once) %s\n%s", w, out)
		}
	}
	if n := learned(t, f.st, switchNames(t, f.svc)); len(n) != 5 {
		t.Errorf("stored %q", n)
	}
	if st := f.u.Stats(); st.Failures != 2 {
		t.Errorf("failures = %d, want 2 (dead and whole-table)", st.Failures)
	}

	// A second pass: the same problems are not warned again.
	if _, err := f.u.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(f.log.String(), "level=WARN"); got != 3 {
		t.Errorf("%d warnings after two passes, want 3:\n%s", got, f.log.String())
	}
	// Fixed, the switch says so once.
	if err := f.st.Set(ctx, store.Switches, mustID(t, f.svc, "sw-table"), map[string]any{"oid": fdbQ}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.u.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.log.String(), `level=INFO msg="MAC updater: switch sw-table reads fine again"`) {
		t.Errorf("no recovery line:\n%s", f.log.String())
	}
}

func mustID(t *testing.T, svc *luna.Service, name string) store.ID {
	t.Helper()
	id, err := svc.IDOf(context.Background(), store.Switches, name)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// countingWalker serves nothing and counts calls.
type countingWalker struct{ calls atomic.Int64 }

func (c *countingWalker) Walk(context.Context, luna.SwitchTarget, string, WalkFunc) error {
	c.calls.Add(1)
	return nil
}

// TestRunPassiveNode: with cluster_ips set and the frontend address on
// another machine, Run reads no switch and says so once; when this machine
// takes the address over, it starts working.
func TestRunPassiveNode(t *testing.T) {
	ctx := context.Background()
	svc, st := newServiceStore(t)
	addSwitch(t, svc, "sw1", "127.0.0.1", "")
	c, err := svc.Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Set(ctx, store.Clusters, c.ID, map[string]any{"cluster_ips": "10.30.255.254,10.30.255.253", "frontend_address": "10.30.255.250"}); err != nil {
		t.Fatal(err)
	}
	var holdsFrontend atomic.Bool
	svc.IsLocalIP = func(ip string) bool { return ip == "10.30.255.250" && holdsFrontend.Load() }
	stale := store.LearnedMAC{Switch: mustID(t, svc, "sw1"), MAC: "00:00:00:00:00:01", Port: "1", PortName: "1", Updated: time.Unix(0, 0)}
	if _, err := st.UpsertLearnedMAC(ctx, stale); err != nil {
		t.Fatal(err)
	}
	w := &countingWalker{}
	log := &lockedBuffer{}
	u := &Updater{Svc: svc, Walker: w, Interval: 10 * time.Millisecond, Log: slog.New(slog.NewTextHandler(log, nil))}

	run := func(d time.Duration) {
		rctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		done := make(chan struct{})
		go func() { u.Run(rctx); close(done) }()
		<-done
	}
	run(200 * time.Millisecond)
	if n := strings.Count(log.String(), "This is passive node. Doing nothing."); n != 1 {
		t.Errorf("passive message %d times, want once:\n%s", n, log.String())
	}
	if w.calls.Load() != 0 || u.Stats().Passes != 0 || !u.Stats().Passive {
		t.Errorf("passive node worked: %d walks, stats %+v", w.calls.Load(), u.Stats())
	}
	if n, _ := st.Count(ctx, store.SwitchMAC); n != 1 {
		t.Errorf("passive node expired entries: %d left", n)
	}

	holdsFrontend.Store(true)
	run(200 * time.Millisecond)
	if w.calls.Load() == 0 || u.Stats().Passes == 0 || u.Stats().Passive {
		t.Errorf("active node did not work: %d walks, stats %+v\n%s", w.calls.Load(), u.Stats(), log.String())
	}
	if n, _ := st.Count(ctx, store.SwitchMAC); n != 0 {
		t.Errorf("stale entry not expired: %d left", n)
	}
	if !strings.Contains(log.String(), "This node is active now") {
		t.Errorf("no line for becoming active:\n%s", log.String())
	}
}

// errWalker fails every walk.
type errWalker struct{}

func (errWalker) Walk(context.Context, luna.SwitchTarget, string, WalkFunc) error {
	return errors.New("boom")
}

// TestPassParallelBound: many switches, a bound of 2: every switch is tried
// and the failures are counted per switch.
func TestPassParallelBound(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	for i := 1; i <= 6; i++ {
		addSwitch(t, svc, fmt.Sprintf("sw%d", i), fmt.Sprintf("127.0.1.%d", i), "")
	}
	u := &Updater{Svc: svc, Walker: errWalker{}, Parallel: 2, Log: slog.New(slog.NewTextHandler(&lockedBuffer{}, nil))}
	if _, err := u.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if st := u.Stats(); st.Failures != 6 || st.Passes != 1 {
		t.Errorf("stats = %+v, want 6 failures in 1 pass", st)
	}
}
