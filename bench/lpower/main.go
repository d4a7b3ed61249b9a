// Command lpower is the power control benchmark: `lpower -g compute status`
// over 1,000 simulated BMCs on loopback, end to end (process start,
// database query, one IPMI v2.0 session per BMC), against the same query
// made with ipmitool one BMC after another, in the same run.
//
//	make build && go run ./bench/lpower
//
// lunadb runs as a separate process on a free port in a temporary
// directory; the cluster is set up with bin/luna as an administrator would
// (bmcsetup, a group with a BMC interface on network 127.20.0.0/16, nodes
// node0001...), so each node's BMC address is 127.20.x.y. This process
// then starts one go-ipmi reference BMC (internal/power/bmcsim) on each of
// those addresses, UDP port 623, and powers every third chassis on, so
// that the output can be checked line by line.
//
// lpower (bin/lpower, a child process) is timed -rounds times from start
// to exit; its output must be exactly one correct line per node. The
// baseline is ipmitool 1.8 (`ipmitool -I lanplus -C 3 -H IP -U admin -E
// chassis power status`, the command Luna 1.2 ran, with the password in
// the environment) run one after another for -sample nodes spread over the
// cluster, each answer checked; its total is extrapolated to all nodes
// (the queries are independent and alike, so the time per query is the
// same for every node). Both use cipher suite 3. The simulators share this
// machine's CPUs with the program measured, for lpower and ipmitool alike.
// Nothing is written anywhere but a temporary directory; docs/BENCHMARKS.md
// is written by hand from a run.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/clustervision/luna-go/bench/internal/lunadbproc"
	"github.com/clustervision/luna-go/internal/power/bmcsim"
)

type config struct {
	nodes, sample, rounds int
	port, parallel        int
	bin                   string
	keep                  bool
}

const (
	bmcUser     = "admin"
	bmcPassword = "Bench-pw1"
	bmcNet      = "127.20.0.0"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string) int {
	var o config
	fs := flag.NewFlagSet("lpower", flag.ContinueOnError)
	fs.IntVar(&o.nodes, "n", 1000, "nodes, each with its own simulated BMC")
	fs.IntVar(&o.sample, "sample", 50, "nodes queried with ipmitool one after another (extrapolated to -n)")
	fs.IntVar(&o.rounds, "rounds", 3, "timed runs of lpower (the median is reported)")
	fs.IntVar(&o.port, "port", 623, "UDP port of the simulated BMCs")
	fs.IntVar(&o.parallel, "parallel", 0, "lpower --parallel (0: lpower's default)")
	fs.StringVar(&o.bin, "bin", "bin", "directory holding the built luna, lunadb and lpower")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.nodes < 1 || o.nodes > 60000 || o.sample < 1 || o.sample > o.nodes || o.rounds < 1 || o.port < 1 || o.port > 65535 || o.parallel < 0 {
		fmt.Fprintln(os.Stderr, "lpower bench: -n 1..60000, -sample 1..n, -rounds >= 1, -port 1..65535")
		return 2
	}
	if err := bench(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "lpower bench:", err)
		return 1
	}
	return 0
}

type harness struct {
	o    config
	tmp  string
	bin  map[string]string
	env  []string
	sims []*bmcsim.GoBMC
	want []string // the expected line of each node
	ips  []string
}

func bench(ctx context.Context, o config) (err error) {
	h := &harness{o: o, bin: map[string]string{}}
	for _, b := range []string{"luna", "lunadb", "lpower"} {
		p, err := filepath.Abs(filepath.Join(o.bin, b))
		if err != nil {
			return err
		}
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s: %w (run `make build` first)", p, err)
		}
		h.bin[b] = p
	}
	ipmitool, err := exec.LookPath("ipmitool")
	if err != nil {
		return fmt.Errorf("ipmitool not found: install Debian's ipmitool package (make deps)")
	}
	if h.tmp, err = os.MkdirTemp("", "luna-lpower-bench-"); err != nil {
		return err
	}
	defer func() {
		if o.keep {
			fmt.Printf("kept %s\n", h.tmp)
			return
		}
		_ = os.RemoveAll(h.tmp)
	}()
	db, uri, err := lunadbproc.Start(ctx, filepath.Dir(h.bin["lunadb"]), h.tmp)
	if err != nil {
		return err
	}
	defer lunadbproc.Stop(db)
	conf := filepath.Join(h.tmp, "luna.conf")
	if err := os.WriteFile(conf, nil, 0o644); err != nil {
		return err
	}
	h.env = append(os.Environ(), "LUNA_MONGO_URI="+uri, "LUNA_DB=luna", "LUNA_CONF="+conf)

	start := time.Now()
	if err := h.setup(ctx); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "cluster of %d nodes stored in %s\n", o.nodes, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	if h.sims, _, err = bmcsim.StartGoBMCs(h.ips, o.port, bmcUser, bmcPassword); err != nil {
		return fmt.Errorf("start the simulated BMCs: %w", err)
	}
	defer func() {
		for _, s := range h.sims {
			s.Close()
		}
	}()
	for i, s := range h.sims {
		word := "off"
		if i%3 == 0 {
			s.SetOn(true)
			word = "on"
		}
		h.want = append(h.want, fmt.Sprintf("node%04d: %s", i+1, word))
	}
	fmt.Fprintf(os.Stderr, "%d simulated BMCs listening on %s.x.y:%d (%s)\n", o.nodes, strings.TrimSuffix(bmcNet, ".0.0"), o.port, time.Since(start).Round(time.Millisecond))

	load := loadavg()
	var lp, fixed []run1
	for r := range o.rounds {
		res, err := h.lpower(ctx, false)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "lpower round %d: %s wall, %s CPU (lpower), %s CPU (simulators)\n", r+1, res.wall.Round(time.Millisecond), res.cpu.Round(time.Millisecond), res.simCPU.Round(time.Millisecond))
		lp = append(lp, res)
		if res, err = h.lpower(ctx, true); err != nil {
			return err
		}
		fixed = append(fixed, res)
	}
	it, err := h.ipmitool(ctx, ipmitool)
	if err != nil {
		return err
	}
	h.report(lp, fixed, it, load)
	return nil
}

// loadavg is the machine's 1-minute load average, as text.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

func (h *harness) luna(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, h.bin["luna"], args...)
	cmd.Env = h.env
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("luna %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return nil
}

// setup stores the cluster and computes every node's BMC address (the
// lowest free addresses of the BMC network, in node order).
func (h *harness) setup(ctx context.Context) error {
	img := filepath.Join(h.tmp, "img")
	for _, d := range []string{filepath.Join(img, "lib/modules/6.1.0-bench"), filepath.Join(img, "boot")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(img, "boot/vmlinuz-6.1.0-bench"), []byte("k"), 0o644); err != nil {
		return err
	}
	for _, s := range [][]string{
		{"cluster", "init", "--frontend_address", "10.30.255.254", "--user", "root", "--path", h.tmp},
		{"network", "add", "-n", "cluster", "-N", "10.30.0.0", "-P", "16", "--ns_hostname", "master"},
		{"network", "add", "-n", "ipmi", "-N", bmcNet, "-P", "16", "--ns_hostname", "master"},
		{"osimage", "add", "-n", "compute", "-p", img},
		{"bmcsetup", "add", "-n", "base", "-u", bmcUser, "-p", bmcPassword},
		{"group", "add", "-n", "compute", "-o", "compute", "-N", "cluster", "-b", "base", "-bn", "ipmi"},
		{"node", "add", "-g", "compute", "-n", fmt.Sprintf("node[0001-%04d]", h.o.nodes)},
	} {
		if err := h.luna(ctx, s...); err != nil {
			return err
		}
	}
	base := net.ParseIP(bmcNet).To4()
	for i := 1; i <= h.o.nodes; i++ {
		ip := slices.Clone(base)
		ip[2], ip[3] = byte(i>>8), byte(i)
		h.ips = append(h.ips, ip.String())
	}
	return nil
}

type run1 struct {
	wall, cpu, simCPU time.Duration
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func childCPU(ps *os.ProcessState) time.Duration { return ps.UserTime() + ps.SystemTime() }

// lpower runs `lpower -g compute status` (or `lpower node0001 status` when
// one is set) once and checks every line.
func (h *harness) lpower(ctx context.Context, one bool) (run1, error) {
	args := []string{"-g", "compute", "status"}
	want := h.want
	if one {
		args, want = []string{"node0001", "status"}, h.want[:1]
	}
	if h.o.port != 623 {
		args = append([]string{"--port", strconv.Itoa(h.o.port)}, args...)
	}
	if h.o.parallel > 0 {
		args = append([]string{"--parallel", strconv.Itoa(h.o.parallel)}, args...)
	}
	cmd := exec.CommandContext(ctx, h.bin["lpower"], args...)
	cmd.Env = h.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cpu0 := selfCPU()
	start := time.Now()
	err := cmd.Run()
	r := run1{wall: time.Since(start), simCPU: selfCPU() - cpu0}
	if err != nil {
		return r, fmt.Errorf("lpower %s: %v: %s%s", strings.Join(args, " "), err, firstLines(out.String()), strings.TrimSpace(errb.String()))
	}
	r.cpu = childCPU(cmd.ProcessState)
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if !slices.Equal(got, want) {
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				return r, fmt.Errorf("lpower line %d: %q, want %q (%d lines, want %d)", i+1, got[i], want[i], len(got), len(want))
			}
		}
		return r, fmt.Errorf("lpower printed %d lines, want %d", len(got), len(want))
	}
	return r, nil
}

func firstLines(s string) string {
	l := strings.SplitN(s, "\n", 4)
	return strings.Join(l[:min(len(l), 3)], "\n")
}

type ipmitoolResult struct {
	n           int
	wall, cpu   time.Duration
	perQuery    time.Duration
	extrapolate time.Duration
}

// ipmitool queries -sample nodes spread over the cluster, one after another.
func (h *harness) ipmitool(ctx context.Context, bin string) (ipmitoolResult, error) {
	var r ipmitoolResult
	step := h.o.nodes / h.o.sample
	start := time.Now()
	for k := range h.o.sample {
		i := k * step
		args := []string{"-I", "lanplus", "-C", "3", "-H", h.ips[i], "-p", strconv.Itoa(h.o.port), "-U", bmcUser, "-E", "chassis", "power", "status"}
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = []string{"IPMI_PASSWORD=" + bmcPassword}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			return r, fmt.Errorf("ipmitool %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
		}
		r.cpu += childCPU(cmd.ProcessState)
		word := strings.TrimPrefix(strings.TrimSpace(out.String()), "Chassis Power is ")
		if want := h.want[i][strings.LastIndex(h.want[i], " ")+1:]; word != want {
			return r, fmt.Errorf("ipmitool on node%04d: %q, want %q", i+1, out.String(), want)
		}
		r.n++
	}
	r.wall = time.Since(start)
	r.perQuery = r.wall / time.Duration(r.n)
	r.extrapolate = r.perQuery * time.Duration(h.o.nodes)
	return r, nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func (h *harness) report(lp, fixed []run1, it ipmitoolResult, load string) {
	var walls, cpus, sims, fixedWalls []time.Duration
	for _, r := range lp {
		walls, cpus, sims = append(walls, r.wall), append(cpus, r.cpu), append(sims, r.simCPU)
	}
	for _, r := range fixed {
		fixedWalls = append(fixedWalls, r.wall)
	}
	wall := median(walls)
	commit := "unknown"
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		commit = strings.TrimSpace(string(out))
	}
	parallel := "64 (default)"
	if h.o.parallel > 0 {
		parallel = strconv.Itoa(h.o.parallel)
	}
	fmt.Printf("\nlpower benchmark, %s, commit %s, %d CPUs, load average %s at the start\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), commit, runtime.NumCPU(), load)
	fmt.Printf("`lpower -g compute status` over %d simulated BMCs (go-ipmi reference BMC, 127.20.x.y:%d), --parallel %s, cipher suite 3\n\n", h.o.nodes, h.o.port, parallel)
	fmt.Printf("| | time for %d BMCs | per BMC | CPU |\n|---|---|---|---|\n", h.o.nodes)
	fmt.Printf("| lpower, end to end (median of %d: %s) | %s | %s | %s lpower, %s simulators |\n", len(lp), durs(walls), sec(wall),
		ms(wall/time.Duration(h.o.nodes)), sec(median(cpus)), sec(median(sims)))
	fmt.Printf("| lpower on one node, end to end (median of %d): the fixed cost | %s | | |\n", len(fixed), sec(median(fixedWalls)))
	fmt.Printf("| ipmitool one after another (%d measured in %s, extrapolated) | %s | %s | %s for %d |\n", it.n, sec(it.wall), sec(it.extrapolate),
		ms(it.perQuery), sec(it.cpu), it.n)
	fmt.Printf("\nratio: lpower is %.1fx faster than ipmitool one after another; target under 10 s: %s\n",
		float64(it.extrapolate)/float64(wall), map[bool]string{true: "met", false: "NOT met"}[wall < 10*time.Second])
}

func sec(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
func ms(d time.Duration) string  { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func durs(d []time.Duration) string {
	s := make([]string, len(d))
	for i, v := range d {
		s[i] = fmt.Sprintf("%.2f", v.Seconds())
	}
	return strings.Join(s, ", ") + " s"
}
