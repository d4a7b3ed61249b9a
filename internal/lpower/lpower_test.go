package lpower

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clustervision/luna-go/internal/cli"
	"github.com/clustervision/luna-go/internal/power/bmcsim"
	"github.com/clustervision/luna-go/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(testutil.WithDB(m).Run()) }

// cluster is a database set up with luna as an administrator would, whose
// BMC network is a /24 of 127/8, and BMC simulators on some of its
// addresses, all on one UDP port (lpower's hidden --port).
type cluster struct {
	t    *testing.T
	env  map[string]string
	net  string // "127.A.B.": the BMC network
	boot string // "127.A.B+1.": the boot network
	port int
	dir  string
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	_, db := testutil.Store(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "luna.conf")
	if err := os.WriteFile(conf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	a, b := 100+rand.IntN(150), rand.IntN(250)
	c := &cluster{t: t, dir: dir, env: map[string]string{"LUNA_MONGO_URI": testutil.URI(), "LUNA_DB": db, "LUNA_CONF": conf},
		net: fmt.Sprintf("127.%d.%d.", a, b), boot: fmt.Sprintf("127.%d.%d.", a, b+1)}
	img := filepath.Join(dir, "img")
	for _, d := range []string{filepath.Join(img, "lib/modules/5.10.0-9-amd64"), filepath.Join(img, "boot")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(img, "boot/vmlinuz-5.10.0-9-amd64"), []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.luna("cluster", "init", "--frontend_address", "10.30.255.254", "--user", "root", "--path", dir)
	c.luna("network", "add", "-n", "cluster", "-N", c.boot+"0", "-P", "24", "--ns_hostname", "master")
	c.luna("network", "add", "-n", "ipmi", "-N", c.net+"0", "-P", "24", "--ns_hostname", "master")
	c.luna("osimage", "add", "-n", "compute", "-p", img)
	c.luna("bmcsetup", "add", "-n", "base", "-u", "admin", "-p", "s3cret")
	c.luna("group", "add", "-n", "compute", "-o", "compute", "-N", "cluster", "-b", "base", "-bn", "ipmi")
	return c
}

func (c *cluster) luna(args ...string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	io := cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(k string) string { return c.env[k] }}
	if code := cli.Main(context.Background(), args, io); code != 0 {
		c.t.Fatalf("luna %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
	}
}

// goBMCs starts go-ipmi simulators on the given host numbers of the BMC
// network (node00N gets .N in a fresh group), all on one free port.
func (c *cluster) goBMCs(user, password string, hosts ...int) []*bmcsim.GoBMC {
	c.t.Helper()
	addrs := make([]string, len(hosts))
	for i, h := range hosts {
		addrs[i] = c.net + strconv.Itoa(h)
	}
	sims, port, err := bmcsim.StartGoBMCs(addrs, c.port, user, password)
	if err != nil {
		c.t.Fatal(err)
	}
	c.port = port
	c.t.Cleanup(func() {
		for _, s := range sims {
			s.Close()
		}
	})
	return sims
}

// ipmiSim starts ipmi_sim on host number h of the BMC network, on the port
// of the go-ipmi simulators (start those first).
func (c *cluster) ipmiSim(h int, user, password string) *bmcsim.IPMISim {
	c.t.Helper()
	dir := filepath.Join(c.dir, "ipmisim"+strconv.Itoa(h))
	if err := os.Mkdir(dir, 0o755); err != nil {
		c.t.Fatal(err)
	}
	s, err := bmcsim.StartIPMISim(context.Background(), dir, c.net+strconv.Itoa(h), c.port, user, password)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(s.Close)
	return s
}

// lpower runs lpower on the cluster's BMC port and returns its output and exit code.
func (c *cluster) lpower(args ...string) (string, string, int) {
	c.t.Helper()
	var out, errb bytes.Buffer
	args = append([]string{"--port", strconv.Itoa(c.port), "--timeout", "3s"}, args...)
	code := Main(context.Background(), args, &out, &errb, func(k string) string { return c.env[k] })
	return out.String(), errb.String(), code
}

func (c *cluster) expect(want string, code int, args ...string) {
	c.t.Helper()
	out, errb, got := c.lpower(args...)
	if out != want || got != code {
		c.t.Fatalf("lpower %s: exit %d, want %d\nstdout:\n%s\nwant:\n%s\nstderr:\n%s", strings.Join(args, " "), got, code, out, want, errb)
	}
}

func lines(node, word string, n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%s%03d: %s\n", node, i, word)
	}
	return b.String()
}

// TestActions: nodes node001-003 have go-ipmi BMCs, node004 ipmi_sim; every
// action reaches every chassis, as the simulators record it, and the
// output is one line per node, sorted.
func TestActions(t *testing.T) {
	c := newCluster(t)
	c.luna("node", "add", "-g", "compute", "-n", "node[001-004]")
	gos := c.goBMCs("admin", "s3cret", 1, 2, 3)
	sim := c.ipmiSim(4, "admin", "s3cret")

	c.expect(lines("node", "off", 4), 0, "node[001-004]", "status")
	c.expect(lines("node", "on", 4), 0, "node[004,003,001-002]", "on")
	for i, g := range gos {
		if !g.On() || !slices.Equal(g.Calls(), []string{"on"}) {
			t.Errorf("go-ipmi BMC %d: on=%v calls %q", i+1, g.On(), g.Calls())
		}
	}
	if on, err := sim.Power(); err != nil || !on {
		t.Errorf("ipmi_sim chassis after on: %v %v", on, err)
	}
	c.expect(lines("node", "on", 4), 0, "-g", "compute", "status")
	gos[1].SetOn(false)
	c.expect("node001: on\nnode002: off\nnode003: on\nnode004: on\n", 0, "-g", "compute", "status")

	c.expect(lines("node", "off", 4), 0, "-g", "compute", "off")
	c.expect(lines("node", "off", 4), 0, "node00[1-4]", "status")
	if on, _ := sim.Power(); on {
		t.Error("ipmi_sim chassis still on after off")
	}
	c.expect(lines("node", "cycle", 4), 0, "-g", "compute", "cycle")
	// ipmi_sim turns the power back on a moment after the off of a cycle.
	deadline := time.Now().Add(5 * time.Second)
	for on, _ := sim.Power(); !on && time.Now().Before(deadline); on, _ = sim.Power() {
		time.Sleep(50 * time.Millisecond)
	}
	c.expect(lines("node", "reset", 3), 0, "node00[1-3]", "reset")
	c.expect(lines("node", "identify", 3), 0, "node00[1-3]", "identify")
	c.expect(lines("node", "noidentify", 4), 0, "-g", "compute", "node004", "noidentify")
	for i, g := range gos {
		want := []string{"on", "off", "cycle", "reset", "identify 255", "identify 0"}
		if got := g.Calls(); !slices.Equal(got, want) {
			t.Errorf("go-ipmi BMC %d did %q, want %q", i+1, got, want)
		}
	}
	calls, err := sim.ChassisCalls()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"set power 1", "set power 0", "set power 0", "set power 1", "set identify 0 0"}; !slices.Equal(calls, want) {
		t.Errorf("ipmi_sim set %q, want %q", calls, want)
	}
	c.expect(lines("node", "on", 4), 0, "node[001-004]", "status")
}

// TestFailures: a wrong password, an unreachable BMC, a node without a BMC
// address, a group without bmcsetup and an unknown node each give that
// node an error line and exit status 1, while the other nodes are done.
func TestFailures(t *testing.T) {
	c := newCluster(t)
	c.luna("node", "add", "-g", "compute", "-n", "node[001-004]")
	c.luna("bmcsetup", "add", "-n", "wrong", "-u", "admin", "-p", "guess")
	c.luna("group", "add", "-n", "other", "-o", "compute", "-N", "cluster", "-b", "wrong", "-bn", "ipmi")
	c.luna("node", "add", "-g", "other", "-n", "other[1-2]") // .5 and .6
	c.luna("group", "add", "-n", "nosetup", "-o", "compute", "-N", "cluster", "-bn", "ipmi")
	c.luna("node", "add", "-g", "nosetup", "-n", "bare1") // .7
	c.luna("group", "add", "-n", "nobmc", "-o", "compute", "-N", "cluster", "-b", "base")
	c.luna("node", "add", "-g", "nobmc", "-n", "nobmc1")
	gos := c.goBMCs("admin", "s3cret", 1, 2, 5, 7)
	sim := c.ipmiSim(6, "admin", "s3cret")
	// node003's BMC (.3) is not there at all; node004's (.4) never answers.
	silent, err := net.ListenPacket("udp", net.JoinHostPort(c.net+"4", strconv.Itoa(c.port)))
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	p := c.net
	want := "bare1: error: no bmcsetup: group 'nosetup' has none\n" +
		"ghost: error: unknown node\n" +
		"nobmc1: error: no BMC address: group 'nobmc' has no interface 'BMC'\n" +
		"node001: on\n" +
		"node002: on\n" +
		"node003: error: unreachable: " + p + "3: port " + strconv.Itoa(c.port) + "/udp closed (ICMP port unreachable)\n" +
		"node004: error: unreachable: " + p + "4: no answer within 3s\n" +
		"other1: error: bad credentials: " + p + "5: wrong password or unknown user \"admin\"\n" +
		"other2: error: bad credentials: " + p + "6: wrong password or unknown user \"admin\"\n"
	out, errb, code := c.lpower("node[001-004],ghost,bare1,nobmc1", "-g", "other,nogroup", "on")
	if out != want || code != 1 {
		t.Fatalf("exit %d\nstdout:\n%s\nwant:\n%s\nstderr:\n%s", code, out, want, errb)
	}
	if errb != "lpower: error: group 'nogroup' does not exist\n" {
		t.Errorf("stderr: %q", errb)
	}
	for i, g := range gos {
		if want := i < 2; g.On() != want {
			t.Errorf("go-ipmi BMC %d on=%v, want %v", i, g.On(), want)
		}
	}
	if on, _ := sim.Power(); on {
		t.Error("ipmi_sim powered on with a wrong password")
	}
	if calls, _ := sim.ChassisCalls(); len(calls) != 0 {
		t.Errorf("ipmi_sim did %q with a wrong password", calls)
	}
}

// TestCommandLine: bad input is one line on stderr and exit 2, with no
// BMC contacted; nothing asked is nothing done (as 1.2); another interface
// is followed; an unreachable database is one line and exit 1.
func TestCommandLine(t *testing.T) {
	c := newCluster(t)
	c.luna("node", "add", "-g", "compute", "-n", "node[001-002]")
	gos := c.goBMCs("admin", "s3cret", 1, 2)
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"node001", "halt"}, `lpower: error: invalid action "halt" (choose from status, on, off, reset, cycle, identify, noidentify)`},
		{[]string{"node001"}, `lpower: error: invalid action "node001" (choose from status, on, off, reset, cycle, identify, noidentify)`},
		{nil, "lpower: error: the action is missing (choose from status, on, off, reset, cycle, identify, noidentify)"},
		{[]string{"node[1-", "on"}, `lpower: error: bad hostlist "node[1-": unbalanced brackets`},
		{[]string{"-g", "a[2-1]", "on"}, `lpower: error: bad hostlist "a[2-1]": `},
		{[]string{"node001", "on", "now"}, "lpower: error: too many arguments: now"},
		{[]string{"--parallel", "0", "node001", "on"}, "lpower: error: --parallel must be at least 1, not 0"},
		{[]string{"-C", "42", "node001", "on"}, "lpower: error: --cipher-suite 42 is not an IPMI v2.0 cipher suite"},
		{[]string{"--bogus", "node001", "on"}, "lpower: error: unknown flag: --bogus"},
	} {
		out, errb, code := c.lpower(tc.args...)
		if code != 2 || out != "" || !strings.HasPrefix(errb, tc.msg) || strings.Count(errb, "\n") != 2 {
			t.Errorf("lpower %q: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.args, code, out, errb, tc.msg)
		}
	}
	for _, g := range gos {
		if len(g.Calls()) != 0 {
			t.Errorf("a BMC was driven by a bad command line: %q", g.Calls())
		}
	}
	c.expect("", 0, "on")
	c.expect("node001: error: no BMC address: group 'compute' has no interface 'ib0'\n", 1, "-i", "ib0", "node001", "status")
	c.expect("node001: error: unreachable: "+c.boot+"1: port "+strconv.Itoa(c.port)+"/udp closed (ICMP port unreachable)\n", 1,
		"--interface", "BOOTIF", "node001", "status")

	c.env["LUNA_CONNECT_TIMEOUT"] = "soon"
	out, errb, code := c.lpower("node001", "on")
	if code != 1 || out != "" || errb != "lpower: error: LUNA_CONNECT_TIMEOUT=\"soon\" is not a positive duration such as 5s or 1m30s\n" {
		t.Errorf("LUNA_CONNECT_TIMEOUT=soon: exit %d, stdout %q, stderr %q", code, out, errb)
	}
	c.env["LUNA_MONGO_URI"] = "mongodb://127.0.0.1:1/"
	c.env["LUNA_CONNECT_TIMEOUT"] = "500ms"
	out, errb, code = c.lpower("node001", "on")
	if code != 1 || out != "" || !strings.HasPrefix(errb, "lpower: error: ") || strings.Count(errb, "\n") != 1 {
		t.Errorf("no database: exit %d, stdout %q, stderr %q", code, out, errb)
	}
}
