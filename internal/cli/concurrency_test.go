package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clustervision/luna-go/internal/luna"
	"github.com/clustervision/luna-go/internal/testutil"
	"github.com/clustervision/luna-go/internal/testutil/stored"
)

// TestHelperLuna is not a test: it is `luna` in the processes started by
// TestConcurrentReserve (arguments as JSON in LUNA_HELPER_ARGS), and returns
// at once in a normal run.
func TestHelperLuna(t *testing.T) {
	spec := os.Getenv("LUNA_HELPER_ARGS")
	if spec == "" {
		return
	}
	var args []string
	if err := json.Unmarshal([]byte(spec), &args); err != nil {
		t.Fatal(err)
	}
	// As cmd/luna: SIGINT and SIGTERM cancel the command, from the start
	// of the process on.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	testutil.HelperStart(t)
	if d, err := time.ParseDuration(os.Getenv("LUNA_HELPER_DELAY")); err == nil {
		time.Sleep(d) // to move this side of a race (TestConcurrentDelete*)
	}
	code := Main(ctx, args, StdIO())
	stop()
	os.Exit(code)
}

// TestConcurrentReserve: 20 administrators reserve the same address at the
// same moment through the real CLI, each in its own process. Exactly one
// succeeds; the others are told the address is already used.
func TestConcurrentReserve(t *testing.T) {
	env, dir := newLunaEnv(t)
	env.mustRun(t, "cluster", "init", "--frontend_address", "10.40.0.254", "--user", "root", "--path", dir)
	env.mustRun(t, "network", "add", "-n", "net40", "-N", "10.40.0.0", "-P", "24", "--ns_hostname", "master")

	const procs = 20
	argv := make([][]string, procs)
	for i := range argv {
		argv[i] = []string{"network", "change", "net40", "--reserve", "10.40.0.200"}
	}
	codes := map[int]int{}
	for i, r := range runConcurrently(t, env, dir, argv) {
		codes[r.code]++
		switch r.code {
		case 0:
			if r.stderr != "" {
				t.Errorf("helper %d succeeded with stderr %q", i, r.stderr)
			}
		case 1:
			if !strings.Contains(r.stderr, "already used") {
				t.Errorf("helper %d: stderr %q, want one ERROR line saying the address is already used", i, r.stderr)
			}
		default:
			t.Errorf("helper %d: exit %d, stderr %q", i, r.code, r.stderr)
		}
	}
	if codes[0] != 1 || codes[1] != procs-1 {
		t.Errorf("exit codes %v, want one 0 and %d times 1", codes, procs-1)
	}

	st, _ := openDump(t, env)
	if addrs := st.Claims(st.ID(luna.Networks, "net40"), "10.40.0.200"); len(addrs) != 1 || addrs[0].Kind != stored.KindReserved {
		t.Errorf("claims of 10.40.0.200: %+v, want one reservation", addrs)
	}
	if c := st.CountClaims(); c != 2 {
		t.Errorf("%d claims in the store, want 2 (the reservation and the name server)", c)
	}
}

// procResult is how one `luna` process ended.
type procResult struct {
	code   int
	stderr string
}

// runConcurrently runs `luna` once per argument list, each in its own
// process (this test binary, as TestHelperLuna), all released at the same
// moment once every one has started. Each must print nothing on stdout and,
// when it fails, exactly one ERROR line on stderr.
func runConcurrently(t *testing.T, env lunaEnv, dir string, argv [][]string) []procResult {
	t.Helper()
	envs := make([][]string, len(argv))
	for i := range argv {
		args, _ := json.Marshal(argv[i])
		envs[i] = []string{"LUNA_HELPER_ARGS=" + string(args)}
		for k, v := range env {
			envs[i] = append(envs[i], k+"="+v)
		}
		envs[i] = append(envs[i], "LUNA_CONNECT_TIMEOUT=30s")
	}
	res := make([]procResult, len(argv))
	for i, r := range testutil.RunHelpers(t, "TestHelperLuna", envs) {
		res[i] = procResult{code: r.Code, stderr: r.Stderr}
		if r.Stdout != "" {
			t.Errorf("helper %d (luna %s) wrote to stdout: %q", i, strings.Join(argv[i], " "), r.Stdout)
		}
		if r.Code != 0 && (!strings.HasPrefix(r.Stderr, "ERROR: ") || strings.Count(r.Stderr, "\n") != 1) {
			t.Errorf("helper %d (luna %s): exit %d, stderr %q is not one ERROR line", i, strings.Join(argv[i], " "), r.Code, r.Stderr)
		}
	}
	return res
}

// nodeCluster is a cluster for the concurrent node tests: group compute with
// BOOTIF in 10.30.0.0/16, BMC in 10.31.0.0/16 and ib0 in fd00:30::/64.
func nodeCluster(t *testing.T) (lunaEnv, string, *stored.DB) {
	t.Helper()
	env, dir := newLunaEnv(t)
	env.mustRun(t, "cluster", "init", "--frontend_address", "10.30.255.254", "--user", "root", "--path", dir)
	env.mustRun(t, "osimage", "add", "-n", "compute", "-p", osimageDir(t, dir))
	env.mustRun(t, "network", "add", "-n", "cluster", "-N", "10.30.0.0", "-P", "16", "--ns_hostname", "master")
	env.mustRun(t, "network", "add", "-n", "ipmi", "-N", "10.31.0.0", "-P", "16", "--ns_hostname", "master")
	env.mustRun(t, "network", "add", "-n", "v6", "-N", "fd00:30::", "-P", "64", "--ns_hostname", "master")
	env.mustRun(t, "group", "add", "-n", "compute", "-o", "compute", "-N", "cluster", "-bn", "ipmi")
	env.mustRun(t, "group", "change", "compute", "-i", "ib0", "--add")
	env.mustRun(t, "group", "change", "compute", "-i", "ib0", "--setnet", "v6")
	st, _ := openDump(t, env)
	return env, dir, st
}

// checkNodeClaims proves the invariants of nodes and their addresses
// (stored.DB.CheckNodeClaims) and returns each node's addresses by network
// name.
func checkNodeClaims(t *testing.T, st *stored.DB) map[string]map[string]string {
	t.Helper()
	return st.CheckNodeClaims(t)
}

// TestConcurrentNodeAdd: 20 administrators run `luna node add -g compute`
// (auto-named) at the same moment, each in its own process. All succeed
// with 20 consecutive names and, on each network, 20 distinct addresses:
// the lowest 20, as allocation takes the lowest free one and moves on when
// another process claimed it first.
func TestConcurrentNodeAdd(t *testing.T) {
	env, dir, st := nodeCluster(t)
	const procs = 20
	argv := make([][]string, procs)
	for i := range argv {
		argv[i] = []string{"node", "add", "-g", "compute"}
	}
	for i, r := range runConcurrently(t, env, dir, argv) {
		if r.code != 0 || r.stderr != "" {
			t.Errorf("helper %d: exit %d, stderr %q", i, r.code, r.stderr)
		}
	}
	ips := checkNodeClaims(t, st)
	if len(ips) != procs {
		t.Errorf("%d nodes, want %d", len(ips), procs)
	}
	wantIPs := map[string]map[string]bool{"cluster": {}, "ipmi": {}, "v6": {}}
	for k := 1; k <= procs; k++ {
		wantIPs["cluster"][nthAddr(t, "10.30.0.0", k)] = true
		wantIPs["ipmi"][nthAddr(t, "10.31.0.0", k)] = true
		wantIPs["v6"][nthAddr(t, "fd00:30::", k)] = true
	}
	for k := 1; k <= procs; k++ {
		name := fmt.Sprintf("node%03d", k)
		got, ok := ips[name]
		if !ok {
			t.Errorf("no node %s", name)
			continue
		}
		for net, ip := range got {
			if !wantIPs[net][ip] {
				t.Errorf("node %s: %s address %s is not one of the lowest %d or is given twice", name, net, ip, procs)
			}
			delete(wantIPs[net], ip)
		}
	}
}

// TestConcurrentNodeAddOverlapping: 20 processes add overlapping hostlists
// at the same moment, process i nodes n(i+1)..n(i+5). Each either creates
// all of its nodes with their addresses or fails with `already created`
// and leaves nothing behind: the nodes that exist are exactly those of the
// processes that succeeded.
func TestConcurrentNodeAddOverlapping(t *testing.T) {
	env, dir, st := nodeCluster(t)
	const procs = 20
	argv := make([][]string, procs)
	for i := range argv {
		argv[i] = []string{"node", "add", "-g", "compute", "-n", fmt.Sprintf("n[%d-%d]", i+1, i+5)}
	}
	res := runConcurrently(t, env, dir, argv)
	want := map[string]bool{}
	won := 0
	for i, r := range res {
		switch {
		case r.code == 0 && r.stderr == "":
			won++
			for k := i + 1; k <= i+5; k++ {
				name := fmt.Sprintf("n%d", k)
				if want[name] {
					t.Errorf("helper %d created %s, which another helper created too", i, name)
				}
				want[name] = true
			}
		case r.code == 255 && strings.Contains(r.stderr, "is already created"):
		default:
			t.Errorf("helper %d: exit %d, stderr %q", i, r.code, r.stderr)
		}
	}
	t.Logf("%d of %d helpers succeeded", won, procs)
	ips := checkNodeClaims(t, st)
	for name := range ips {
		if !want[name] {
			t.Errorf("node %s exists but every helper adding it failed", name)
		}
	}
	for name := range want {
		if _, ok := ips[name]; !ok {
			t.Errorf("node %s is missing", name)
		}
	}
}

// TestConcurrentNodeAddBatches: 20 processes each add 5 nodes of their own
// at the same moment. Their batches of claims collide; every process must
// still succeed, and together the 100 nodes must hold exactly the lowest
// 100 addresses of each network, each once.
func TestConcurrentNodeAddBatches(t *testing.T) {
	env, dir, st := nodeCluster(t)
	const procs, per = 20, 5
	argv := make([][]string, procs)
	for i := range argv {
		argv[i] = []string{"node", "add", "-g", "compute", "-n", fmt.Sprintf("r%02dn[1-%d]", i, per)}
	}
	for i, r := range runConcurrently(t, env, dir, argv) {
		if r.code != 0 || r.stderr != "" {
			t.Errorf("helper %d: exit %d, stderr %q", i, r.code, r.stderr)
		}
	}
	ips := checkNodeClaims(t, st)
	if len(ips) != procs*per {
		t.Errorf("%d nodes, want %d", len(ips), procs*per)
	}
	for net, base := range map[string]string{"cluster": "10.30.0.0", "ipmi": "10.31.0.0", "v6": "fd00:30::"} {
		want := map[string]bool{}
		for k := 1; k <= procs*per; k++ {
			want[nthAddr(t, base, k)] = true
		}
		for name, got := range ips {
			if !want[got[net]] {
				t.Errorf("node %s: %s address %q is not one of the lowest %d or is given twice", name, net, got[net], procs*per)
			}
			delete(want, got[net])
		}
	}
}

// TestConcurrentGroupChangesAndNodes: while one administrator changes the
// networks of a group's interfaces (setnet on compute, delnet on gpu,
// interface delete on hpc), others add nodes to those groups, delete nodes
// and move nodes, all at the same moment in their own processes. Afterwards
// every node has exactly the addresses its group calls for and no claim is
// left without its node.
func TestConcurrentGroupChangesAndNodes(t *testing.T) {
	env, dir, st := nodeCluster(t)
	env.mustRun(t, "network", "add", "-n", "ib", "-N", "10.32.0.0", "-P", "16", "--ns_hostname", "master")
	env.mustRun(t, "group", "change", "compute", "-i", "ib1", "--add")
	env.mustRun(t, "node", "add", "-g", "compute", "-n", "base[01-30]")
	env.mustRun(t, "group", "add", "-n", "gpu", "-o", "compute", "-N", "cluster")
	env.mustRun(t, "node", "add", "-g", "gpu", "-n", "gpu[1-10]")
	env.mustRun(t, "group", "add", "-n", "hpc", "-o", "compute", "-N", "cluster")
	env.mustRun(t, "group", "change", "hpc", "-i", "ib0", "--add")
	env.mustRun(t, "group", "change", "hpc", "-i", "ib0", "--setnet", "ib")
	env.mustRun(t, "node", "add", "-g", "hpc", "-n", "hpc[1-10]")
	checkNodeClaims(t, st)

	argv := [][]string{
		{"group", "change", "compute", "-i", "ib1", "--setnet", "ib"},
		{"group", "change", "gpu", "-i", "BOOTIF", "--delnet"},
		{"group", "change", "hpc", "-i", "ib0", "--delete"},
	}
	for i := 0; i < 5; i++ {
		argv = append(argv, []string{"node", "add", "-g", "compute"})
	}
	for i := 0; i < 3; i++ {
		argv = append(argv, []string{"node", "add", "-g", "gpu", "-n", fmt.Sprintf("gpu%d", 11+i)})
		argv = append(argv, []string{"node", "add", "-g", "hpc", "-n", fmt.Sprintf("hpc%d", 11+i)})
	}
	for i := 0; i < 3; i++ {
		argv = append(argv, []string{"node", "delete", fmt.Sprintf("base%02d", 30-i)})
	}
	argv = append(argv, []string{"node", "change", "gpu1", "-g", "compute"}, []string{"node", "change", "hpc1", "-g", "compute"})
	for i, r := range runConcurrently(t, env, dir, argv) {
		if r.code != 0 || r.stderr != "" {
			t.Errorf("helper %d (luna %s): exit %d, stderr %q", i, strings.Join(argv[i], " "), r.code, r.stderr)
		}
	}
	ips := checkNodeClaims(t, st)
	if len(ips) != 50-3+5+6 {
		t.Errorf("%d nodes, want %d", len(ips), 50-3+5+6)
	}
	for name, got := range ips {
		switch {
		case strings.HasPrefix(name, "gpu") && name != "gpu1":
			if len(got) != 0 {
				t.Errorf("node %s of gpu (no networks left) has addresses %v", name, got)
			}
		case strings.HasPrefix(name, "hpc") && name != "hpc1":
			if len(got) != 1 || got["cluster"] == "" {
				t.Errorf("node %s of hpc (BOOTIF only) has addresses %v", name, got)
			}
		default:
			if len(got) != 4 || got["ib"] == "" {
				t.Errorf("node %s of compute has addresses %v, want 4 with ib", name, got)
			}
		}
	}
}

// TestConcurrentChangesOfOneObject: 12 administrators change one group and
// one node at the same moment, each a different field or interface. On
// FerretDB an update rewrites the whole document and is not atomic, so
// without the object lock some of these changes were silently lost. Every
// change is kept.
func TestConcurrentChangesOfOneObject(t *testing.T) {
	env, dir, st := nodeCluster(t)
	env.mustRun(t, "node", "add", "-g", "compute", "-n", "node001")
	var argv [][]string
	for i := 0; i < 6; i++ {
		argv = append(argv, []string{"group", "change", "compute", "-i", fmt.Sprintf("eth%d", i), "--add"})
	}
	argv = append(argv,
		[]string{"group", "change", "compute", "--torrent_if", "BOOTIF"},
		[]string{"group", "change", "compute", "--domain", "cluster"},
		[]string{"node", "change", "node001", "--localboot", "y"},
		[]string{"node", "change", "node001", "--service", "y"},
		[]string{"node", "change", "node001", "--setupbmc", "n"},
		[]string{"node", "change", "node001", "--port", "17"},
	)
	for i, r := range runConcurrently(t, env, dir, argv) {
		if r.code != 0 || r.stderr != "" {
			t.Errorf("helper %d (%v): exit %d, stderr %q", i, argv[i], r.code, r.stderr)
		}
	}
	g := st.Group("compute")
	for i := 0; i < 6; i++ {
		if !slices.Contains(g.Interfaces, fmt.Sprintf("eth%d", i)) {
			t.Errorf("interface eth%d was lost", i)
		}
	}
	if g.TorrentIf != "BOOTIF" || !g.HasDomain {
		t.Errorf("group settings lost: torrent_if %q, domain set %v", g.TorrentIf, g.HasDomain)
	}
	if nd := st.Node("node001"); !nd.LocalBoot || !nd.Service || nd.SetupBMC || nd.Port != "17" {
		t.Errorf("node changes lost: %+v", nd)
	}
	if locks := st.Locks(); len(locks) != 0 {
		t.Errorf("locks left behind: %v", locks)
	}
}

// raceDelay moves the two sides of a delete race against each other so that
// across rounds each side wins some: d > 0 starts the users d later, d < 0
// the delete -d later. It starts at 0 and, after each round, moves by step
// against the side that won (a staircase around the moment where the two
// meet, where they interleave most).
type raceDelay struct {
	d, step time.Duration
}

func (r *raceDelay) users() []string { return []string{"LUNA_HELPER_DELAY=" + max(0, r.d).String()} }

func (r *raceDelay) deletes() []string { return []string{"LUNA_HELPER_DELAY=" + max(0, -r.d).String()} }

func (r *raceDelay) next(deleteWon bool) {
	if deleteWon {
		r.d -= r.step
	} else {
		r.d += r.step
	}
}

// raceRounds bounds the rounds of a delete race test; it needs each side to
// have won at least once, and at least minRaceRounds rounds.
const raceRounds, minRaceRounds = 16, 6

// exitIn checks one racing command's exit code and message.
func exitIn(t *testing.T, round int, what string, r testutil.HelperResult, allowed map[int][]string) {
	t.Helper()
	frags, ok := allowed[r.Code]
	if !ok {
		t.Errorf("round %d: %s: exit %d, stderr %q", round, what, r.Code, r.Stderr)
		return
	}
	if r.Code == 0 {
		if r.Stderr != "" {
			t.Errorf("round %d: %s succeeded with stderr %q", round, what, r.Stderr)
		}
		return
	}
	for _, f := range frags {
		if strings.Contains(r.Stderr, f) {
			return
		}
	}
	t.Errorf("round %d: %s: exit %d, stderr %q, want one of %q", round, what, r.Code, r.Stderr, frags)
}

// TestConcurrentDeleteAndUse: `network delete` (twice) runs while other
// administrators add a group and a switch on that network. Either the
// network stays (a delete that says it is in use, and what was added refers
// to it) or the delete succeeds and nothing refers to it: no group, switch
// or address is left pointing at a deleted network. Every command's exit
// code is checked against what happened, and the test fails unless the
// delete won some rounds and lost others.
func TestConcurrentDeleteAndUse(t *testing.T) {
	delay := raceDelay{step: 15 * time.Millisecond}
	won := map[bool]int{}
	for round := 0; round < raceRounds && (round < minRaceRounds || won[true] == 0 || won[false] == 0); round++ {
		env, _, st := nodeCluster(t)
		env.mustRun(t, "network", "add", "-n", "spare", "-N", "10.70.0.0", "-P", "16")
		spare := st.ID(luna.Networks, "spare")
		// Two deletes, one group and one switch, so that either side can win.
		argv := [][]string{{"network", "delete", "spare"}, {"network", "delete", "spare"},
			{"group", "add", "-n", "g0", "-o", "compute", "-N", "spare"},
			{"switch", "add", "-n", "sw0", "-N", "spare", "-i", "10.70.1.1"}}
		res := runSignaled(t, env, argv, [][]string{delay.deletes(), delay.deletes(), delay.users(), delay.users()}, nil)
		deleted := !st.HasID(luna.Networks, spare)
		deletes := 0
		for _, r := range res[:2] {
			exitIn(t, round, "network delete", r, map[int][]string{0: nil, 1: {"is a dependency for the objects"}, 255: {"does not exist"}})
			if r.Code == 0 {
				deletes++
			}
		}
		exitIn(t, round, "group add -N spare", res[2], map[int][]string{0: nil, 1: {"was deleted at the same time"}, 255: {"does not exist"}})
		exitIn(t, round, "switch add -N spare", res[3], map[int][]string{0: nil, 255: {"does not exist", "was deleted at the same time"}})
		if deleted != (deletes == 1) || deletes > 1 {
			t.Errorf("round %d: network deleted %v, but %d deletes succeeded", round, deleted, deletes)
		}
		gStored := st.ID(luna.Groups, "g0") != ""
		swStored := st.ID(luna.Switches, "sw0") != ""
		if gStored != (res[2].Code == 0) || swStored != (res[3].Code == 0) {
			t.Errorf("round %d: group stored %v after exit %d, switch stored %v after exit %d", round, gStored, res[2].Code, swStored, res[3].Code)
		}
		if deleted && (gStored || swStored) {
			t.Errorf("round %d: the network was deleted, but the group (%v) or the switch (%v) that use it are stored", round, gStored, swStored)
		}
		if n := st.ClaimsOfDeleted(spare); deleted && n != 0 {
			t.Errorf("round %d: %d addresses left in the deleted network", round, n)
		}
		t.Logf("round %d: users %s later: network deleted %v, group add %d, switch add %d", round, delay.d, deleted, res[2].Code, res[3].Code)
		won[deleted]++
		delay.next(deleted)
	}
	if won[true] == 0 || won[false] == 0 {
		t.Fatalf("the delete won %d rounds and lost %d: one side of the race was never exercised", won[true], won[false])
	}
}

// TestConcurrentDeleteAndChange: `switch delete` while a node is changed to
// use that switch, and `osimage delete` while a group is changed to use that
// osimage. Either the object stays or nothing refers to it; every command's
// exit code agrees with what is stored, and the test fails unless each
// delete won some rounds and lost others.
func TestConcurrentDeleteAndChange(t *testing.T) {
	swDelay, imgDelay := raceDelay{step: 15 * time.Millisecond}, raceDelay{step: 15 * time.Millisecond}
	won := map[string]map[bool]int{"switch": {}, "osimage": {}}
	exercised := func() bool {
		return won["switch"][true] > 0 && won["switch"][false] > 0 && won["osimage"][true] > 0 && won["osimage"][false] > 0
	}
	for round := 0; round < raceRounds && (round < minRaceRounds || !exercised()); round++ {
		env, dir, st := nodeCluster(t)
		env.mustRun(t, "node", "add", "-g", "compute", "-n", "node001")
		env.mustRun(t, "switch", "add", "-n", "sw9", "-N", "ipmi", "-i", "10.31.9.9")
		env.mustRun(t, "osimage", "clone", "compute", "--to", "spare", "-p", filepath.Join(dir, fmt.Sprintf("spare%d", round)))
		sw, img := st.ID(luna.Switches, "sw9"), st.ID(luna.OSImages, "spare")
		if sw == "" || img == "" {
			t.Fatalf("switch sw9 (%q) or osimage spare (%q) not stored", sw, img)
		}
		res := runSignaled(t, env, [][]string{
			{"switch", "delete", "sw9"}, {"node", "change", "node001", "--switch", "sw9"},
			{"osimage", "delete", "spare"}, {"group", "change", "compute", "-o", "spare"},
		}, [][]string{swDelay.deletes(), swDelay.users(), imgDelay.deletes(), imgDelay.users()}, nil)
		inUse := map[int][]string{0: nil, 1: {"is a dependency for the objects"}}
		user := map[int][]string{0: nil, 1: {"was deleted at the same time"}, 255: {"does not exist"}}
		exitIn(t, round, "switch delete", res[0], inUse)
		exitIn(t, round, "node change --switch", res[1], user)
		exitIn(t, round, "osimage delete", res[2], inUse)
		exitIn(t, round, "group change -o", res[3], user)
		nd, g := st.Node("node001"), st.Group("compute")
		swGone := !st.HasID(luna.Switches, sw)
		imgGone := !st.HasID(luna.OSImages, img)
		usesSw := nd.Switch == sw
		usesImg := g.OSImage == img
		switch {
		case swGone != (res[0].Code == 0):
			t.Errorf("round %d: switch deleted %v after switch delete exit %d", round, swGone, res[0].Code)
		case usesSw != (res[1].Code == 0):
			t.Errorf("round %d: node001 uses the switch %v after node change exit %d", round, usesSw, res[1].Code)
		case swGone && usesSw:
			t.Errorf("round %d: node001 refers to the deleted switch", round)
		}
		switch {
		case imgGone != (res[2].Code == 0):
			t.Errorf("round %d: osimage deleted %v after osimage delete exit %d", round, imgGone, res[2].Code)
		case usesImg != (res[3].Code == 0):
			t.Errorf("round %d: group compute uses the osimage %v after group change exit %d", round, usesImg, res[3].Code)
		case imgGone && usesImg:
			t.Errorf("round %d: group compute refers to the deleted osimage", round)
		}
		t.Logf("round %d: node change %s later: switch deleted %v; group change %s later: osimage deleted %v", round, swDelay.d, swGone, imgDelay.d, imgGone)
		won["switch"][swGone]++
		won["osimage"][imgGone]++
		swDelay.next(swGone)
		imgDelay.next(imgGone)
	}
	if !exercised() {
		t.Fatalf("deletes won/lost: switch %d/%d, osimage %d/%d: a side of the race was never exercised",
			won["switch"][true], won["switch"][false], won["osimage"][true], won["osimage"][false])
	}
}
