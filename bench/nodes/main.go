// Command nodes is the node benchmark: with 10,000 nodes stored, it times
// `luna node list` and `luna node show` against one raw driver read of the
// same documents on the same server, and reports the ratios.
//
//	make build && go run ./bench/nodes -n 10
//
// Both sides are separate processes run the same way (wall time from start
// to exit, stdout read to the end through a pipe), so both pay process start
// and connection setup: the baseline is bench/rawfind, which connects and
// does one Find of collection node (or one FindOne by name) and prints
// nothing. The server is lunadb in its own process (or the MongoDB named by
// -uri), so its CPU is not the benchmark's. The same comparisons are then
// made in this process (cli.Main against driver calls) to separate start-up
// from the work itself. Nothing is written anywhere but a temporary
// directory; docs/BENCHMARKS.md is written by hand from a run.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/clustervision/luna-go/internal/cli"

	"github.com/clustervision/luna-go/bench/internal/lunadbproc"
)

type config struct {
	reps       int
	nodes      int
	batch      int
	macs       int
	bin        string
	uri        string
	keep       bool
	inProcess  bool
	cpuProfile string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string) int {
	var o config
	fs := flag.NewFlagSet("nodes", flag.ContinueOnError)
	fs.IntVar(&o.reps, "n", 10, "timed repetitions of each command")
	fs.IntVar(&o.nodes, "nodes", 10000, "nodes to add")
	fs.IntVar(&o.batch, "batch", 1000, "nodes per `luna node add` hostlist")
	fs.IntVar(&o.macs, "macs", 10, "nodes given a MAC with `luna node change --mac`")
	fs.StringVar(&o.bin, "bin", "bin", "directory holding the built luna and lunadb")
	fs.StringVar(&o.uri, "uri", "", "use this MongoDB (a fresh database, dropped afterwards) instead of starting lunadb")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (and the database with -uri)")
	fs.BoolVar(&o.inProcess, "inprocess", true, "also time cli.Main and driver reads inside this process")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the in-process `luna node list` runs to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.reps < 1 || o.nodes < 1 || o.batch < 1 {
		fmt.Fprintln(os.Stderr, "nodes: -n, -nodes and -batch must be positive")
		return 2
	}
	if err := bench(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "nodes:", err)
		return 1
	}
	return 0
}

// env is what the exec'd and the in-process luna see.
type env struct {
	vars map[string]string
}

func (e env) getenv(k string) string {
	if v, ok := e.vars[k]; ok {
		return v
	}
	return os.Getenv(k)
}

func (e env) environ() []string {
	out := os.Environ()
	for k, v := range e.vars {
		out = append(out, k+"="+v)
	}
	return out
}

type harness struct {
	o       config
	tmp     string
	luna    string // path of bin/luna
	rawfind string
	uri     string
	db      string
	env     env
	server  *exec.Cmd // lunadb, nil with -uri
}

func bench(ctx context.Context, o config) (err error) {
	h := &harness{o: o}
	if h.luna, err = filepath.Abs(filepath.Join(o.bin, "luna")); err != nil {
		return err
	}
	if _, err := os.Stat(h.luna); err != nil {
		return fmt.Errorf("%s: %w (run `make build` first)", h.luna, err)
	}
	if h.tmp, err = os.MkdirTemp("", "luna-bench-"); err != nil {
		return err
	}
	defer func() {
		if o.keep {
			fmt.Printf("kept %s\n", h.tmp)
			return
		}
		_ = os.RemoveAll(h.tmp)
	}()

	h.rawfind = filepath.Join(h.tmp, "rawfind")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", h.rawfind, "./bench/rawfind").CombinedOutput(); err != nil {
		return fmt.Errorf("build bench/rawfind (run from the module root): %v\n%s", err, out)
	}

	h.db = "luna"
	if o.uri != "" {
		h.uri = o.uri
		h.db = fmt.Sprintf("luna_bench_%d", os.Getpid())
	} else {
		if err := h.startServer(ctx); err != nil {
			return err
		}
		defer h.stopServer()
	}
	conf := filepath.Join(h.tmp, "luna.conf")
	if err := os.WriteFile(conf, nil, 0o644); err != nil {
		return err
	}
	h.env = env{vars: map[string]string{
		"LUNA_MONGO_URI": h.uri, "LUNA_DB": h.db, "LUNA_CONF": conf,
		"LUNA_LOGDIR": filepath.Join(h.tmp, "log"),
	}}

	client, err := mongo.Connect(options.Client().ApplyURI(h.uri))
	if err != nil {
		return err
	}
	defer func() { _ = client.Disconnect(context.Background()) }()
	if o.uri != "" && !o.keep {
		defer func() { _ = client.Database(h.db).Drop(context.Background()) }()
	}

	adds, err := h.setup(ctx)
	if err != nil {
		return err
	}
	if err := h.bootAll(ctx, client); err != nil {
		return err
	}
	showName := fmt.Sprintf("node%05d", max(1, o.nodes/2))
	if err := h.check(ctx, client, showName); err != nil {
		return err
	}

	cases := []pair{
		{[]string{"node", "list"}, nil},
		{[]string{"node", "list", "-o", "json"}, nil},
		{[]string{"node", "show", showName}, []string{"-name", showName}},
	}
	exe, err := h.timeExec(ctx, cases)
	if err != nil {
		return err
	}
	var inproc []result
	if o.inProcess {
		if inproc, err = h.timeInProcess(ctx, client, cases, showName); err != nil {
			return err
		}
	}
	h.report(adds, cases, exe, inproc)
	return nil
}

// startServer runs lunadb on a free port and waits for its "serving" line.
func (h *harness) startServer(ctx context.Context) (err error) {
	h.server, h.uri, err = lunadbproc.Start(ctx, h.o.bin, h.tmp)
	return err
}

func (h *harness) stopServer() {
	lunadbproc.Stop(h.server)
	h.server = nil
}

// luna runs bin/luna and returns its stdout; a failure carries stderr.
func (h *harness) runLuna(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, h.luna, args...)
	cmd.Env = h.env.environ()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("luna %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// setup builds the cluster with the real CLI and adds the nodes; it returns
// the wall time of each `node add`.
func (h *harness) setup(ctx context.Context) ([]time.Duration, error) {
	img := filepath.Join(h.tmp, "img")
	for _, d := range []string{filepath.Join(img, "lib/modules/5.10.0-9-amd64"), filepath.Join(img, "boot"), filepath.Join(h.tmp, "opt")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(img, "boot/vmlinuz-5.10.0-9-amd64"), []byte("kernel"), 0o644); err != nil {
		return nil, err
	}
	steps := [][]string{
		{"cluster", "init", "--frontend_address", "10.30.255.254", "--user", "root", "--path", filepath.Join(h.tmp, "opt")},
		{"network", "add", "-n", "cluster", "-N", "10.30.0.0", "-P", "16"},
		{"network", "add", "-n", "ipmi", "-N", "10.31.0.0", "-P", "16"},
		{"osimage", "add", "-n", "compute", "-p", img},
		{"bmcsetup", "add", "-n", "base"},
		{"group", "add", "-n", "compute", "-o", "compute", "-N", "cluster", "-b", "base"},
		{"group", "change", "compute", "-i", "BMC", "--add"},
		{"group", "change", "compute", "-i", "BMC", "--setnet", "ipmi"},
	}
	for _, s := range steps {
		if _, err := h.runLuna(ctx, s...); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(os.Stderr, "adding %d nodes in hostlists of %d", h.o.nodes, h.o.batch)
	var adds []time.Duration
	for first := 1; first <= h.o.nodes; first += h.o.batch {
		last := min(first+h.o.batch-1, h.o.nodes)
		start := time.Now()
		if _, err := h.runLuna(ctx, "node", "add", "-g", "compute", "-n", fmt.Sprintf("node[%05d-%05d]", first, last)); err != nil {
			return nil, err
		}
		adds = append(adds, time.Since(start))
		fmt.Fprint(os.Stderr, ".")
	}
	fmt.Fprintln(os.Stderr)
	for i := 0; i < h.o.macs; i++ {
		k := 1 + i*h.o.nodes/max(1, h.o.macs)
		mac := fmt.Sprintf("02:00:00:00:%02x:%02x", k>>8&0xff, k&0xff)
		if _, err := h.runLuna(ctx, "node", "change", fmt.Sprintf("node%05d", k), "--mac", mac); err != nil {
			return nil, err
		}
	}
	return adds, nil
}

// bootAll gives every node the status lweb stores after an install, with
// the driver (as lweb would, one nodestatus document per node), so that the
// listing shows a cluster that has booted.
func (h *harness) bootAll(ctx context.Context, client *mongo.Client) error {
	var nodes []struct {
		ID bson.ObjectID `bson:"_id"`
	}
	cur, err := client.Database(h.db).Collection("node").Find(ctx, bson.M{})
	if err != nil {
		return err
	}
	if err := cur.All(ctx, &nodes); err != nil {
		return err
	}
	docs := make([]any, len(nodes))
	now := time.Now().UTC()
	for i, n := range nodes {
		docs[i] = bson.M{"_id": n.ID, "step": "install.success", "time": now, "token": fmt.Sprintf("%032x", i)}
	}
	_, err = client.Database(h.db).Collection("nodestatus").InsertMany(ctx, docs)
	return err
}

// check makes sure both sides read what they should before anything is timed.
func (h *harness) check(ctx context.Context, client *mongo.Client, showName string) error {
	db := client.Database(h.db)
	if n, err := db.Collection("node").CountDocuments(ctx, bson.M{}); err != nil || n != int64(h.o.nodes) {
		return fmt.Errorf("node collection holds %d documents (%v), want %d", n, err, h.o.nodes)
	}
	if n, err := db.Collection("ipaddr").CountDocuments(ctx, bson.M{"kind": "node"}); err != nil || n != 2*int64(h.o.nodes) {
		return fmt.Errorf("ipaddr holds %d node addresses (%v), want %d", n, err, 2*h.o.nodes)
	}
	out, err := exec.CommandContext(ctx, h.rawfind, "-uri", h.uri, "-db", h.db, "-count").Output()
	if err != nil || strings.TrimSpace(string(out)) != strconv.Itoa(h.o.nodes) {
		return fmt.Errorf("rawfind read %q (%v), want %d", out, err, h.o.nodes)
	}
	js, err := h.runLuna(ctx, "node", "list", "-o", "json")
	if err != nil {
		return err
	}
	var views []struct {
		Name       string `json:"name"`
		Interfaces []struct {
			IPv4 string `json:"ipv4"`
		} `json:"interfaces"`
	}
	if err := json.Unmarshal([]byte(js), &views); err != nil {
		return fmt.Errorf("node list -o json: %w", err)
	}
	if len(views) != h.o.nodes || len(views[len(views)-1].Interfaces) != 2 || views[len(views)-1].Interfaces[1].IPv4 == "" {
		return fmt.Errorf("node list -o json: %d nodes, want %d with 2 addresses each", len(views), h.o.nodes)
	}
	table, err := h.runLuna(ctx, "node", "list")
	if err != nil {
		return err
	}
	if !strings.Contains(table, fmt.Sprintf("| node%05d ", h.o.nodes)) {
		return errors.New("node list: the last node is missing from the table")
	}
	if n := strings.Count(table, "install.success"); n != h.o.nodes {
		return fmt.Errorf("node list: %d nodes show status install.success, want %d", n, h.o.nodes)
	}
	show, err := h.runLuna(ctx, "node", "show", showName)
	if err != nil || !strings.Contains(show, "BOOTIF:") {
		return fmt.Errorf("node show %s: %v\n%s", showName, err, show)
	}
	return nil
}

// pair is one luna command and its baseline (rawfind arguments besides
// -uri and -db: none reads the whole node collection).
type pair struct {
	luna []string
	raw  []string
}

// sample is one timed run.
type sample struct {
	wall, cpu, server time.Duration
	out               int64 // bytes written to stdout, or documents decoded by a driver call
}

// result is every sample of one measured command.
type result struct {
	label   string
	unit    string // of sample.out: "B" or "docs"
	samples []sample
}

func (r result) stat(f func(sample) time.Duration, q float64) time.Duration {
	v := make([]time.Duration, len(r.samples))
	for i, s := range r.samples {
		v[i] = f(s)
	}
	return quantile(v, q)
}

func wallOf(s sample) time.Duration   { return s.wall }
func cpuOf(s sample) time.Duration    { return s.cpu }
func serverOf(s sample) time.Duration { return s.server }

// quantile is the nearest-rank quantile (0.5 of an even count is the mean of the middle two).
func quantile(v []time.Duration, q float64) time.Duration {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if q == 0.5 && len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// timeExec runs each luna command and its baseline o.reps times, after one
// untimed warm-up, alternating which goes first.
func (h *harness) timeExec(ctx context.Context, cases []pair) ([]result, error) {
	res := make([]result, 2*len(cases))
	for i, c := range cases {
		res[2*i].unit, res[2*i+1].unit = "B", "B"
		res[2*i].label = "luna " + strings.Join(c.luna, " ")
		res[2*i+1].label = "rawfind " + strings.Join(append([]string{"(Find node)"}, c.raw...), " ")
		if c.raw != nil {
			res[2*i+1].label = "rawfind " + strings.Join(c.raw, " ") + " (FindOne)"
		}
	}
	fmt.Fprintf(os.Stderr, "timing exec'd commands, %d repetitions", h.o.reps)
	for rep := -1; rep < h.o.reps; rep++ {
		for i, c := range cases {
			lunaCmd := func() *exec.Cmd {
				cmd := exec.CommandContext(ctx, h.luna, c.luna...)
				cmd.Env = h.env.environ()
				return cmd
			}
			rawCmd := func() *exec.Cmd {
				return exec.CommandContext(ctx, h.rawfind, append([]string{"-uri", h.uri, "-db", h.db}, c.raw...)...)
			}
			order := []int{0, 1}
			if rep%2 != 0 {
				order = []int{1, 0}
			}
			for _, side := range order {
				mk := lunaCmd
				if side == 1 {
					mk = rawCmd
				}
				s, err := h.timeOne(mk())
				if err != nil {
					return nil, err
				}
				if rep >= 0 {
					res[2*i+side].samples = append(res[2*i+side].samples, s)
				}
			}
		}
		fmt.Fprint(os.Stderr, ".")
	}
	fmt.Fprintln(os.Stderr)
	return res, nil
}

// timeOne runs cmd with its stdout read to the end and discarded.
func (h *harness) timeOne(cmd *exec.Cmd) (sample, error) {
	var out counter
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	srv0 := h.serverCPU()
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return sample{}, fmt.Errorf("%s: %v: %s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(errb.String()))
	}
	st := cmd.ProcessState
	return sample{wall: wall, cpu: st.UserTime() + st.SystemTime(), server: h.serverCPU() - srv0, out: out.n}, nil
}

// serverCPU is lunadb's user+system time so far (0 with -uri), from
// /proc/PID/stat in clock ticks of 1/100 s.
func (h *harness) serverCPU() time.Duration {
	if h.server == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", h.server.Process.Pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// timeInProcess makes the same comparisons without process start: cli.Main
// (which opens and closes its own connection every call, as the exec'd
// luna does) against the driver with a new connection per call, and against
// the driver on a connection opened beforehand.
func (h *harness) timeInProcess(ctx context.Context, client *mongo.Client, cases []pair, showName string) ([]result, error) {
	type side struct {
		label, unit string
		fn          func() (int64, error)
	}
	coll := client.Database(h.db).Collection("node")
	var sides []side
	for _, c := range cases {
		args := c.luna
		sides = append(sides, side{"cli.Main " + strings.Join(args, " "), "B", func() (int64, error) {
			var out counter
			var errb bytes.Buffer
			if code := cli.Main(ctx, args, cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: h.env.getenv}); code != 0 {
				return 0, fmt.Errorf("cli.Main %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
			}
			return out.n, nil
		}})
	}
	filterAll, filterOne := bson.M{}, bson.M{"name": showName}
	sides = append(sides,
		side{"driver Find node, new connection", "docs", func() (int64, error) { return freshFind(ctx, h.uri, h.db, filterAll) }},
		side{"driver Find node, open connection", "docs", func() (int64, error) { return find(ctx, coll, filterAll) }},
		side{"driver FindOne " + showName + ", new connection", "docs", func() (int64, error) { return freshFind(ctx, h.uri, h.db, filterOne) }},
		side{"driver FindOne " + showName + ", open connection", "docs", func() (int64, error) { return find(ctx, coll, filterOne) }},
	)
	res := make([]result, len(sides))
	fmt.Fprintf(os.Stderr, "timing in-process calls, %d repetitions", h.o.reps)
	for rep := -1; rep < h.o.reps; rep++ {
		for i, s := range sides {
			runtime.GC()
			srv0 := h.serverCPU()
			cpu0 := processCPU()
			start := time.Now()
			n, err := s.fn()
			wall := time.Since(start)
			cpu := processCPU() - cpu0
			srv := h.serverCPU() - srv0
			if err != nil {
				return nil, err
			}
			res[i].label, res[i].unit = s.label, s.unit
			if rep >= 0 {
				res[i].samples = append(res[i].samples, sample{wall: wall, cpu: cpu, server: srv, out: n})
			}
		}
		fmt.Fprint(os.Stderr, ".")
	}
	fmt.Fprintln(os.Stderr)
	if h.o.cpuProfile != "" {
		if err := profile(h.o.cpuProfile, h.o.reps, sides[0].fn); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// profile writes a CPU profile of reps more runs of fn (this process only:
// the server's share is not in it).
func profile(path string, reps int, fn func() (int64, error)) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	for i := 0; i < reps; i++ {
		if _, err := fn(); err != nil {
			return err
		}
	}
	return nil
}

// processCPU is this process's user+system time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func freshFind(ctx context.Context, uri, db string, filter bson.M) (int64, error) {
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return 0, err
	}
	defer func() { _ = client.Disconnect(context.Background()) }()
	return find(ctx, client.Database(db).Collection("node"), filter)
}

// find decodes the documents matching filter, or with a name filter the
// first one (FindOne, as rawfind -name and luna's lookup by name do).
func find(ctx context.Context, coll *mongo.Collection, filter bson.M) (int64, error) {
	if _, one := filter["name"]; one {
		var doc bson.M
		if err := coll.FindOne(ctx, filter).Decode(&doc); err != nil {
			return 0, err
		}
		return 1, nil
	}
	cur, err := coll.Find(ctx, filter)
	if err != nil {
		return 0, err
	}
	var docs []bson.M
	if err := cur.All(ctx, &docs); err != nil {
		return 0, err
	}
	if len(docs) == 0 {
		return 0, errors.New("driver read no documents")
	}
	return int64(len(docs)), nil
}

func (h *harness) report(adds []time.Duration, cases []pair, exe, inproc []result) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }
	cpuModel := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpuModel = strings.TrimSpace(v)
				break
			}
		}
	}
	server := "lunadb (FerretDB 1.24, SQLite) in its own process"
	if h.o.uri != "" {
		server = "MongoDB at -uri"
	}
	fmt.Printf("luna node benchmark, %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Printf("machine: %s/%s, %d CPUs (%s), %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel, runtime.Version())
	fmt.Printf("server: %s; %d nodes in group compute, 2 addresses each (BOOTIF on cluster, BMC on ipmi), each with a status, %d with a MAC\n",
		server, h.o.nodes, h.o.macs)
	fmt.Printf("%d timed repetitions after one warm-up; times in ms; cpu = the command's user+sys, server = lunadb's user+sys during it\n\n", h.o.reps)

	fmt.Printf("setup: %d x `luna node add -g compute -n node[a-b]` of up to %d nodes: median %s, max %s, total %s ms\n",
		len(adds), h.o.batch, ms(quantile(adds, 0.5)), ms(slices.Max(adds)), ms(sum(adds)))
	each := make([]string, len(adds))
	for i, d := range adds {
		each[i] = fmt.Sprintf("%.1f", d.Seconds())
	}
	fmt.Printf("each add in order (s): %s\n\n", strings.Join(each, " "))

	table := func(title string, rs []result) {
		fmt.Println(title)
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "command\tmedian\tp90\tmin\tcpu med\tserver med\toutput\t")
		for _, r := range rs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d %s\t\n", r.label, ms(r.stat(wallOf, 0.5)), ms(r.stat(wallOf, 0.9)),
				ms(r.stat(wallOf, 0)), ms(r.stat(cpuOf, 0.5)), ms(r.stat(serverOf, 0.5)), r.samples[0].out, r.unit)
		}
		_ = tw.Flush()
		fmt.Println()
	}
	table("exec'd processes (wall time, stdout read through a pipe):", exe)
	if inproc != nil {
		table("in this process (cli.Main opens its own connection each call):", inproc)
	}

	ratio := func(a, b result) string {
		return fmt.Sprintf("%.2f (p90 %.2f)", float64(a.stat(wallOf, 0.5))/float64(b.stat(wallOf, 0.5)),
			float64(a.stat(wallOf, 0.9))/float64(b.stat(wallOf, 0.9)))
	}
	fmt.Println("ratios luna / raw (median wall time):")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	for i := range cases {
		fmt.Fprintf(tw, "  exec'd\t%s / %s\t%s\n", exe[2*i].label, exe[2*i+1].label, ratio(exe[2*i], exe[2*i+1]))
	}
	if inproc != nil {
		k := len(cases)
		for i := range cases {
			base := k // Find all, new connection
			if cases[i].raw != nil {
				base = k + 2
			}
			fmt.Fprintf(tw, "  in-process\t%s / %s\t%s\n", inproc[i].label, inproc[base].label, ratio(inproc[i], inproc[base]))
			fmt.Fprintf(tw, "  in-process\t%s / %s\t%s\n", inproc[i].label, inproc[base+1].label, ratio(inproc[i], inproc[base+1]))
		}
	}
	_ = tw.Flush()

	list, raw := exe[0], exe[1]
	r := float64(list.stat(wallOf, 0.5)) / float64(raw.stat(wallOf, 0.5))
	fmt.Printf("\ntargets (issue): list of %d nodes within 3x of the raw read: %.2fx %s; under 1 s: %s ms %s; adding %d nodes by hostlist under 10 s: max %s ms %s\n",
		h.o.nodes, r, verdict(r <= 3), ms(list.stat(wallOf, 0.5)), verdict(list.stat(wallOf, 0.5) < time.Second),
		h.o.batch, ms(slices.Max(adds)), verdict(slices.Max(adds) < 10*time.Second))
}

func verdict(ok bool) string {
	if ok {
		return "(met)"
	}
	return "(NOT met)"
}

func sum(v []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range v {
		t += d
	}
	return t
}
