// Command dhcpdns is the benchmark of `luna cluster makedhcp` and `luna
// cluster makedns`: with 10,000 nodes stored (each with a MAC, an address on
// BOOTIF and one on BMC), it times both verbs as exec'd processes against
// the baseline bench/rawfind (one process that connects and reads the node
// collection with one Find), alternating the two sides, and checks the
// output with the real consumers (dhcpd -t, named-checkzone).
//
//	make build && go run ./bench/dhcpdns -n 5      # or: make bench-dhcpdns
//
// The server is bin/lunadb in its own process (or the MongoDB named by
// -uri). Everything is written under a temporary directory.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/clustervision/luna-go/bench/internal/lunadbproc"
)

type config struct {
	reps  int
	nodes int
	batch int
	bin   string
	uri   string
	keep  bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string) int {
	var o config
	fs := flag.NewFlagSet("dhcpdns", flag.ContinueOnError)
	fs.IntVar(&o.reps, "n", 5, "timed repetitions of each command")
	fs.IntVar(&o.nodes, "nodes", 10000, "nodes to add")
	fs.IntVar(&o.batch, "batch", 1000, "nodes per `luna node add` hostlist")
	fs.StringVar(&o.bin, "bin", "bin", "directory holding the built luna and lunadb")
	fs.StringVar(&o.uri, "uri", "", "use this MongoDB (a fresh database, dropped afterwards) instead of starting lunadb")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.reps < 1 || o.nodes < 1 || o.nodes > 60000 || o.batch < 1 {
		fmt.Fprintln(os.Stderr, "dhcpdns: -n and -batch must be positive, -nodes in [1..60000]")
		return 2
	}
	if err := bench(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "dhcpdns:", err)
		return 1
	}
	return 0
}

type harness struct {
	o       config
	server  *exec.Cmd // lunadb, nil with -uri
	tmp     string
	luna    string
	rawfind string
	uri, db string
	env     []string
}

func bench(ctx context.Context, o config) (err error) {
	h := &harness{o: o, db: "luna"}
	if h.luna, err = filepath.Abs(filepath.Join(o.bin, "luna")); err != nil {
		return err
	}
	if _, err := os.Stat(h.luna); err != nil {
		return fmt.Errorf("%s: %w (run `make build` first)", h.luna, err)
	}
	for _, prog := range []string{"dhcpd", "named-checkzone"} {
		if _, err := exec.LookPath(prog); err != nil {
			return fmt.Errorf("%s is needed to check the output: make deps (apt-get install isc-dhcp-server bind9-utils)", prog)
		}
	}
	if h.tmp, err = os.MkdirTemp("", "luna-bench-dhcpdns-"); err != nil {
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
	if o.uri != "" {
		h.uri, h.db = o.uri, fmt.Sprintf("luna_bench_%d", os.Getpid())
	} else {
		srv, uri, err := lunadbproc.Start(ctx, o.bin, h.tmp)
		if err != nil {
			return err
		}
		defer lunadbproc.Stop(srv)
		h.uri, h.server = uri, srv
	}
	conf := filepath.Join(h.tmp, "luna.conf")
	if err := os.WriteFile(conf, nil, 0o644); err != nil {
		return err
	}
	h.env = append(os.Environ(), "LUNA_MONGO_URI="+h.uri, "LUNA_DB="+h.db, "LUNA_CONF="+conf, "LUNA_LOGDIR="+filepath.Join(h.tmp, "log"))
	client, err := mongo.Connect(options.Client().ApplyURI(h.uri))
	if err != nil {
		return err
	}
	defer func() { _ = client.Disconnect(context.Background()) }()
	if o.uri != "" && !o.keep {
		defer func() { _ = client.Database(h.db).Drop(context.Background()) }()
	}
	if err := h.setup(ctx, client); err != nil {
		return err
	}
	dhcpConf := filepath.Join(h.tmp, "dhcpd.conf")
	zoneDir := filepath.Join(h.tmp, "zones")
	// The first makedhcp claims the range (508 addresses); later ones reuse it.
	start := time.Now()
	if _, err := h.runLuna(ctx, "cluster", "makedhcp", "-N", "cluster", "-s", "10.30.200.1", "-e", "10.30.201.254", "--file", dhcpConf); err != nil {
		return err
	}
	first := time.Since(start)
	if err := h.check(ctx, dhcpConf, zoneDir); err != nil {
		return err
	}
	cases := []struct {
		label string
		cmd   func() *exec.Cmd
		prep  func() error
	}{
		{"luna cluster makedhcp", func() *exec.Cmd { return h.lunaCmd(ctx, "cluster", "makedhcp", "--file", dhcpConf) }, nil},
		{"luna cluster makedhcp --format kea", func() *exec.Cmd {
			return h.lunaCmd(ctx, "cluster", "makedhcp", "--format", "kea", "--file", filepath.Join(h.tmp, "kea.conf"))
		}, nil},
		// Every zone written: the zone files are removed before each run.
		{"luna cluster makedns (all zones written)", func() *exec.Cmd { return h.lunaCmd(ctx, "cluster", "makedns") },
			func() error { return os.RemoveAll(zoneDir) }},
		{"luna cluster makedns (nothing changed)", func() *exec.Cmd { return h.lunaCmd(ctx, "cluster", "makedns") }, nil},
		{"rawfind (Find node)", func() *exec.Cmd {
			return exec.CommandContext(ctx, h.rawfind, "-uri", h.uri, "-db", h.db)
		}, nil},
	}
	times := make([][]time.Duration, len(cases))
	cpus := make([][]time.Duration, len(cases)) // user+system time of the process itself
	srvs := make([][]time.Duration, len(cases)) // lunadb's user+system time during the run
	fmt.Fprintf(os.Stderr, "timing, %d repetitions", o.reps)
	for rep := -1; rep < o.reps; rep++ {
		for k := range cases {
			i := k
			if rep%2 == 1 {
				i = len(cases) - 1 - k // alternate the order
			}
			c := cases[i]
			if c.prep != nil {
				if err := c.prep(); err != nil {
					return err
				}
			}
			cmd := c.cmd()
			var errb bytes.Buffer
			cmd.Stderr = &errb
			srv0 := h.serverCPU()
			t0 := time.Now()
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s: %v: %s", c.label, err, errb.String())
			}
			if rep >= 0 {
				times[i] = append(times[i], time.Since(t0))
				cpus[i] = append(cpus[i], cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
				srvs[i] = append(srvs[i], h.serverCPU()-srv0)
			}
		}
		fmt.Fprint(os.Stderr, ".")
	}
	fmt.Fprintln(os.Stderr)
	base := median(times[len(times)-1])
	fmt.Printf("%d nodes (MAC, BOOTIF and BMC addresses), %d switches, %d other devices; lunadb %s\n", o.nodes, 10, 10, h.uri)
	fmt.Printf("first makedhcp (claims the 508-address range): %v\n\n", first.Round(time.Millisecond))
	srvBase := median(srvs[len(srvs)-1])
	fmt.Printf("%-42s %9s %9s %9s %7s %9s %11s %7s\n", "command", "median", "min", "max", "x base", "own CPU", "lunadb CPU", "x base")
	for i, c := range cases {
		m, sv := median(times[i]), median(srvs[i])
		fmt.Printf("%-42s %9v %9v %9v %7.2f %9v %11v %7.2f\n", c.label, m.Round(time.Millisecond), slices.Min(times[i]).Round(time.Millisecond),
			slices.Max(times[i]).Round(time.Millisecond), float64(m)/float64(base), median(cpus[i]).Round(time.Millisecond),
			sv.Round(time.Millisecond), float64(sv)/float64(max(srvBase, time.Millisecond)))
	}
	var load []byte
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = b
	}
	fmt.Printf("\nown CPU: user+system time of the timed process; lunadb CPU: the server's during the run (medians); load average at the end: %s", load)
	return nil
}

func median(v []time.Duration) time.Duration {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

func (h *harness) lunaCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, h.luna, args...)
	cmd.Env = h.env
	return cmd
}

func (h *harness) runLuna(ctx context.Context, args ...string) (string, error) {
	cmd := h.lunaCmd(ctx, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("luna %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// setup builds the cluster with the real CLI, adds the nodes in hostlists
// and gives every node a MAC with the driver (the mac collection: one
// document per binding, as luna writes it).
func (h *harness) setup(ctx context.Context, client *mongo.Client) error {
	img := filepath.Join(h.tmp, "img")
	for _, d := range []string{filepath.Join(img, "lib/modules/5.10.0-9-amd64"), filepath.Join(img, "boot"), filepath.Join(h.tmp, "opt")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(img, "boot/vmlinuz-5.10.0-9-amd64"), []byte("kernel"), 0o644); err != nil {
		return err
	}
	steps := [][]string{
		{"cluster", "init", "--frontend_address", "10.30.255.254", "--user", "root", "--path", filepath.Join(h.tmp, "opt")},
		{"cluster", "change", "--named_include_file", filepath.Join(h.tmp, "named.luna.zones"), "--named_zone_dir", filepath.Join(h.tmp, "zones")},
		{"network", "add", "-n", "cluster", "-N", "10.30.0.0", "-P", "16", "--ns_hostname", "master"},
		{"network", "add", "-n", "ipmi", "-N", "10.31.0.0", "-P", "16", "--ns_hostname", "master"},
		{"osimage", "add", "-n", "compute", "-p", img},
		{"bmcsetup", "add", "-n", "base"},
		{"group", "add", "-n", "compute", "-o", "compute", "-N", "cluster", "-b", "base"},
		{"group", "change", "compute", "-i", "BMC", "--add"},
		{"group", "change", "compute", "-i", "BMC", "--setnet", "ipmi"},
	}
	for i := 1; i <= 10; i++ {
		steps = append(steps,
			[]string{"switch", "add", "-n", fmt.Sprintf("switch%02d", i), "-N", "ipmi", "-i", fmt.Sprintf("10.31.250.%d", i)},
			[]string{"otherdev", "add", "-n", fmt.Sprintf("pdu%02d", i), "-N", "ipmi", "-i", fmt.Sprintf("10.31.251.%d", i)})
	}
	for _, s := range steps {
		if _, err := h.runLuna(ctx, s...); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "adding %d nodes in hostlists of %d", h.o.nodes, h.o.batch)
	for first := 1; first <= h.o.nodes; first += h.o.batch {
		last := min(first+h.o.batch-1, h.o.nodes)
		if _, err := h.runLuna(ctx, "node", "add", "-g", "compute", "-n", fmt.Sprintf("node[%05d-%05d]", first, last)); err != nil {
			return err
		}
		fmt.Fprint(os.Stderr, ".")
	}
	fmt.Fprintln(os.Stderr)
	var nodes []struct {
		ID bson.ObjectID `bson:"_id"`
	}
	db := client.Database(h.db)
	cur, err := db.Collection("node").Find(ctx, bson.M{})
	if err != nil {
		return err
	}
	if err := cur.All(ctx, &nodes); err != nil {
		return err
	}
	docs := make([]any, len(nodes))
	for i, n := range nodes {
		docs[i] = bson.M{"_id": bson.NewObjectID(), "mac": fmt.Sprintf("02:00:00:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff), "node": n.ID}
	}
	_, err = db.Collection("mac").InsertMany(ctx, docs)
	return err
}

// check runs makedns once and looks at both outputs with the real tools.
func (h *harness) check(ctx context.Context, dhcpConf, zoneDir string) error {
	if out, err := exec.CommandContext(ctx, "dhcpd", "-t", "-4", "-cf", dhcpConf).CombinedOutput(); err != nil {
		return fmt.Errorf("dhcpd -t: %v\n%s", err, out)
	}
	text, err := os.ReadFile(dhcpConf)
	if err != nil {
		return err
	}
	if n := bytes.Count(text, []byte("\nhost ")); n != h.o.nodes {
		return fmt.Errorf("dhcpd.conf has %d hosts, want %d", n, h.o.nodes)
	}
	if _, err := h.runLuna(ctx, "cluster", "makedns"); err != nil {
		return err
	}
	// Host records: every node, the name server, and on ipmi the switches and PDUs.
	for zone, want := range map[string]int{"cluster": h.o.nodes + 1, "ipmi": h.o.nodes + 21} {
		path := filepath.Join(zoneDir, zone+".luna.zone")
		out, err := exec.CommandContext(ctx, "named-checkzone", zone, path).CombinedOutput()
		if err != nil {
			return fmt.Errorf("named-checkzone %s: %v\n%s", zone, err, out)
		}
		text, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if n := bytes.Count(text, []byte("\tIN\tA\t")) - 1; n != want { // less the apex
			return fmt.Errorf("zone %s has %d host records, want %d", zone, n, want)
		}
	}
	return nil
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
