// Command lweb is the boot server benchmark: with 10,000 nodes stored, it
// measures discovery requests per second, p50 and p99 of lweb against nginx
// serving a static file of the same size on the same machine, in one run,
// and then holds 10,000 BitTorrent peers announcing every 30 s to lweb's
// tracker.
//
//	make build && go run ./bench/lweb -d 10s
//
// Everything runs on this machine as separate processes: lunadb (the
// database, on a free port), lweb and nginx (Debian package nginx), each
// started in a temporary directory; the cluster is set up with bin/luna as
// an administrator would, and only the 10,000 MAC bindings and the packed
// osimage's file names are written with the driver (10,000 `luna node change
// --mac` processes would take minutes and measure nothing lweb does).
//
// The load generator is this process: -c clients (default 64), each a loop of
// keep-alive requests on one net/http transport, for a warm-up and then -d.
// Against lweb a request is GET /luna?step=discovery&hwdata=|MAC| for the MAC
// of a random node, checked for status 200 and luna.node=<that node> in the
// boot script; against nginx it is GET of a file of exactly the size of one
// such boot script (the bytes of one). The two servers take turns (nginx,
// lweb, nginx, lweb for -rounds 2) and the report gives the median of the
// rounds and the ratio. A request counts when answered inside the measured
// window. lweb answers from its boot snapshot (docs/lweb.md), which it
// loads before it says it is ready, so every node is asked for on equal
// terms. Before each round the harness waits until lunadb is idle (lweb
// stores the status of every node asked for, one write per node).
//
// The tracker load is open-loop: one peer per node, each announcing once per
// -every (default 30 s, also set as tracker_interval) for one info_hash,
// spread evenly over the period, each from its own loopback address
// (127.10.x.y) on a new connection as a node's ltorrent-client would, with
// a 20-byte info_hash and peer_id (the host name right-aligned, as
// luna.PeerIDHex expects) percent-encoded, port 6881, uploaded, downloaded,
// left, compact=1 and numwant=50. Latency is counted from the moment an
// announce was due, so a server that falls behind shows it. Nothing is
// written anywhere but a temporary directory; docs/BENCHMARKS.md is written
// by hand from a run.
//
// -inprocess -cpuprofile FILE runs lweb.Main in this process and writes CPU
// profiles of each lweb round (FILE.lweb, numbered after the first) and of
// the tracker load (FILE.tracker); they include the load generator.
package main

import (
	"bytes"
	"context"
	"crypto/sha1"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/clustervision/luna-go/internal/lweb"

	"github.com/clustervision/luna-go/bench/internal/lunadbproc"
)

type config struct {
	dur, warmup   time.Duration
	conc, rounds  int
	nodes         int
	trackerDur    time.Duration
	every         time.Duration
	bin, nginx    string
	keep          bool
	inProcess     bool
	cpuProfile    string
	skipDiscovery bool
	skipTracker   bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string) int {
	var o config
	fs := flag.NewFlagSet("lweb", flag.ContinueOnError)
	fs.DurationVar(&o.dur, "d", 10*time.Second, "measured duration of each discovery round, per server")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured load before each round")
	fs.IntVar(&o.conc, "c", 64, "concurrent discovery clients")
	fs.IntVar(&o.rounds, "rounds", 2, "rounds of nginx then lweb")
	fs.IntVar(&o.nodes, "nodes", 10000, "nodes stored (and tracker peers, one per node)")
	fs.DurationVar(&o.trackerDur, "tracker-d", 60*time.Second, "duration of the tracker load (0 skips it)")
	fs.DurationVar(&o.every, "every", 30*time.Second, "announce period of each peer (also set as tracker_interval)")
	fs.StringVar(&o.bin, "bin", "bin", "directory holding the built luna, lunadb and lweb")
	fs.StringVar(&o.nginx, "nginx", "nginx", "nginx binary")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory")
	fs.BoolVar(&o.inProcess, "inprocess", false, "run lweb inside this process (lweb.Main) instead of bin/lweb; needed for -cpuprofile")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "with -inprocess: write CPU profiles of the lweb rounds and the tracker load to FILE.<phase>[.N] (they include the load generator)")
	fs.BoolVar(&o.skipDiscovery, "no-discovery", false, "skip the discovery rounds (and nginx)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o.skipTracker = o.trackerDur <= 0
	if o.dur <= 0 || o.warmup < 0 || o.conc < 1 || o.rounds < 1 || o.nodes < 1 || o.nodes > 60000 || o.every < time.Second {
		fmt.Fprintln(os.Stderr, "lweb: -d, -c, -rounds must be positive, -nodes 1..60000, -every at least 1s")
		return 2
	}
	if o.cpuProfile != "" && !o.inProcess {
		fmt.Fprintln(os.Stderr, "lweb: -cpuprofile needs -inprocess (lweb must run in this process to be profiled)")
		return 2
	}
	if err := bench(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "lweb:", err)
		return 1
	}
	return 0
}

// node is one stored node as the load generator uses it.
type node struct {
	name  string
	mac   string
	query string // the discovery URL's query
	want  []byte // what its boot script must contain
}

type harness struct {
	o         config
	tmp       string
	luna      string
	env       []string
	vars      map[string]string
	uri, db   string
	lwebPort  int
	lwebURL   string
	nodes     []node
	lunadb    *exec.Cmd
	lwebCmd   *exec.Cmd
	lwebStop  func() // in-process lweb
	nginxCmd  *exec.Cmd
	nginxURL  string
	fileSize  int
	setupTime map[string]time.Duration
}

func bench(ctx context.Context, o config) (err error) {
	h := &harness{o: o, db: "luna", setupTime: map[string]time.Duration{}}
	for _, b := range []string{"luna", "lunadb", "lweb"} {
		p, err := filepath.Abs(filepath.Join(o.bin, b))
		if err != nil {
			return err
		}
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s: %w (run `make build` first)", p, err)
		}
		if b == "luna" {
			h.luna = p
		}
	}
	if !o.skipDiscovery {
		if _, err := exec.LookPath(o.nginx); err != nil {
			return fmt.Errorf("%s: %w (apt-get install nginx)", o.nginx, err)
		}
	}
	if h.tmp, err = os.MkdirTemp("", "luna-lweb-bench-"); err != nil {
		return err
	}
	// nginx's workers run as nobody when started by root: they must reach the file.
	if err := os.Chmod(h.tmp, 0o755); err != nil {
		return err
	}
	defer func() {
		if o.keep {
			fmt.Printf("kept %s\n", h.tmp)
			return
		}
		_ = os.RemoveAll(h.tmp)
	}()

	if err := h.startLunadb(ctx); err != nil {
		return err
	}
	defer stopProcess(h.lunadb)
	conf := filepath.Join(h.tmp, "luna.conf")
	if err := os.WriteFile(conf, nil, 0o644); err != nil {
		return err
	}
	h.vars = map[string]string{
		"LUNA_MONGO_URI": h.uri, "LUNA_DB": h.db, "LUNA_CONF": conf, "LUNA_LOGDIR": filepath.Join(h.tmp, "log"),
	}
	h.env = os.Environ()
	for k, v := range h.vars {
		h.env = append(h.env, k+"="+v)
	}
	client, err := mongo.Connect(options.Client().ApplyURI(h.uri))
	if err != nil {
		return err
	}
	defer func() { _ = client.Disconnect(context.Background()) }()

	if h.lwebPort, err = freePort(); err != nil {
		return err
	}
	h.lwebURL = fmt.Sprintf("http://127.0.0.1:%d", h.lwebPort)
	if err := h.setup(ctx, client.Database(h.db)); err != nil {
		return err
	}
	if err := h.startLweb(ctx); err != nil {
		return err
	}
	defer h.stopLweb()

	var disc []roundResult
	if !o.skipDiscovery {
		if err := h.prepareNginx(ctx); err != nil {
			return err
		}
		if err := h.startNginx(ctx); err != nil {
			return err
		}
		defer stopProcess(h.nginxCmd)
		if disc, err = h.discoveryRounds(ctx); err != nil {
			return err
		}
	}
	var tr *trackerResult
	if !o.skipTracker {
		if tr, err = h.trackerLoad(ctx, client.Database(h.db)); err != nil {
			return err
		}
	}
	h.report(disc, tr)
	return nil
}

// ---- processes ----

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startLunadb runs lunadb on a free port and waits for its "serving" line.
func (h *harness) startLunadb(ctx context.Context) (err error) {
	h.lunadb, h.uri, err = lunadbproc.Start(ctx, h.o.bin, h.tmp)
	return err
}

// stopProcess sends SIGTERM and waits (SIGKILL after 30 s).
func stopProcess(cmd *exec.Cmd) { lunadbproc.Stop(cmd) }

func (h *harness) runLuna(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, h.luna, args...)
	cmd.Env = h.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("luna %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// setup builds the cluster with bin/luna, then binds a MAC to every node and
// marks the osimage packed with the driver.
func (h *harness) setup(ctx context.Context, db *mongo.Database) error {
	img := filepath.Join(h.tmp, "img")
	opt := filepath.Join(h.tmp, "opt")
	for _, d := range []string{filepath.Join(img, "lib/modules/5.10.0-9-amd64"), filepath.Join(img, "boot"), opt} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(img, "boot/vmlinuz-5.10.0-9-amd64"), []byte("kernel"), 0o644); err != nil {
		return err
	}
	steps := [][]string{
		{"cluster", "init", "--frontend_address", "127.0.0.1", "--user", "root", "--path", opt},
		// The load generator asks from 127.0.0.1, not from the nodes' own
		// addresses; allow_rebind has lweb answer it as it answers a node's
		// own discovery (a boot token and a status write per request).
		{"cluster", "change", "--frontend_port", strconv.Itoa(h.lwebPort), "--tracker_interval", strconv.Itoa(int(h.o.every / time.Second)), "--allow_rebind", "y"},
		{"network", "add", "-n", "cluster", "-N", "10.30.0.0", "-P", "16"},
		{"network", "add", "-n", "ipmi", "-N", "10.31.0.0", "-P", "16"},
		{"osimage", "add", "-n", "compute", "-p", img},
		{"bmcsetup", "add", "-n", "base"},
		{"group", "add", "-n", "compute", "-o", "compute", "-N", "cluster", "-b", "base"},
		{"group", "change", "compute", "-i", "BMC", "--add"},
		{"group", "change", "compute", "-i", "BMC", "--setnet", "ipmi"},
	}
	start := time.Now()
	for _, s := range steps {
		if _, err := h.runLuna(ctx, s...); err != nil {
			return err
		}
	}
	h.setupTime["cluster, networks, osimage, group"] = time.Since(start)

	fmt.Fprintf(os.Stderr, "adding %d nodes with one `luna node add`\n", h.o.nodes)
	start = time.Now()
	if _, err := h.runLuna(ctx, "node", "add", "-g", "compute", "-n", fmt.Sprintf("node[%05d-%05d]", 1, h.o.nodes)); err != nil {
		return err
	}
	h.setupTime[fmt.Sprintf("luna node add -n node[00001-%05d]", h.o.nodes)] = time.Since(start)

	start = time.Now()
	cur, err := db.Collection("node").Find(ctx, bson.M{}, options.Find().SetProjection(bson.M{"name": 1}))
	if err != nil {
		return err
	}
	var stored []struct {
		ID   bson.ObjectID `bson:"_id"`
		Name string        `bson:"name"`
	}
	if err := cur.All(ctx, &stored); err != nil {
		return err
	}
	if len(stored) != h.o.nodes {
		return fmt.Errorf("node collection holds %d documents, want %d", len(stored), h.o.nodes)
	}
	slices.SortFunc(stored, func(a, b struct {
		ID   bson.ObjectID `bson:"_id"`
		Name string        `bson:"name"`
	}) int {
		return strings.Compare(a.Name, b.Name)
	})
	docs := make([]any, 0, len(stored))
	for i, n := range stored {
		k := i + 1
		mac := fmt.Sprintf("52:54:00:%02x:%02x:%02x", k>>16&0xff, k>>8&0xff, k&0xff)
		docs = append(docs, bson.D{{Key: "_id", Value: bson.NewObjectID()}, {Key: "mac", Value: mac}, {Key: "node", Value: n.ID}})
		h.nodes = append(h.nodes, node{
			name:  n.Name,
			mac:   mac,
			query: "/luna?step=discovery&hwdata=" + url.QueryEscape("|"+mac+"|"),
			want:  []byte("luna.node=" + n.Name + " "),
		})
	}
	for i := 0; i < len(docs); i += 1000 {
		if _, err := db.Collection("mac").InsertMany(ctx, docs[i:min(i+1000, len(docs))]); err != nil {
			return fmt.Errorf("insert MACs: %w", err)
		}
	}
	res, err := db.Collection("osimage").UpdateOne(ctx, bson.M{"name": "compute"}, bson.M{"$set": bson.M{
		"kernfile":   "compute-vmlinuz-5.10.0-9-amd64",
		"initrdfile": "compute-initramfs-5.10.0-9-amd64",
		"torrent":    "7b0d9a3e-5c1f-4c7e-9d1a-2f8e6b4a1c01",
		"tarball":    "7b0d9a3e-5c1f-4c7e-9d1a-2f8e6b4a1c01",
	}})
	if err != nil || res.MatchedCount != 1 {
		return fmt.Errorf("mark osimage compute packed: matched %v: %v", res, err)
	}
	h.setupTime[fmt.Sprintf("driver: %d MAC bindings, osimage packed", len(docs))] = time.Since(start)
	// A MAC written by luna itself must look the same as ours.
	if _, err := h.runLuna(ctx, "node", "show", h.nodes[0].name); err != nil {
		return err
	}
	return nil
}

// startLweb runs bin/lweb (or lweb.Main in this process) and waits for /healthz.
func (h *harness) startLweb(ctx context.Context) error {
	logf, err := os.Create(filepath.Join(h.tmp, "lweb.log"))
	if err != nil {
		return err
	}
	args := []string{"--listen", fmt.Sprintf("127.0.0.1:%d", h.lwebPort)}
	if h.o.inProcess {
		lctx, cancel := context.WithCancel(ctx)
		done := make(chan int, 1)
		getenv := func(k string) string {
			if v, ok := h.vars[k]; ok {
				return v
			}
			return os.Getenv(k)
		}
		go func() { done <- lweb.Main(lctx, args, io.Discard, logf, getenv, nil) }()
		h.lwebStop = func() { cancel(); <-done; logf.Close() }
	} else {
		cmd := exec.Command(filepath.Join(h.o.bin, "lweb"), args...)
		cmd.Env = h.env
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start lweb: %w", err)
		}
		h.lwebCmd = cmd
	}
	if err := waitHTTP(ctx, h.lwebURL+"/healthz"); err != nil {
		h.stopLweb()
		logText, _ := os.ReadFile(logf.Name())
		return fmt.Errorf("lweb: %w\n%s", err, logText)
	}
	return nil
}

func (h *harness) stopLweb() {
	if h.lwebStop != nil {
		h.lwebStop()
		h.lwebStop = nil
	}
	stopProcess(h.lwebCmd)
	h.lwebCmd = nil
}

func waitHTTP(ctx context.Context, u string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(u)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s: %s", u, resp.Status)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("not ready: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// prepareNginx fetches one boot script from lweb and writes a file of its
// size (its very bytes) for nginx to serve, with nginx's configuration.
func (h *harness) prepareNginx(ctx context.Context) error {
	n := h.nodes[0]
	resp, err := http.Get(h.lwebURL + n.query)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, n.want) {
		return fmt.Errorf("discovery of %s: %s\n%s", n.name, resp.Status, body)
	}
	h.fileSize = len(body)
	dir := filepath.Join(h.tmp, "nginx")
	www := filepath.Join(h.tmp, "www")
	for _, d := range []string{dir, www} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(www, "boot.ipxe"), body, 0o644); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	h.nginxURL = fmt.Sprintf("http://127.0.0.1:%d/boot.ipxe", port)
	conf := fmt.Sprintf(`# generated by bench/lweb
daemon off;
master_process on;
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
    default_type text/plain;
    charset utf-8;
    access_log %[1]s/access.log;
    sendfile on;
    keepalive_requests 1000000;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    server {
        listen 127.0.0.1:%[2]d;
        root %[3]s;
    }
}
`, dir, port, www)
	return os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644)
}

func (h *harness) startNginx(ctx context.Context) error {
	dir := filepath.Join(h.tmp, "nginx")
	cmd := exec.Command(h.o.nginx, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"))
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &errb, &errb
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start nginx: %w", err)
	}
	h.nginxCmd = cmd
	if err := waitHTTP(ctx, h.nginxURL); err != nil {
		stopProcess(cmd)
		h.nginxCmd = nil
		logText, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return fmt.Errorf("nginx: %w\n%s%s", err, errb.String(), logText)
	}
	return nil
}

// ---- CPU accounting ----

// procCPU is the user+system time of pid and its live children, from
// /proc (clock ticks of 1/100 s); -1 when unknown.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	total := time.Duration(ut+st) * 10 * time.Millisecond
	if kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid)); err == nil {
		for _, k := range strings.Fields(string(kids)) {
			if kp, err := strconv.Atoi(k); err == nil {
				if c := procCPU(kp); c > 0 {
					total += c
				}
			}
		}
	}
	return total
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuMeter reads the CPU time of the processes of the benchmark.
type cpuMeter struct {
	server, lunadb, self time.Duration
}

func (h *harness) cpu(server *exec.Cmd) cpuMeter {
	m := cpuMeter{server: -1, lunadb: procCPU(h.lunadb.Process.Pid), self: selfCPU()}
	if server != nil {
		m.server = procCPU(server.Process.Pid)
	}
	return m
}

// ---- discovery rounds ----

type roundResult struct {
	side      string // nginx or lweb
	phase     string // the lweb side of the round's pair
	round     int
	ok, errs  int
	dur       time.Duration
	lat       []time.Duration // sorted, of the successful requests
	firstErr  string
	serverCPU time.Duration // -1: unknown (in-process lweb)
	lunadbCPU time.Duration
	selfCPU   time.Duration
}

func (r roundResult) rate() float64 { return float64(r.ok) / r.dur.Seconds() }

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// discoveryRounds alternates nginx and lweb h.o.rounds times with requests
// for random nodes among all of them (what the issue asks).
func (h *harness) discoveryRounds(ctx context.Context) ([]roundResult, error) {
	nginxTarget := target{name: "nginx", size: h.fileSize, next: func(*rand.Rand) (string, []byte) { return h.nginxURL, nil }}
	base := h.lwebURL
	lt := target{name: "lweb", next: func(r *rand.Rand) (string, []byte) {
		n := &h.nodes[r.IntN(len(h.nodes))]
		return base + n.query, n.want
	}}
	var out []roundResult
	for round := 1; round <= h.o.rounds; round++ {
		for _, t := range []target{nginxTarget, lt} {
			if d := h.settle(ctx); d > time.Second {
				fmt.Fprintf(os.Stderr, "waited %s for lunadb to go idle\n", d.Round(100*time.Millisecond))
			}
			fmt.Fprintf(os.Stderr, "round %d: %s, %d clients, %s warm-up + %s\n", round, t.name, h.o.conc, h.o.warmup, h.o.dur)
			proc := h.nginxCmd
			var stopProf func()
			if t.name != "nginx" {
				proc = h.lwebCmd
				if h.o.cpuProfile != "" {
					var err error
					if stopProf, err = startProfile(h.o.cpuProfile + "." + t.name); err != nil {
						return nil, err
					}
				}
			}
			r, err := h.load(ctx, t, proc)
			if stopProf != nil {
				stopProf()
			}
			if err != nil {
				return nil, err
			}
			r.round, r.phase = round, lt.name
			out = append(out, r)
			fmt.Fprintf(os.Stderr, "  %.1f req/s, p50 %s, p99 %s, %d errors\n", r.rate(), q(r.lat, 0.5), q(r.lat, 0.99), r.errs)
		}
	}
	return out, nil
}

// settle waits (up to three minutes) until lweb has stored the statuses of
// the nodes asked for (its luna_node_status_pending metric is 0) and lunadb
// uses less than a fifth of a CPU, so that no round starts while either
// still works for the one before.
func (h *harness) settle(ctx context.Context) time.Duration {
	start := time.Now()
	client := &http.Client{Timeout: 30 * time.Second}
	var buf bytes.Buffer
	for time.Since(start) < 3*time.Minute && ctx.Err() == nil {
		if err := get(ctx, client, h.lwebURL+"/metrics", &buf); err != nil || bytes.Contains(buf.Bytes(), []byte("\nluna_node_status_pending 0\n")) {
			break
		}
		time.Sleep(time.Second)
	}
	for time.Since(start) < 3*time.Minute && ctx.Err() == nil {
		c0 := procCPU(h.lunadb.Process.Pid)
		time.Sleep(500 * time.Millisecond)
		if procCPU(h.lunadb.Process.Pid)-c0 < 100*time.Millisecond {
			break
		}
	}
	return time.Since(start)
}

// profiles appends to one file over several rounds: pprof cannot, so each
// round after the first writes FILE.N.
var profileCount = map[string]int{}

func startProfile(path string) (func(), error) {
	profileCount[path]++
	if n := profileCount[path]; n > 1 {
		path += "." + strconv.Itoa(n)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// target says what each request asks for and what its body must contain.
type target struct {
	name string
	// next returns a request's URL and what its body must contain (nil: anything).
	next func(*rand.Rand) (url string, want []byte)
	size int // exact body size, 0 = any
}

// load runs h.o.conc closed-loop clients against t for the warm-up and the
// measured duration. A request counts when it is answered inside the
// measured window (its latency may have begun in the warm-up); requests
// still open at the end are cut off and not counted. CPU times are read at
// the window's two ends.
func (h *harness) load(ctx context.Context, t target, proc *exec.Cmd) (roundResult, error) {
	tr := &http.Transport{
		MaxIdleConns:        h.o.conc,
		MaxIdleConnsPerHost: h.o.conc,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	start := time.Now()
	from := start.Add(h.o.warmup)
	until := from.Add(h.o.dur)
	var cpu0, cpu1 cpuMeter
	var cpuWG sync.WaitGroup
	cpuWG.Add(2)
	time.AfterFunc(time.Until(from), func() { cpu0 = h.cpu(proc); cpuWG.Done() })
	time.AfterFunc(time.Until(until), func() { cpu1 = h.cpu(proc); cpuWG.Done() })
	type worker struct {
		lat      []time.Duration
		errs     int
		firstErr string
	}
	ws := make([]worker, h.o.conc)
	wctx, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	var wg sync.WaitGroup
	for i := range ws {
		wg.Add(1)
		go func(w *worker, seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(time.Now().UnixNano())))
			var buf bytes.Buffer
			w.lat = make([]time.Duration, 0, 1<<14)
			for wctx.Err() == nil {
				u, want := t.next(rng)
				t0 := time.Now()
				err := get(wctx, client, u, &buf)
				t1 := time.Now()
				if !t1.Before(until) {
					return // cut off by the end of the window: not counted
				}
				if err == nil && t.size > 0 && buf.Len() != t.size {
					err = fmt.Errorf("%d bytes, want %d", buf.Len(), t.size)
				}
				if err == nil && want != nil && !bytes.Contains(buf.Bytes(), want) {
					err = fmt.Errorf("%s: no %q in the answer", u, want)
				}
				if t1.Before(from) {
					continue
				}
				if err != nil {
					w.errs++
					if w.firstErr == "" {
						w.firstErr = err.Error()
					}
					continue
				}
				w.lat = append(w.lat, t1.Sub(t0))
			}
		}(&ws[i], uint64(i+1)*0x9e3779b97f4a7c15)
	}
	wg.Wait()
	cpuWG.Wait()
	if ctx.Err() != nil {
		return roundResult{}, ctx.Err()
	}
	r := roundResult{side: t.name, dur: h.o.dur}
	for _, w := range ws {
		r.ok += len(w.lat)
		r.errs += w.errs
		r.lat = append(r.lat, w.lat...)
		if r.firstErr == "" {
			r.firstErr = w.firstErr
		}
	}
	slices.Sort(r.lat)
	r.serverCPU = -1
	if proc != nil && cpu0.server >= 0 && cpu1.server >= 0 {
		r.serverCPU = cpu1.server - cpu0.server
	}
	r.lunadbCPU = cpu1.lunadb - cpu0.lunadb
	r.selfCPU = cpu1.self - cpu0.self
	return r, nil
}

// get fetches u into buf; anything but 200 is an error.
func get(ctx context.Context, client *http.Client, u string, buf *bytes.Buffer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	buf.Reset()
	_, err = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", u, resp.Status, firstLine(buf.String()))
	}
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// ---- tracker ----

type trackerResult struct {
	period, dur          time.Duration
	peers                int
	due, done, ok, errs  int
	late                 int // sent more than 100 ms after they were due
	maxInFlight          int64
	lat                  []time.Duration // sorted, from due time, successful
	latSteady            []time.Duration // sorted, announces of the second period on (swarm full)
	firstErr             string
	peersGiven, answers  int64 // peers in the compact lists, answers counted
	stored               int64
	storedAfter          time.Duration // from the end of the load until stored was read
	serverCPU, lunadbCPU time.Duration
}

// escapeBytes percent-encodes every byte that is not unreserved (RFC 3986),
// as BitTorrent clients do for info_hash and peer_id.
func escapeBytes(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			sb.WriteByte(c)
		} else {
			fmt.Fprintf(&sb, "%%%02X", c)
		}
	}
	return sb.String()
}

type localAddrKey struct{}

// peerAddr is peer k's own loopback address (k from 0).
func peerAddr(k int) string {
	k++
	return fmt.Sprintf("127.10.%d.%d", k>>8&0xff, k&0xff)
}

func (h *harness) trackerLoad(ctx context.Context, db *mongo.Database) (*trackerResult, error) {
	o := h.o
	sum := sha1.Sum([]byte("luna-go bench/lweb compute osimage"))
	infoHash := escapeBytes(sum[:])
	const size = int64(2) << 30 // the osimage tarball, bytes
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{
		DisableKeepAlives:  true, // a node's client connects anew for each announce
		DisableCompression: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := *dialer
			if la, ok := ctx.Value(localAddrKey{}).(string); ok {
				d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(la)}
			}
			return d.DialContext(ctx, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	peerIDs := make([]string, o.nodes)
	for k, n := range h.nodes {
		peerIDs[k] = escapeBytes([]byte(fmt.Sprintf("%20s", n.name)))
	}
	interval := []byte(fmt.Sprintf("8:intervali%de", int(o.every/time.Second)))

	res := &trackerResult{period: o.every, dur: o.trackerDur, peers: o.nodes}
	gap := o.every / time.Duration(o.nodes)
	total := int(o.trackerDur / gap)
	type sample struct {
		lat    time.Duration
		cycle  int
		err    string
		late   bool
		peersN int
	}
	samples := make([]sample, total)
	var wg sync.WaitGroup
	var inFlight atomic.Int64
	var maxInFlight atomic.Int64

	announce := func(i int, due time.Time) {
		defer wg.Done()
		defer inFlight.Add(-1)
		k, cycle := i%o.nodes, i/o.nodes
		var event string
		var downloaded, uploaded int64
		switch cycle {
		case 0:
			event = "started"
		case 1:
			downloaded = size/2 + int64(k)*4096
		case 2:
			event, downloaded = "completed", size
		default:
			downloaded, uploaded = size, int64(cycle-2)*size/8
		}
		q := fmt.Sprintf("/announce?info_hash=%s&peer_id=%s&port=6881&uploaded=%d&downloaded=%d&left=%d&compact=1&numwant=50",
			infoHash, peerIDs[k], uploaded, downloaded, size-downloaded)
		if event != "" {
			q += "&event=" + event
		}
		s := &samples[i]
		s.cycle = cycle
		s.late = time.Since(due) > 100*time.Millisecond
		rctx := context.WithValue(ctx, localAddrKey{}, peerAddr(k))
		var buf bytes.Buffer
		err := get(rctx, client, h.lwebURL+q, &buf)
		s.lat = time.Since(due)
		body := buf.Bytes()
		switch {
		case err != nil:
		case bytes.Contains(body, []byte("failure reason")):
			err = fmt.Errorf("failure: %s", body)
		case len(body) == 0 || body[0] != 'd' || !bytes.Contains(body, interval):
			err = fmt.Errorf("unexpected answer %q", body)
		}
		if err != nil {
			s.err = err.Error()
			return
		}
		s.peersN = -1
		if j := bytes.Index(body, []byte("5:peers")); j >= 0 {
			rest := body[j+7:]
			if c := bytes.IndexByte(rest, ':'); c > 0 {
				if n, err := strconv.Atoi(string(rest[:c])); err == nil {
					s.peersN = n / 6
				}
			}
		}
	}

	if d := h.settle(ctx); d > time.Second {
		fmt.Fprintf(os.Stderr, "waited %s for lunadb to go idle\n", d.Round(100*time.Millisecond))
	}
	fmt.Fprintf(os.Stderr, "tracker: %d peers announcing every %s (%.0f/s) for %s\n", o.nodes, o.every, float64(o.nodes)/o.every.Seconds(), o.trackerDur)
	var stopProf func()
	if o.cpuProfile != "" {
		var err error
		if stopProf, err = startProfile(o.cpuProfile + ".tracker"); err != nil {
			return nil, err
		}
	}
	cpu0 := h.cpu(h.lwebCmd)
	start := time.Now()
	for i := 0; i < total && ctx.Err() == nil; {
		now := time.Now()
		for ; i < total; i++ {
			due := start.Add(time.Duration(i) * gap)
			if due.After(now) {
				break
			}
			wg.Add(1)
			for n, m := inFlight.Add(1), maxInFlight.Load(); n > m && !maxInFlight.CompareAndSwap(m, n); m = maxInFlight.Load() {
			}
			go announce(i, due)
		}
		if i < total {
			time.Sleep(time.Until(start.Add(time.Duration(i) * gap)))
		}
		if i%o.nodes == 0 && i > 0 && i < total {
			fmt.Fprintf(os.Stderr, "  %s: %d announces due\n", time.Since(start).Round(time.Second), i)
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1 := h.cpu(h.lwebCmd)
	if stopProf != nil {
		stopProf()
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	res.due = total
	res.maxInFlight = maxInFlight.Load()
	for _, s := range samples {
		res.done++
		if s.late {
			res.late++
		}
		if s.err != "" {
			res.errs++
			if res.firstErr == "" {
				res.firstErr = s.err
			}
			continue
		}
		res.ok++
		res.lat = append(res.lat, s.lat)
		if s.cycle >= 1 {
			res.latSteady = append(res.latSteady, s.lat)
		}
		if s.peersN >= 0 {
			res.peersGiven += int64(s.peersN)
			res.answers++
		}
	}
	slices.Sort(res.lat)
	slices.Sort(res.latSteady)
	res.dur = elapsed
	if h.lwebCmd != nil {
		res.serverCPU = cpu1.server - cpu0.server
	} else {
		res.serverCPU = -1
	}
	res.lunadbCPU = cpu1.lunadb - cpu0.lunadb
	// lweb stores announces in batches: wait for the last one (up to 30 s).
	waitFrom := time.Now()
	for {
		n, err := db.Collection("tracker").CountDocuments(ctx, bson.M{})
		if err != nil {
			return nil, err
		}
		res.stored, res.storedAfter = n, time.Since(waitFrom)
		if n >= int64(o.nodes) || time.Since(waitFrom) > 30*time.Second {
			return res, nil
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// ---- report ----

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// q is a quantile of sorted latencies as text, "-" when there are none.
func q(sorted []time.Duration, p float64) string {
	if len(sorted) == 0 {
		return "-"
	}
	return ms(quantile(sorted, p))
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

func cpuPct(d time.Duration, over time.Duration) string {
	if d < 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*d.Seconds()/over.Seconds())
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func (h *harness) report(disc []roundResult, tr *trackerResult) {
	cpuModel := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpuModel = strings.TrimSpace(v)
				break
			}
		}
	}
	nginxV := ""
	if out, err := exec.Command(h.o.nginx, "-v").CombinedOutput(); err == nil {
		nginxV = strings.TrimSpace(string(out))
	}
	lwebHow := "bin/lweb in its own process"
	if h.o.inProcess {
		lwebHow = "lweb.Main inside the benchmark process"
	}
	fmt.Printf("\nlweb benchmark, %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Printf("machine: %s/%s, %d CPUs (%s), %s, %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel, runtime.Version(), nginxV)
	fmt.Printf("setup: lunadb (FerretDB, SQLite) in its own process; %s; %d nodes in group compute (BOOTIF on 10.30.0.0/16, BMC on 10.31.0.0/16), each with a MAC\n", lwebHow, h.o.nodes)
	keys := make([]string, 0, len(h.setupTime))
	for k := range h.setupTime {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Printf("  %s: %.1f s\n", k, h.setupTime[k].Seconds())
	}

	if len(disc) > 0 {
		fmt.Printf("\ndiscovery: %d keep-alive clients, %s warm-up then %s per round; lweb: GET /luna?step=discovery&hwdata=|MAC| of a random node; nginx: GET of a %d-byte static file\n",
			h.o.conc, h.o.warmup, h.o.dur, h.fileSize)
		fmt.Printf("  lweb: any of the %d nodes\n", h.o.nodes)
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "round\tserver\treq/s\tp50\tp99\tmax\terrors\tserver CPU\tlunadb CPU\tbench CPU\t")
		for _, r := range disc {
			fmt.Fprintf(tw, "%d\t%s\t%.1f\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t\n", r.round, r.side, r.rate(), q(r.lat, 0.5), q(r.lat, 0.99),
				q(r.lat, 1), r.errs, cpuPct(r.serverCPU, r.dur), cpuPct(r.lunadbCPU, r.dur), cpuPct(r.selfCPU, r.dur))
		}
		_ = tw.Flush()
		type stat struct {
			rate, p50, p99 float64
			errs           int
		}
		medianOf := func(phase, side string) stat {
			var rate, p50, p99 []float64
			var st stat
			for _, r := range disc {
				if r.phase == phase && r.side == side {
					rate = append(rate, r.rate())
					p50 = append(p50, float64(quantile(r.lat, 0.5))/1e6)
					p99 = append(p99, float64(quantile(r.lat, 0.99))/1e6)
					st.errs += r.errs
				}
			}
			st.rate, st.p50, st.p99 = median(rate), median(p50), median(p99)
			return st
		}
		fmt.Println("\nmedian of the rounds:")
		for _, phase := range []string{"lweb"} {
			if !slices.ContainsFunc(disc, func(r roundResult) bool { return r.phase == phase }) {
				continue
			}
			l := medianOf(phase, phase)
			n := medianOf(phase, "nginx")
			line := func(name string, st stat) {
				if st.rate == 0 {
					fmt.Printf("  %-11s %9.1f req/s  p50 %11s  p99 %11s  errors %d\n", name, st.rate, "-", "-", st.errs)
					return
				}
				fmt.Printf("  %-11s %9.1f req/s  p50 %8.2f ms  p99 %8.2f ms  errors %d\n", name, st.rate, st.p50, st.p99, st.errs)
			}
			line("nginx", n)
			line(phase, l)
			ratio := l.rate / n.rate
			fmt.Printf("  ratio %s/nginx (rate): %.4f\n", phase, ratio)
			p99 := "none answered"
			if l.rate > 0 {
				p99 = fmt.Sprintf("%.2f ms", l.p99)
			}
			fmt.Printf("  targets (%s): rate at least half of nginx's: %.4f (%s); p99 under 20 ms at %d clients: %s (%s); no errors: %d (%s)\n\n",
				phase, ratio, verdict(ratio >= 0.5), h.o.conc, p99, verdict(l.p99 < 20 && l.rate > 0), l.errs, verdict(l.errs == 0))
		}
		for _, r := range disc {
			if r.firstErr != "" {
				fmt.Printf("  first error (%s, round %d): %s\n", r.side, r.round, r.firstErr)
			}
		}
	}

	if tr != nil {
		fmt.Printf("\ntracker: %d peers, one per node, each announcing every %s (tracker_interval %d) for one info_hash, compact=1 numwant=50, each from its own address on a new connection; %s\n",
			tr.peers, tr.period, int(tr.period/time.Second), tr.dur.Round(time.Millisecond))
		fmt.Printf("  announces: %d due, %d answered 200 without failure, %d errors; rate %.1f/s (target %.1f/s)\n",
			tr.due, tr.ok, tr.errs, float64(tr.ok)/tr.dur.Seconds(), float64(tr.peers)/tr.period.Seconds())
		fmt.Printf("  latency from the moment due: p50 %s, p99 %s, max %s; from the second period on (all %d peers known): p50 %s, p99 %s\n",
			q(tr.lat, 0.5), q(tr.lat, 0.99), q(tr.lat, 1), tr.peers, q(tr.latSteady, 0.5), q(tr.latSteady, 0.99))
		avg := 0.0
		if tr.answers > 0 {
			avg = float64(tr.peersGiven) / float64(tr.answers)
		}
		fmt.Printf("  sent late (>100 ms): %d; most in flight: %d; peers per answer: %.1f; peer documents stored: %d (%.1f s after the load); lweb CPU %s, lunadb CPU %s\n",
			tr.late, tr.maxInFlight, avg, tr.stored, tr.storedAfter.Seconds(), cpuPct(tr.serverCPU, tr.dur), cpuPct(tr.lunadbCPU, tr.dur))
		if tr.firstErr != "" {
			fmt.Printf("  first error: %s\n", tr.firstErr)
		}
		fmt.Printf("target: %d peers announcing every %s held with no errors: %s\n", tr.peers, tr.period,
			verdict(tr.errs == 0 && tr.late == 0 && tr.ok == tr.due && tr.stored == int64(tr.peers)))
	}
	if b, err := os.ReadFile(filepath.Join(h.tmp, "lweb.log")); err == nil {
		var cut, other int
		var first string
		for _, l := range strings.Split(string(b), "\n") {
			switch {
			case !strings.Contains(l, "level=ERROR"):
			case strings.Contains(l, "context canceled"):
				cut++ // a request the benchmark cut off at the end of a round
			default:
				other++
				if first == "" {
					first = l
				}
			}
		}
		if cut > 0 {
			fmt.Printf("\nlweb logged %d errors for requests cut off at the end of a round (context canceled)\n", cut)
		}
		if other > 0 {
			fmt.Printf("lweb logged %d other errors, the first: %s\n", other, first)
		}
	}
}
