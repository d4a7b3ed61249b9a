package cli

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clustervision/luna-go/internal/luna"
	"github.com/clustervision/luna-go/internal/testutil"
	"github.com/clustervision/luna-go/internal/testutil/stored"
)

// runSignaled runs `luna` once per argument list in its own process, as
// runConcurrently, with extra environment per process and signals sent at
// the given moments after the common release.
func runSignaled(t *testing.T, env lunaEnv, argv [][]string, extra [][]string, signals []testutil.Signal) []testutil.HelperResult {
	t.Helper()
	envs := make([][]string, len(argv))
	for i := range argv {
		args, _ := json.Marshal(argv[i])
		envs[i] = []string{"LUNA_HELPER_ARGS=" + string(args), "LUNA_CONNECT_TIMEOUT=30s"}
		for k, v := range env {
			envs[i] = append(envs[i], k+"="+v)
		}
		if extra != nil {
			envs[i] = append(envs[i], extra[i]...)
		}
	}
	return testutil.RunHelpersSignal(t, "TestHelperLuna", envs, signals)
}

// TestKilledNodeChanges: 20 `luna node change` processes on one node, half
// of them killed with SIGKILL at random moments (no rollback, no release of
// the lock can run). Afterwards every change that reported success is
// stored, no address claim is orphaned or doubled, and a new change of the
// node succeeds within one lock lease. Rounds are repeated until one has
// left the node's lock held by a killed process (at most 20: on a quiet machine a kill rarely lands on the holder): a waiter took
// it over and said so.
func TestKilledNodeChanges(t *testing.T) {
	// The kills fall within the time the 20 changes take on this machine
	// (measured by a round with no kill on a cluster of its own), so the
	// test exercises kills during the changes on a quiet machine as on a
	// loaded one.
	span := nodeChangesSpan(t)
	t.Logf("20 node changes without kills took %s", span)
	for round := 1; ; round++ {
		if killedNodeChanges(t, span) {
			return
		}
		if round == 20 {
			t.Fatal("in 20 rounds no process was killed while it held the node's lock: the takeover was never exercised")
		}
	}
}

// nodeChangesSpan is how long the 20 changes of a round take, from their
// release until the last ends, with no kill.
func nodeChangesSpan(t *testing.T) time.Duration {
	env, _, _ := nodeCluster(t)
	env.mustRun(t, "node", "add", "-g", "compute", "-n", "node001")
	argv, _ := nodeChangeArgs()
	var span time.Duration
	for i, r := range runSignaled(t, env, argv, nil, nil) {
		if r.Code != 0 {
			t.Fatalf("helper %d (luna %s) with no kill: exit %d, stderr %q", i, strings.Join(argv[i], " "), r.Code, r.Stderr)
		}
		span = max(span, r.Elapsed)
	}
	return span
}

// nodeChangeArgs are the command lines of the 20 processes of a round, and
// the interface and address each -i change sets.
func nodeChangeArgs() ([][]string, map[int][2]string) {
	const procs = 20
	argv := make([][]string, procs)
	ipOf := map[int][2]string{} // process -> interface, address
	for i := range argv {
		base := []string{"node", "change", "node001"}
		switch i % 10 {
		case 0:
			argv[i] = append(base, "--localboot", "y")
		case 1:
			argv[i] = append(base, "--service", "y")
		case 2:
			argv[i] = append(base, "--setupbmc", "n")
		case 3:
			argv[i] = append(base, "--port", "17")
		case 6:
			argv[i] = append(base, "--mac", nodeChangeMAC(i))
		case 4, 5:
			ipOf[i] = [2]string{"BOOTIF", fmt.Sprintf("10.30.5.%d", i+1)}
		default:
			ipOf[i] = [2]string{"BMC", fmt.Sprintf("10.31.5.%d", i+1)}
		}
		if ip, ok := ipOf[i]; ok {
			argv[i] = append(base, "-i", ip[0], ip[1])
		}
	}
	return argv, ipOf
}

// killedNodeChanges is one round, its kills at random moments within span;
// it says whether a killed process left the node's lock behind (and another
// took it over).
func killedNodeChanges(t *testing.T, span time.Duration) bool {
	env, _, st := nodeCluster(t)
	env.mustRun(t, "node", "add", "-g", "compute", "-n", "node001")
	argv, ipOf := nodeChangeArgs()
	procs := len(argv)
	signals := make([]testutil.Signal, procs)
	for _, i := range rand.Perm(procs)[:procs/2] {
		signals[i] = testutil.Signal{After: time.Duration(rand.Int64N(int64(span) + 1)), Sig: syscall.SIGKILL}
	}
	res := runSignaled(t, env, argv, nil, signals)
	ok := map[int]bool{}
	killed, tookOver := 0, 0
	for i, r := range res {
		switch {
		case r.Signaled:
			killed++
		case r.Code == 0 && r.Stdout == "" && r.Stderr == "":
			ok[i] = true
		case r.Code == 0 && r.Stdout == "" && r.Stderr == tookOverWarning:
			ok[i] = true
			tookOver++
		default:
			t.Errorf("helper %d (luna %s): exit %d, stdout %q, stderr %q", i, strings.Join(argv[i], " "), r.Code, r.Stdout, r.Stderr)
		}
	}
	t.Logf("%d killed, %d succeeded, %d after taking over the lock of a killed one", killed, len(ok), tookOver)

	// A new change waits at most one lease for a lock a killed process held.
	deadHolder := false
	for _, l := range st.Locks() {
		deadHolder = deadHolder || strings.HasPrefix(l, luna.Nodes+"/")
	}
	start := time.Now()
	code, stdout, stderr := env.run("node", "change", "node001", "--service", "y") // as helpers 1 and 11: no success undone
	if code != 0 || stdout != "" || (stderr != "" && stderr != tookOverWarning) {
		t.Fatalf("the change after the kills: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	deadHolder = deadHolder || stderr == tookOverWarning
	if d := time.Since(start); d > stored.Lease+2*time.Second {
		t.Errorf("a change after the kills took %s, want at most one lease (%s) and a little", d, stored.Lease)
	} else {
		t.Logf("the change after the kills took %s", d)
	}

	ips := checkNodeClaims(t, st)
	nd := st.Node("node001")
	for i := range argv {
		if !ok[i] {
			continue
		}
		switch i % 10 {
		case 0:
			if !nd.LocalBoot {
				t.Errorf("helper %d reported success, but localboot is not stored", i)
			}
		case 1:
			if !nd.Service {
				t.Errorf("helper %d reported success, but service is not stored", i)
			}
		case 2:
			if nd.SetupBMC {
				t.Errorf("helper %d reported success, but setupbmc n is not stored", i)
			}
		case 3:
			if nd.Port != "17" {
				t.Errorf("helper %d reported success, but port 17 is not stored (%q)", i, nd.Port)
			}
		}
	}
	// The node has exactly one MAC: that of a --mac change that succeeded or
	// was killed (its change may have completed), never none or two.
	macs := nd.MACs
	macOK := map[string]bool{}
	macSucceeded := false
	for i := range argv {
		if i%10 == 6 && (ok[i] || res[i].Signaled) {
			macOK[nodeChangeMAC(i)] = true
			macSucceeded = macSucceeded || ok[i]
		}
	}
	switch {
	case len(macs) == 0 && !macSucceeded:
		// no --mac change finished
	case len(macs) != 1:
		t.Errorf("node001 has %d MACs %v after the --mac changes, want one", len(macs), macs)
	case !macOK[macs[0]]:
		t.Errorf("node001's MAC %s is not that of a --mac change that succeeded or was killed (%v)", macs[0], macOK)
	}
	if n := st.MACDocs(slices.Collect(maps.Keys(macOK))); n != len(macs) {
		t.Errorf("%d MAC documents for the changed MACs, the node has %d: a claim is orphaned", n, len(macs))
	}
	// The final address of each interface is the one of a process that
	// succeeded or was killed (its change may have completed), and if one
	// succeeded, the address is not the one from before the changes.
	for _, ifc := range []struct{ name, net, before string }{{"BOOTIF", "cluster", "10.30.0.1"}, {"BMC", "ipmi", "10.31.0.1"}} {
		got := ips["node001"][ifc.net]
		allowed := map[string]bool{}
		succeeded := false
		for i, ip := range ipOf {
			if ip[0] == ifc.name && (ok[i] || res[i].Signaled) {
				allowed[ip[1]] = true
				succeeded = succeeded || ok[i]
			}
		}
		if !succeeded {
			allowed[ifc.before] = true
		}
		if !allowed[got] {
			t.Errorf("%s address %s is neither that of a change that succeeded or was killed nor the one before (%v)", ifc.name, got, allowed)
		}
	}
	for _, l := range st.Locks() {
		if !strings.Contains(l, "/takeover/") {
			t.Errorf("lock %s left behind", l)
		}
	}
	t.Logf("a killed process left the node's lock behind: %v", deadHolder)
	return deadHolder || tookOver > 0
}

// nodeChangeMAC is the MAC helper i of nodeChangeArgs sets.
func nodeChangeMAC(i int) string { return fmt.Sprintf("02:00:00:00:05:%02x", i) }

const tookOverWarning = "WARNING: 'node001' was locked by a command that stopped without finishing (killed?); its lock was taken over\n"

// TestInterruptedGroupChange: SIGTERM (as Ctrl-C) at random moments of a
// `group change --setnet` that claims an address for each of 300 nodes.
// The command either finishes (exit 0) or says in one line that it was
// interrupted (exit 255) after undoing what it wrote: either way every node
// has exactly the addresses its group calls for, and the group's lock is
// gone at once, not after a lease. Rounds go on until one was interrupted
// (at most 6).
func TestInterruptedGroupChange(t *testing.T) {
	env, _, st := nodeCluster(t)
	env.mustRun(t, "network", "add", "-n", "ib", "-N", "10.32.0.0", "-P", "16", "--ns_hostname", "master")
	env.mustRun(t, "group", "change", "compute", "-i", "ib1", "--add")
	env.mustRun(t, "node", "add", "-g", "compute", "-n", "n[001-300]")
	argv := [][]string{{"group", "change", "compute", "-i", "ib1", "--setnet", "ib"}}
	// The SIGTERMs fall within the first quarter of the time the change
	// takes on this machine, measured by a run with no signal (then undone):
	// the reads and claims come first, and once the change is written the
	// rest runs to its end whatever the signal.
	calib := runSignaled(t, env, argv, nil, nil)[0]
	if calib.Code != 0 {
		t.Fatalf("the change with no signal: exit %d, stderr %q", calib.Code, calib.Stderr)
	}
	env.mustRun(t, "group", "change", "compute", "-i", "ib1", "--delnet", "ib")
	span := calib.Elapsed
	t.Logf("the change with no signal took %s", span)
	interrupted := 0
	for round := 0; round < 6 && interrupted == 0; round++ {
		after := time.Duration(rand.Int64N(int64(span/4) + 1))
		r := runSignaled(t, env, argv, nil, []testutil.Signal{{After: after, Sig: syscall.SIGTERM}})[0]
		switch {
		case r.Code == 0 && r.Stderr == "":
			env.mustRun(t, "group", "change", "compute", "-i", "ib1", "--delnet", "ib")
			span = min(span, r.Elapsed) // the first run can be slow (cold caches)
		case r.Code == 255 && strings.HasPrefix(r.Stderr, "ERROR: Interrupted: ") && strings.Count(r.Stderr, "\n") == 1:
			interrupted++
		default:
			t.Fatalf("SIGTERM after %s: exit %d (signaled %v), stderr %q", after, r.Code, r.Signaled, r.Stderr)
		}
		t.Logf("SIGTERM after %s: exit %d %s", after, r.Code, strings.TrimSpace(r.Stderr))
		if locks := st.Locks(); len(locks) != 0 {
			t.Fatalf("locks left after the command ended: %v", locks)
		}
		ips := checkNodeClaims(t, st)
		for name, got := range ips {
			if got["ib"] != "" {
				t.Errorf("node %s has an ib address %s after the setnet was undone", name, got["ib"])
			}
		}
	}
	if interrupted == 0 {
		t.Fatal("in 6 rounds SIGTERM never came while the command ran: nothing was tested")
	}
}
