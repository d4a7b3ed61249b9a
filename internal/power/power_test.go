package power_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clustervision/luna-go/internal/power"
	"github.com/clustervision/luna-go/internal/power/bmcsim"
)

// loopbackHosts returns n addresses in a /24 of 127/8 picked at random, so
// that two test runs at once rarely meet.
func loopbackHosts(n int) []string {
	a, b := 100+rand.IntN(150), rand.IntN(250)
	hosts := make([]string, n)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("127.%d.%d.%d", a, b, i+1)
	}
	return hosts
}

func startGoBMCs(t *testing.T, n int, user, password string) ([]*bmcsim.GoBMC, int) {
	t.Helper()
	sims, port, err := bmcsim.StartGoBMCs(loopbackHosts(n), 0, user, password)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, s := range sims {
			s.Close()
		}
	})
	return sims, port
}

func host(addr string) string {
	h, _, _ := net.SplitHostPort(addr)
	return h
}

func pool() *power.Pool {
	return &power.Pool{Controller: &power.IPMI{CipherSuite: power.DefaultCipherSuite}, Parallel: 8, Timeout: 10 * time.Second}
}

func runOne(t *testing.T, p *power.Pool, b power.BMC, a power.Action) string {
	t.Helper()
	r := p.Run(context.Background(), a, []power.Job{{Node: "n", BMC: b}})
	if r[0].Err != nil {
		t.Fatalf("%s: %v", a, r[0].Err)
	}
	return r[0].Word
}

// TestGoBMCActions drives go-ipmi's simulated BMC through every action and
// checks, on the simulator's side, what the chassis did.
func TestGoBMCActions(t *testing.T) {
	sims, port := startGoBMCs(t, 1, "admin", "s3cret")
	sim := sims[0]
	b := power.BMC{Addr: host(sim.Addr), Port: port, User: "admin", Password: "s3cret"}
	p := pool()
	steps := []struct {
		a     power.Action
		word  string
		call  string // recorded by the chassis; "" = none
		after bool   // power state afterwards
	}{
		{power.Status, "off", "", false},
		{power.On, "on", "on", true},
		{power.Status, "on", "", true},
		{power.Off, "off", "off", false},
		{power.Status, "off", "", false},
		{power.Cycle, "cycle", "cycle", true},
		{power.Reset, "reset", "reset", true},
		{power.Identify, "identify", "identify 255", true},
		{power.NoIdentify, "noidentify", "identify 0", true},
	}
	var want []string
	for _, s := range steps {
		if got := runOne(t, p, b, s.a); got != s.word {
			t.Errorf("%s printed %q, want %q", s.a, got, s.word)
		}
		if s.call != "" {
			want = append(want, s.call)
		}
		if got := sim.Calls(); !slices.Equal(got, want) {
			t.Fatalf("after %s the chassis did %q, want %q", s.a, got, want)
		}
		if sim.On() != s.after {
			t.Errorf("after %s the chassis is on=%v, want %v", s.a, sim.On(), s.after)
		}
	}
	// Cipher suite 17 (HMAC-SHA256, AES-128), which newer BMCs require.
	p.Controller = &power.IPMI{CipherSuite: 17}
	if got := runOne(t, p, b, power.Off); got != "off" || sim.On() {
		t.Errorf("off with cipher suite 17: printed %q, chassis on=%v", got, sim.On())
	}
}

// TestIPMISimActions drives OpenIPMI's ipmi_sim: power changes reach its
// chassis (what ipmi_sim asked its chassis program to set), and status
// reads the state the chassis holds, as ipmitool sees it too.
func TestIPMISimActions(t *testing.T) {
	if _, err := exec.LookPath("ipmitool"); err != nil {
		t.Fatal("ipmitool not found: install Debian's ipmitool package (make deps)")
	}
	ctx := context.Background()
	h := loopbackHosts(1)[0]
	port := freeUDPPort(t, h)
	sim, err := bmcsim.StartIPMISim(ctx, t.TempDir(), h, port, "admin", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	b := power.BMC{Addr: h, Port: port, User: "admin", Password: "s3cret"}
	p := pool()
	ipmitool := func() string {
		cmd := exec.Command("ipmitool", "-I", "lanplus", "-C", "3", "-H", h, "-p", strconv.Itoa(port), "-U", "admin", "-E", "chassis", "power", "status")
		cmd.Env = []string{"IPMI_PASSWORD=s3cret"}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("ipmitool: %v", err)
		}
		return strings.TrimSpace(string(out))
	}
	steps := []struct {
		a     power.Action
		word  string
		calls []string
		on    bool
	}{
		{power.Status, "off", nil, false},
		{power.On, "on", []string{"set power 1"}, true},
		{power.Status, "on", nil, true},
		{power.Off, "off", []string{"set power 0"}, false},
		{power.Cycle, "cycle", []string{"set power 0", "set power 1"}, true},
		{power.Status, "on", nil, true},
		{power.Identify, "identify", []string{"set identify 255 0"}, true},
		{power.NoIdentify, "noidentify", []string{"set identify 0 0"}, true},
	}
	var want []string
	for _, s := range steps {
		if got := runOne(t, p, b, s.a); got != s.word {
			t.Errorf("%s printed %q, want %q", s.a, got, s.word)
		}
		want = append(want, s.calls...)
		// ipmi_sim switches the power back on a moment after the off of a
		// cycle, and its chassis script logs a call before it stores the
		// new state: wait for both.
		var got []string
		var on bool
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			var err error
			if got, err = sim.ChassisCalls(); err != nil {
				t.Fatal(err)
			}
			if on, err = sim.Power(); err != nil {
				t.Fatal(err)
			}
			if slices.Equal(got, want) && on == s.on || time.Now().After(deadline) {
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("after %s ipmi_sim set %q, want %q", s.a, got, want)
		}
		if on != s.on {
			t.Errorf("after %s the chassis is on=%v, want %v", s.a, on, s.on)
		}
	}
	if got, want := ipmitool(), "Chassis Power is on"; got != want {
		t.Errorf("ipmitool says %q, want %q", got, want)
	}
	if err := sim.SetPower(false); err != nil {
		t.Fatal(err)
	}
	if got := runOne(t, p, b, power.Status); got != "off" {
		t.Errorf("status of a chassis switched off at the simulator: %q", got)
	}
	// ipmi_sim 2.0.33 has no cipher suite 17: one clear line.
	p.Controller = &power.IPMI{CipherSuite: 17}
	r := p.Run(ctx, power.Status, []power.Job{{Node: "n", BMC: b}})
	if want := h + ": no session with cipher suite 17"; r[0].Err == nil || !strings.HasPrefix(r[0].Err.Error(), want) {
		t.Errorf("cipher suite 17 on ipmi_sim: %v, want %q...", r[0].Err, want)
	}
}

// freeUDPPort returns a UDP port free on host at the moment.
func freeUDPPort(t *testing.T, host string) int {
	t.Helper()
	c, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// TestFailuresPerBMC: a wrong password, an unknown user, a closed port and
// a BMC that never answers each fail alone, with their reason, while the
// other BMCs of the same run succeed.
func TestFailuresPerBMC(t *testing.T) {
	sims, port := startGoBMCs(t, 3, "admin", "s3cret")
	silent, err := net.ListenPacket("udp", net.JoinHostPort(loopbackHosts(1)[0], strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	closed := loopbackHosts(1)[0] // nothing listens there
	bmc := func(addr, user, pw string) power.BMC {
		return power.BMC{Addr: host(addr), Port: port, User: user, Password: pw}
	}
	jobs := []power.Job{
		{"good1", bmc(sims[0].Addr, "admin", "s3cret")},
		{"wrongpw", bmc(sims[1].Addr, "admin", "nope")},
		{"good2", bmc(sims[2].Addr, "admin", "s3cret")},
		{"nouser", bmc(sims[1].Addr, "ladmin", "s3cret")},
		{"closed", bmc(closed+":1", "admin", "s3cret")},
		{"silent", bmc(silent.LocalAddr().String(), "admin", "s3cret")},
	}
	p := pool()
	p.Timeout = 2 * time.Second
	res := p.Run(context.Background(), power.On, jobs)
	want := map[string]struct {
		kind error
		text string
	}{
		"wrongpw": {power.ErrBadCredentials, `wrong password or unknown user "admin"`},
		"nouser":  {power.ErrBadCredentials, `"ladmin"`},
		"closed":  {power.ErrUnreachable, "closed (ICMP port unreachable)"},
		"silent":  {power.ErrUnreachable, "no answer within 2s"},
	}
	for i, r := range res {
		if r.Node != jobs[i].Node {
			t.Fatalf("result %d is for %s, want %s", i, r.Node, jobs[i].Node)
		}
		w, bad := want[r.Node]
		switch {
		case !bad && (r.Err != nil || r.Word != "on"):
			t.Errorf("%s: %q, %v; want on", r.Node, r.Word, r.Err)
		case bad && (!errors.Is(r.Err, w.kind) || !strings.Contains(r.Err.Error(), w.text)):
			t.Errorf("%s: error %v; want %v with %q", r.Node, r.Err, w.kind, w.text)
		}
	}
	if !sims[0].On() || !sims[2].On() || sims[1].On() {
		t.Errorf("chassis on: %v %v %v, want true false true", sims[0].On(), sims[1].On(), sims[2].On())
	}
}

// counting wraps a Controller and records the most calls at once.
type counting struct {
	power.Controller
	mu       sync.Mutex
	now, top int
}

func (c *counting) Do(ctx context.Context, b power.BMC, a power.Action) (string, error) {
	c.mu.Lock()
	c.now++
	c.top = max(c.top, c.now)
	c.mu.Unlock()
	defer func() { c.mu.Lock(); c.now--; c.mu.Unlock() }()
	return c.Controller.Do(ctx, b, a)
}

// TestPoolBound: no more than Parallel BMCs are in flight, every one is
// done, and results keep the order of the jobs.
func TestPoolBound(t *testing.T) {
	sims, port := startGoBMCs(t, 12, "admin", "pw")
	c := &counting{Controller: &power.IPMI{CipherSuite: 3}}
	p := &power.Pool{Controller: c, Parallel: 3, Timeout: 10 * time.Second}
	var jobs []power.Job
	for i, s := range sims {
		jobs = append(jobs, power.Job{Node: "n" + strconv.Itoa(i), BMC: power.BMC{Addr: host(s.Addr), Port: port, User: "admin", Password: "pw"}})
	}
	res := p.Run(context.Background(), power.Cycle, jobs)
	for i, r := range res {
		if r.Node != jobs[i].Node || r.Err != nil || r.Word != "cycle" {
			t.Errorf("result %d: %+v", i, r)
		}
		if got := sims[i].Calls(); !slices.Equal(got, []string{"cycle"}) {
			t.Errorf("BMC %d did %q", i, got)
		}
	}
	if c.top > 3 || c.top < 2 {
		t.Errorf("at most %d BMCs were in flight, want 3 (2 at least)", c.top)
	}
}

// TestPoolInterrupted: when the run's context ends, what has not finished
// is reported interrupted and Run returns at once.
func TestPoolInterrupted(t *testing.T) {
	_, port := startGoBMCs(t, 1, "admin", "pw")
	silent, err := net.ListenPacket("udp", net.JoinHostPort(loopbackHosts(1)[0], strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	var jobs []power.Job
	for i := range 5 {
		jobs = append(jobs, power.Job{Node: "n" + strconv.Itoa(i), BMC: power.BMC{Addr: host(silent.LocalAddr().String()), Port: port, User: "admin", Password: "pw"}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	// Each BMC would be given 10 minutes: Run returns when ctx ends.
	p := &power.Pool{Controller: &power.IPMI{CipherSuite: 3}, Parallel: 2, Timeout: 10 * time.Minute}
	start := time.Now()
	res := p.Run(ctx, power.Status, jobs)
	if d := time.Since(start); d > 5*time.Minute {
		t.Errorf("Run returned %s after its context ended", d)
	}
	for _, r := range res {
		if !errors.Is(r.Err, power.ErrInterrupted) {
			t.Errorf("%s: %v, want interrupted", r.Node, r.Err)
		}
	}
}

func TestParseAction(t *testing.T) {
	for _, a := range power.Actions {
		if got, err := power.ParseAction(string(a)); err != nil || got != a {
			t.Errorf("ParseAction(%q) = %q, %v", a, got, err)
		}
	}
	if _, err := power.ParseAction("halt"); err == nil || !strings.Contains(err.Error(), "status, on, off, reset, cycle, identify, noidentify") {
		t.Errorf("ParseAction(halt): %v", err)
	}
	for id, ok := range map[int]bool{0: true, 3: true, 17: true, 20: false, 42: false, -1: false} {
		if power.ValidCipherSuite(id) != ok {
			t.Errorf("ValidCipherSuite(%d) = %v", id, !ok)
		}
	}
}
