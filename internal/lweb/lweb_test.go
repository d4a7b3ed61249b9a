package lweb

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clustervision/luna-go/internal/cli"
	"github.com/clustervision/luna-go/internal/luna"
	"github.com/clustervision/luna-go/internal/store"
	"github.com/clustervision/luna-go/internal/testutil"
)

// fixture is a cluster with three nodes, served by an lweb handler.
type fixture struct {
	t     *testing.T
	env   map[string]string
	st    *store.Store
	h     http.Handler
	log   *bytes.Buffer
	path  string
	clock *fakeClock
}

// fakeClock is the clock lweb runs on in tests: it moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (f *fixture) luna(args ...string) string {
	f.t.Helper()
	var out, errb bytes.Buffer
	io := cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(k string) string { return f.env[k] }}
	if code := cli.Main(context.Background(), args, io); code != 0 {
		f.t.Fatalf("luna %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
	}
	return out.String()
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureOn(t, "10.30.0.0", "16")
}

// newFixtureOn is newFixture with the nodes' boot network at netAddr/prefix.
func newFixtureOn(t *testing.T, netAddr, prefix string) *fixture {
	t.Helper()
	st, db := testutil.Store(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "luna.conf")
	if err := os.WriteFile(conf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, st: st, path: dir, log: &bytes.Buffer{}, clock: newFakeClock(), env: map[string]string{
		"LUNA_MONGO_URI": testutil.URI(), "LUNA_DB": db, "LUNA_CONF": conf, "LUNA_LOGDIR": filepath.Join(dir, "log")}}
	img := filepath.Join(dir, "img")
	for _, d := range []string{filepath.Join(img, "lib/modules/5.10.0-9-amd64"), filepath.Join(img, "boot"), filepath.Join(dir, "boot"), filepath.Join(dir, "torrents")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(img, "boot/vmlinuz-5.10.0-9-amd64"), []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.luna("cluster", "init", "--frontend_address", "10.30.255.254", "--user", "root", "--path", dir)
	f.luna("network", "add", "-n", "cluster", "-N", netAddr, "-P", prefix, "--ns_hostname", "master")
	f.luna("network", "add", "-n", "ipmi", "-N", "10.31.0.0", "-P", "16", "--ns_hostname", "master")
	f.luna("osimage", "add", "-n", "compute", "-p", img)
	f.luna("bmcsetup", "add", "-n", "base")
	f.luna("group", "add", "-n", "compute", "-o", "compute", "-N", "cluster", "-b", "base", "-bn", "ipmi")
	f.luna("switch", "add", "-n", "switch01", "-N", "ipmi", "-i", "10.31.253.21")
	f.luna("node", "add", "-g", "compute", "-n", "node[001-003]")
	f.luna("node", "change", "node001", "--mac", "52:54:00:00:00:01")
	f.luna("node", "change", "node003", "-s", "switch01", "-p", "Gi1/0/5")
	svc := luna.NewService(st)
	srv := &Server{Svc: svc, Log: slog.New(slog.NewTextHandler(f.log, nil)), Now: f.clock.Now}
	f.h = srv.Handler()
	f.pack(true)
	return f
}

func (f *fixture) get(url, client string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, url, nil)
	if client != "" {
		req.RemoteAddr = client + ":40000"
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

func (f *fixture) expect(url string, code int) string {
	f.t.Helper()
	return f.expectFrom(url, "", code)
}

// expectFrom is expect for a request from client ("" = httptest's 192.0.2.1).
func (f *fixture) expectFrom(url, client string, code int) string {
	f.t.Helper()
	rec := f.get(url, client)
	if rec.Code != code {
		f.t.Fatalf("GET %s: %d, want %d: %s", url, rec.Code, code, rec.Body.String())
	}
	return rec.Body.String()
}

func (f *fixture) status(node string) string {
	f.t.Helper()
	var nd store.Node
	if err := f.st.GetByName(context.Background(), store.Nodes, node, &nd); err != nil {
		f.t.Fatal(err)
	}
	var st store.NodeState
	if err := f.st.GetByID(context.Background(), store.States, nd.ID, &st); err != nil {
		return ""
	}
	return st.Step
}

// pack sets the osimage's boot files and torrent as `osimage pack` would (or clears them).
func (f *fixture) pack(packed bool) {
	f.t.Helper()
	ctx := context.Background()
	var img store.OSImage
	if err := f.st.GetByName(ctx, store.OSImages, "compute", &img); err != nil {
		f.t.Fatal(err)
	}
	set := map[string]any{"kernfile": "compute-vmlinuz-5.10.0-9-amd64",
		"initrdfile": "compute-initramfs-5.10.0-9-amd64", "torrent": "6d3e0ad6", "tarball": "6d3e0ad6"}
	if !packed {
		for k := range set {
			set[k] = ""
		}
	}
	if err := f.st.Set(ctx, store.OSImages, img.ID, set); err != nil {
		f.t.Fatal(err)
	}
}

func TestRouting(t *testing.T) {
	f := newFixture(t)
	f.expect("/luna", http.StatusBadRequest)
	f.expect("/luna?step=nonsense", http.StatusBadRequest)
	f.expect("/nowhere", http.StatusNotFound)
	req := httptest.NewRequest(http.MethodPost, "/luna?step=boot", nil)
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d, want 405", rec.Code)
	}
	if body := f.expect("/healthz", http.StatusOK); body != "ok\n" {
		t.Fatalf("healthz: %q", body)
	}
}

func TestMenu(t *testing.T) {
	f := newFixture(t)
	body := f.expect("/luna?step=boot", http.StatusOK)
	for _, want := range []string{"#!ipxe\n", "set luna-base http://10.30.255.254:7050\n",
		"item node001 node001\nitem node002 node002\nitem node003 node003\n",
		"chain --autofree ${luna-base}/luna?step=discovery&hwdata=${hwdata:uristring}"} {
		if !strings.Contains(body, want) {
			t.Errorf("menu lacks %q:\n%s", want, body)
		}
	}
}

func TestDiscoveryByMAC(t *testing.T) {
	f := newFixture(t)
	f.expect("/luna?step=discovery", http.StatusBadRequest)
	f.expect("/luna?step=discovery&hwdata=||", http.StatusNotFound)
	f.expect("/luna?step=discovery&hwdata=|52:54:00:99:99:99|", http.StatusNotFound)
	f.expect("/luna?step=discovery&hwdata=|52:54:00:00:00:01|&type=pxelinux", http.StatusNotFound)
	if st := f.status("node001"); st != "" {
		t.Fatalf("failed discoveries changed the status to %q", st)
	}
	f.pack(false)
	if body := f.expect("/luna?step=discovery&hwdata=|52:54:00:00:00:01|", http.StatusOK); !strings.Contains(body,
		"imgfetch http://10.30.255.254:7050/boot/no-kernel-available") {
		t.Fatalf("unpacked image:\n%s", body)
	}
	f.pack(true)
	// From the node's own address (its BOOTIF address 10.30.0.1).
	body := f.expectFrom("/luna?step=discovery&hwdata=asset%20tag|52:54:00:00:00:01|52:54:00:00:00:01|", "10.30.0.1", http.StatusOK)
	for _, want := range []string{"#!ipxe", "luna.node=node001", "luna.bootproto=static", "luna.mac=52:54:00:00:00:01",
		"luna.ip=10.30.0.1/16", "luna.hostname=node001.cluster", "imgfetch -n kernel http://10.30.255.254:7050/boot/compute-vmlinuz-5.10.0-9-amd64"} {
		if !strings.Contains(body, want) {
			t.Errorf("boot script lacks %q:\n%s", want, body)
		}
	}
	if f.status("node001") != "boot.request" {
		t.Fatalf("status = %q, want boot.request", f.status("node001"))
	}
	body = f.expectFrom("/luna?step=discovery&hwdata=|52:54:00:00:00:01|&type=syslinux", "10.30.0.1", http.StatusOK)
	if !strings.Contains(body, "KERNEL http://10.30.255.254:7050/boot/compute-vmlinuz-5.10.0-9-amd64") ||
		!regexp.MustCompile(`luna\.token=[0-9a-f]{32} `).MatchString(body) {
		t.Fatalf("syslinux script:\n%s", body)
	}
}

func TestDiscoveryManualChoice(t *testing.T) {
	f := newFixture(t)
	f.expect("/luna?step=discovery&node=nope&hwdata=|52:54:00:00:00:02|", http.StatusBadRequest)
	// The boot NIC's ${mac} (second token) is bound, not net1's.
	body := f.expect("/luna?step=discovery&node=node002&hwdata=|52:54:00:00:00:02|52:54:00:00:00:09|52:54:00:00:00:02|", http.StatusOK)
	if !strings.Contains(body, "luna.node=node002") {
		t.Fatalf("boot script:\n%s", body)
	}
	out := f.luna("node", "show", "node002", "-o", "json")
	if !strings.Contains(out, `"mac": "52:54:00:00:00:02"`) {
		t.Fatalf("MAC not bound: %s", out)
	}
	body = f.expect("/luna?step=discovery&hwdata=|52:54:00:00:00:02|", http.StatusOK)
	if !strings.Contains(body, "luna.node=node002") {
		t.Fatalf("not found by the bound MAC:\n%s", body)
	}
}

func TestDiscoveryBySwitchPort(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var sw store.Switch
	if err := f.st.GetByName(ctx, store.Switches, "switch01", &sw); err != nil {
		t.Fatal(err)
	}
	learn := func(mac, port, portname string) {
		if err := f.st.Insert(ctx, store.SwitchMAC, store.LearnedMAC{ID: store.NewID(), Switch: sw.ID, MAC: mac,
			Port: port, PortName: portname, Updated: time.Now().UTC()}); err != nil {
			t.Fatal(err)
		}
	}
	learn("52:54:00:00:00:03", "5", "Gi1/0/5")
	// An upper-case MAC from iPXE still matches (1.2 bug 2).
	body := f.expect("/luna?step=discovery&hwdata=|52:54:00:00:00:03|", http.StatusOK)
	if !strings.Contains(body, "luna.node=node003") {
		t.Fatalf("not found by port name:\n%s", body)
	}
	// Bridge port number: node002 configured with port "7".
	f.luna("node", "change", "node002", "-s", "switch01", "-p", "7")
	learn("52:54:00:00:00:0a", "7", "Gi1/0/7")
	body = f.expect("/luna?step=discovery&hwdata=|52:54:00:00:00:0A|", http.StatusOK)
	if !strings.Contains(body, "luna.node=node002") || !strings.Contains(body, "luna.mac=52:54:00:00:00:0a") {
		t.Fatalf("not found by bridge port number:\n%s", body)
	}
}

func TestInstall(t *testing.T) {
	f := newFixture(t)
	f.expect("/luna?step=install", http.StatusBadRequest)
	f.expect("/luna?step=install&node=nope", http.StatusBadRequest)
	// Not from the node and no token.
	if rec := f.get("/luna?step=install&node=node001", "192.0.2.7"); rec.Code != http.StatusForbidden {
		t.Fatalf("install from a stranger: %d, want 403", rec.Code)
	}
	if rec := f.get("/luna?step=install&node=node001&status=install.success", "192.0.2.7"); rec.Code != http.StatusForbidden {
		t.Fatalf("status from a stranger: %d, want 403", rec.Code)
	}
	// From the node's own address: unpacked image -> 404.
	f.pack(false)
	if rec := f.get("/luna?step=install&node=node001", "10.30.0.1"); rec.Code != http.StatusNotFound {
		t.Fatalf("install of an unpacked image: %d, want 404", rec.Code)
	}
	f.pack(true)
	boot := f.expectFrom("/luna?step=discovery&hwdata=|52:54:00:00:00:01|", "10.30.0.1", http.StatusOK)
	token := regexp.MustCompile(`luna\.token=([0-9a-f]{32})`).FindStringSubmatch(boot)
	if token == nil {
		t.Fatalf("no token in the boot script:\n%s", boot)
	}
	rec := f.get("/luna?step=install&node=node001&token="+token[1], "192.0.2.7")
	if rec.Code != http.StatusOK {
		t.Fatalf("install with the boot token: %d %s", rec.Code, rec.Body.String())
	}
	script := rec.Body.String()
	for _, want := range []string{"#!/bin/bash", "LUNA_TOKEN='" + token[1] + "'", "LUNA_TORRENT='6d3e0ad6.torrent'",
		"ipmitool lan set 1 ipaddr 10.31.0.1", "update_status install.success"} {
		if !strings.Contains(script, want) {
			t.Errorf("install script lacks %q", want)
		}
	}
	if f.status("node001") != "install.request" {
		t.Fatalf("status = %q", f.status("node001"))
	}
	if rec := f.get("/luna?step=install&node=node001&token=00000000000000000000000000000000", "192.0.2.7"); rec.Code != http.StatusForbidden {
		t.Fatalf("a wrong token: %d, want 403", rec.Code)
	}
	if rec := f.get("/luna?step=install&node=node001&token="+token[1]+"&status=install.download", "192.0.2.7"); rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Fatalf("status report: %d %q", rec.Code, rec.Body.String())
	}
	if f.status("node001") != "install.download" {
		t.Fatalf("status = %q", f.status("node001"))
	}
	// While it downloads, node list and show add the tracker's percentage
	// and ages, on lweb's clock: the status was stored at reported, the
	// tracker heard the node a second later, and 7 s have passed.
	reported := f.clock.Now()
	if err := f.st.UpsertPeer(context.Background(), store.TrackerPeer{InfoHash: strings.Repeat("ab", 20), IP: "10.30.0.1",
		Port: 6881, PeerID: luna.PeerIDHex("node001.cluster"), Updated: reported.UTC().Add(time.Second),
		Downloaded: 256, Left: 768}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(7 * time.Second)
	svc := luna.NewService(f.st)
	svc.Now = f.clock.Now
	views, err := svc.NodeViews(context.Background(), "", []string{"node001"})
	if err != nil || len(views) != 1 || views[0].Status == nil {
		t.Fatalf("node views: %v %+v", err, views)
	}
	if got, want := views[0].Status.Text(), "install.download (25.00% / last update 6sec) - 0:00:07"; got != want {
		t.Fatalf("node show's status: %q, want %q", got, want)
	}
	if out := f.luna("node", "show", "node001"); !strings.Contains(out, "install.download (25.00% / last update ") {
		t.Fatalf("node show lacks the download percentage:\n%s", out)
	}
	if out := f.luna("node", "list", "-o", "json"); !strings.Contains(out, `"download_percent": 25`) {
		t.Fatalf("node list -o json lacks download_percent:\n%s", out)
	}
	if rec := f.get("/luna?step=install&node=node001&status=bad%3Bstep", "10.30.0.1"); rec.Code != http.StatusBadRequest {
		t.Fatalf("invalid status: %d, want 400", rec.Code)
	}
	// The compatibility switch opens it to anyone, as 1.2.
	f.luna("cluster", "change", "--insecure_install", "y")
	f.clock.Advance(clusterTTL)
	if rec := f.get("/luna?step=install&node=node002&status=install.unpack", "192.0.2.7"); rec.Code != http.StatusOK {
		t.Fatalf("insecure_install: %d", rec.Code)
	}
}

func TestStaticAndMetrics(t *testing.T) {
	f := newFixture(t)
	if err := os.WriteFile(filepath.Join(f.path, "boot", "k1"), []byte("kernel bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(f.path, "torrents", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if body := f.expect("/boot/k1", http.StatusOK); body != "kernel bytes" {
		t.Fatalf("/boot/k1 = %q", body)
	}
	f.expect("/boot/missing", http.StatusNotFound)
	f.expect("/boot/", http.StatusNotFound)
	f.expect("/torrents/sub", http.StatusNotFound)
	if rec := f.get("/boot/../luna.conf", ""); rec.Code == http.StatusOK {
		t.Fatal("/boot/../luna.conf must not be served")
	}
	f.expect("/luna.conf", http.StatusNotFound)
	f.expect("/boot/..%2fluna.conf", http.StatusNotFound)
	f.expectFrom("/luna?step=discovery&hwdata=|52:54:00:00:00:01|", "10.30.0.1", http.StatusOK)
	m := f.expect("/metrics", http.StatusOK)
	for _, want := range []string{`luna_http_requests_total{code="200",route="/boot/"} 1`,
		`luna_http_requests_total{code="404",route="/boot/"}`, `luna_http_bytes_served_total{dir="boot"} 12`,
		`luna_nodes{status="boot.request"} 1`, `luna_nodes{status="none"} 2`, "luna_node_status_pending 0"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q:\n%s", want, m)
		}
	}
	if !strings.Contains(f.log.String(), "uri=/boot/k1 status=200") {
		t.Errorf("no access log line:\n%s", f.log.String())
	}
	_ = io.Discard
}

func TestTrackerMounted(t *testing.T) {
	f := newFixture(t)
	ih := strings.Repeat("%ab", 20)
	rec := f.get("/announce?info_hash="+ih+"&peer_id=-qB0000-000000000000&port=6881&left=0&event=started", "10.30.0.1")
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Body.String(), "d") || strings.Contains(rec.Body.String(), "failure") {
		t.Fatalf("announce: %d %q", rec.Code, rec.Body.String())
	}
	rec = f.get("/announce?info_hash=%ab&peer_id=-qB0000-000000000000&port=6881", "10.30.0.1")
	if !strings.Contains(rec.Body.String(), "failure reason") {
		t.Fatalf("a short info_hash must give a failure reason: %q", rec.Body.String())
	}
	if m := f.expect("/metrics", http.StatusOK); !strings.Contains(m, "luna_tracker_announces_total 2") {
		t.Fatalf("announces not counted:\n%s", m)
	}
	if body := f.expect("/scrape", http.StatusOK); !strings.Contains(body, "8:completei1e") {
		t.Fatalf("scrape: %q", body)
	}
}
