package bootnet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clustervision/luna-go/internal/bootnet"
	"github.com/clustervision/luna-go/internal/cli"
	"github.com/clustervision/luna-go/internal/luna"
	"github.com/clustervision/luna-go/internal/store"
	"github.com/clustervision/luna-go/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(testutil.WithDB(m).Run()) }

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// omapiKey is a fixed key, so that the golden files do not change.
const omapiKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// now is the fixed clock of the zone serials.
var now = time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)

type fixture struct {
	t   *testing.T
	st  *store.Store
	env map[string]string
	dir string
}

// luna runs the luna command and returns its stdout, stderr and exit code.
func (f *fixture) run(args ...string) (string, string, int) {
	return f.runIn("", args...)
}

func (f *fixture) runIn(stdin string, args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	io := cli.IO{In: strings.NewReader(stdin), Out: &out, Err: &errb, Getenv: func(k string) string { return f.env[k] }}
	code := cli.Main(context.Background(), args, io)
	return out.String(), errb.String(), code
}

func (f *fixture) luna(args ...string) string {
	f.t.Helper()
	out, errs, code := f.run(args...)
	if code != 0 {
		f.t.Fatalf("luna %s: exit %d: %s", strings.Join(args, " "), code, errs)
	}
	return out
}

// need fails the test when a program is missing, saying how to install it.
func need(t *testing.T, prog, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		for _, d := range []string{"/usr/sbin", "/sbin"} {
			if _, err := os.Stat(filepath.Join(d, prog)); err == nil {
				return filepath.Join(d, prog)
			}
		}
		t.Fatalf("%s is needed: apt-get install %s (or make deps)", prog, pkg)
	}
	return p
}

// newCluster builds a cluster mixing IPv4 and IPv6 networks, prefixes that
// are not octet or nibble boundaries, a group with two interfaces on one
// network, BMCs, a switch and another device.
func newCluster(t *testing.T) *fixture {
	t.Helper()
	st, db := testutil.Store(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "luna.conf")
	if err := os.WriteFile(conf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, st: st, dir: dir, env: map[string]string{
		"LUNA_MONGO_URI": testutil.URI(), "LUNA_DB": db, "LUNA_CONF": conf, "LUNA_LOGDIR": filepath.Join(dir, "log")}}
	img := filepath.Join(dir, "img")
	for _, d := range []string{filepath.Join(img, "lib/modules/5.10.0-9-amd64"), filepath.Join(img, "boot")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(img, "boot/vmlinuz-5.10.0-9-amd64"), []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.luna("cluster", "init", "--frontend_address", "10.141.255.254", "--user", "root", "--path", dir)
	f.luna("cluster", "change", "--named_include_file", filepath.Join(dir, "named.luna.zones"), "--named_zone_dir", filepath.Join(dir, "zones"))
	f.luna("network", "add", "-n", "cluster", "-N", "10.141.0.0", "-P", "16", "--ns_hostname", "master")
	f.luna("network", "add", "-n", "ipmi", "-N", "10.149.0.0", "-P", "19", "--ns_hostname", "master")
	f.luna("network", "add", "-n", "cluster6", "-N", "fd12:3456:789a:1::", "-P", "64", "--ns_hostname", "master")
	f.luna("network", "add", "-n", "storage6", "-N", "2001:db8:1::", "-P", "62", "--ns_hostname", "master")
	f.luna("network", "add", "-n", "edge", "-N", "192.0.2.128", "-P", "25", "--ns_hostname", "gw")
	if _, errs, code := f.runIn("www IN CNAME gw\n", "network", "change", "edge", "--include"); code != 0 {
		t.Fatal(errs)
	}
	if _, errs, code := f.runIn("; reverse note\n", "network", "change", "edge", "--rev_include"); code != 0 {
		t.Fatal(errs)
	}
	f.luna("network", "add", "-n", "tight_net", "-N", "10.151.0.0", "-P", "24", "--ns_hostname", "master")
	f.luna("osimage", "add", "-n", "compute", "-p", img)
	f.luna("bmcsetup", "add", "-n", "base")
	f.luna("group", "add", "-n", "compute", "-o", "compute", "-N", "cluster", "-b", "base", "-bn", "ipmi")
	f.luna("group", "change", "compute", "-i", "BOOTIF", "--setnet", "cluster6")
	f.luna("group", "change", "compute", "-i", "ib0", "-A")
	f.luna("group", "change", "compute", "-i", "ib0", "--setnet", "storage6")
	f.luna("group", "change", "compute", "-i", "eth2", "-A")
	f.luna("group", "change", "compute", "-i", "eth2", "--setnet", "edge")
	f.luna("group", "add", "-n", "gpu", "-o", "compute", "-N", "cluster")
	f.luna("group", "change", "gpu", "-i", "eth1.100", "-A")
	f.luna("group", "change", "gpu", "-i", "eth1.100", "--setnet", "cluster")
	f.luna("node", "add", "-g", "compute", "-n", "node[001-003]")
	f.luna("node", "add", "-g", "gpu", "-n", "gpu01")
	f.luna("node", "change", "node001", "--mac", "52:54:00:00:00:01")
	f.luna("node", "change", "node002", "--mac", "52:54:00:00:00:02")
	f.luna("node", "change", "gpu01", "--mac", "52:54:00:00:01:01")
	f.luna("switch", "add", "-n", "switch01", "-N", "ipmi", "-i", "10.149.31.200")
	f.luna("otherdev", "add", "-n", "pdu01", "-N", "ipmi", "-i", "10.149.31.201")
	f.luna("otherdev", "change", "pdu01", "-N", "storage6", "-i", "2001:db8:1:3::10")
	f.luna("otherdev", "add", "-n", "nas01", "-N", "tight_net", "-i", "10.151.0.10")
	var c store.Cluster
	if err := st.GetByName(context.Background(), store.Clusters, "general", &c); err != nil {
		t.Fatal(err)
	}
	if err := st.Set(context.Background(), store.Clusters, c.ID, map[string]any{"dhcp_omapi_key": omapiKey}); err != nil {
		t.Fatal(err)
	}
	return f
}

// env is a bootnet environment on the fixture's database without systemd,
// on a machine with the frontend address and localIP.
func (f *fixture) bootEnv(out *bytes.Buffer, localIP string) *bootnet.Env {
	s := luna.NewService(f.st)
	s.IsLocalIP = func(ip string) bool { return ip == localIP || ip == "10.141.255.254" }
	e := bootnet.NewEnv(s, out)
	e.Systemd = func() bool { return false }
	e.LookPath = func(string) (string, error) { return "", exec.ErrNotFound }
	e.Now = func() time.Time { return now }
	return e
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/bootnet -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func dhcpdCheck(t *testing.T, path string) {
	t.Helper()
	dhcpd := need(t, "dhcpd", "isc-dhcp-server")
	if out, err := exec.Command(dhcpd, "-t", "-4", "-cf", path).CombinedOutput(); err != nil {
		t.Fatalf("dhcpd -t -cf %s: %v\n%s\n%s", path, err, out, read(t, path))
	}
}

func keaCheck(t *testing.T, path string) {
	t.Helper()
	kea := need(t, "kea-dhcp4", "kea-dhcp4-server")
	if out, err := exec.Command(kea, "-t", path).CombinedOutput(); err != nil {
		t.Fatalf("kea-dhcp4 -t %s: %v\n%s\n%s", path, err, out, read(t, path))
	}
}

func TestMakeDHCP(t *testing.T) {
	f := newCluster(t)
	conf := filepath.Join(f.dir, "dhcpd.conf")
	out := f.luna("cluster", "makedhcp", "-N", "cluster", "-s", "10.141.128.1", "-e", "10.141.129.254", "--file", conf)
	if !strings.Contains(out, "3 hosts") {
		t.Errorf("makedhcp said %q", out)
	}
	golden(t, "dhcpd.conf.golden", read(t, conf))
	dhcpdCheck(t, conf)
	if _, err := os.Stat(bootnet.SecondaryFile(conf)); err == nil {
		t.Fatal("a secondary file without HA")
	}
	shown := f.luna("cluster", "show")
	for _, want := range []string{"[cluster]", "10.141.128.1", "10.141.129.254"} {
		if !strings.Contains(shown, want) {
			t.Errorf("cluster show lacks %s:\n%s", want, shown)
		}
	}
	// An override template in <cluster path>/templates replaces the built-in one.
	tdir := filepath.Join(f.dir, "templates")
	if err := os.MkdirAll(tdir, 0o755); err != nil {
		t.Fatal(err)
	}
	tmpl := filepath.Join(tdir, "dhcpd.conf.tmpl")
	if err := os.WriteFile(tmpl, []byte("subnet {{.Network}} netmask {{.Netmask}} {\n    range {{.RangeStart}} {{.RangeEnd}};\n}\n{{range .Hosts}}host {{.Name}} { hardware ethernet {{.MAC}}; fixed-address {{.IP}}; }\n{{end}}"), 0o644); err != nil {
		t.Fatal(err)
	}
	out = f.luna("cluster", "makedhcp", "--file", conf)
	if !strings.Contains(out, "Using the template "+tmpl) || !bytes.HasPrefix(read(t, conf), []byte("subnet 10.141.0.0 netmask 255.255.0.0 {\n")) {
		t.Fatalf("the override template was not used: %s\n%s", out, read(t, conf))
	}
	dhcpdCheck(t, conf)
	if err := os.WriteFile(tmpl, []byte("{{.NoSuchField}}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := f.run("cluster", "makedhcp", "--file", conf); code != 1 || !strings.Contains(errs, "NoSuchField") {
		t.Fatalf("a template with an unknown field: exit %d, %s", code, errs)
	}
	if err := os.Remove(tmpl); err != nil {
		t.Fatal(err)
	}

	// Kea, from the stored range.
	kea := filepath.Join(f.dir, "kea-dhcp4.conf")
	f.luna("cluster", "makedhcp", "--format", "kea", "--file", kea)
	golden(t, "kea-dhcp4.conf.golden", read(t, kea))
	keaCheck(t, kea)

	// HA: identical copies without --native_dhcp_ha, failover peers with it.
	f.luna("cluster", "change", "--cluster_ips", "10.141.255.251,10.141.255.252")
	var buf bytes.Buffer
	e := f.bootEnv(&buf, "10.141.255.252")
	if err := bootnet.MakeDHCP(context.Background(), e, bootnet.DHCPRequest{File: conf}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(read(t, conf), read(t, bootnet.SecondaryFile(conf))) {
		t.Fatal("without --native_dhcp_ha both masters get the same file")
	}
	for _, format := range []string{bootnet.FormatISC, bootnet.FormatKea} {
		file := conf
		if format == bootnet.FormatKea {
			file = kea
		}
		r := bootnet.DHCPRequest{File: file, Format: format, DHCPOptions: luna.DHCPOptions{NativeHA: true}}
		if err := bootnet.MakeDHCP(context.Background(), e, r); err != nil {
			t.Fatal(err)
		}
		golden(t, format+"-ha-primary.golden", read(t, file))
		golden(t, format+"-ha-secondary.golden", read(t, bootnet.SecondaryFile(file)))
		for _, p := range []string{file, bootnet.SecondaryFile(file)} {
			if format == bootnet.FormatKea {
				keaCheck(t, p)
			} else {
				dhcpdCheck(t, p)
			}
		}
	}
	if !strings.Contains(buf.String(), "The DHCP server reads /etc/dhcp/dhcpd.conf, not "+conf+": it was not restarted.") {
		t.Errorf("no message about the DHCP server not restarted: %s", buf.String())
	}
	// Native HA from a machine that is neither master is refused.
	e2 := f.bootEnv(&buf, "10.0.0.1")
	err := bootnet.MakeDHCP(context.Background(), e2, bootnet.DHCPRequest{File: conf, DHCPOptions: luna.DHCPOptions{NativeHA: true}})
	if err == nil || !strings.Contains(err.Error(), "No proper cluster IPs") {
		t.Fatalf("native HA on no master: %v", err)
	}
}

// dhcpClaims counts the claims of the DHCP range.
func (f *fixture) dhcpClaims() int {
	f.t.Helper()
	a, err := f.st.FindAddresses(context.Background(), store.AddressFilter{Kind: store.KindDHCP})
	if err != nil {
		f.t.Fatal(err)
	}
	return len(a)
}

func TestDHCPRange(t *testing.T) {
	f := newCluster(t)
	conf := filepath.Join(f.dir, "dhcpd.conf")
	mk := func(args ...string) (string, int) {
		_, errs, code := f.run(append([]string{"cluster", "makedhcp", "--file", conf}, args...)...)
		return errs, code
	}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"-N", "cluster"}, "Network range should be specified"},
		{[]string{"-s", "10.141.0.10", "-e", "10.141.0.20"}, "Network should be specified"},
		{nil, "DHCP network should be specified."},
		{[]string{"-N", "cluster6", "-s", "fd12:3456:789a:1::10", "-e", "fd12:3456:789a:1::20"}, "Only IPv4 networks are supported."},
		{[]string{"-N", "ipmi", "-s", "10.149.0.10", "-e", "10.149.0.20"}, "Frontend IP does not belong to network."},
		{[]string{"-N", "cluster", "-s", "10.142.0.1", "-e", "10.141.0.20"}, "Start of the range '10.142.0.1' does not belong to network 'cluster' (--start_ip)"},
		{[]string{"-N", "cluster", "-s", "10.141.0.10", "-e", "10.141.255.255"}, "End of the range '10.141.255.255' does not belong to network 'cluster' (--end_ip)"},
		{[]string{"-N", "cluster", "-s", "10.141.0", "-e", "10.141.0.20"}, "Invalid IP '10.141.0' for --start_ip: not an IPv4 or IPv6 address"},
		{[]string{"-N", "cluster", "-s", "10.141.0.10", "-e", "10.141.0.300"}, "Invalid IP '10.141.0.300' for --end_ip: not an IPv4 or IPv6 address"},
		{[]string{"-N", "cluster", "-s", "10.141.0.20", "-e", "10.141.0.10"}, "End IP of the range should not be below the start."},
		{[]string{"-N", "cluster", "-s", "10.141.0.2", "-e", "10.141.0.20"}, "Unable to reserve new range: IP '10.141.0.2' is used by node 'node002'"},
		{[]string{"-N", "cluster", "-s", "10.141.255.200", "-e", "10.141.255.254"}, "includes the frontend address"},
		{[]string{"-N", "cluster", "-s", "10.141.0.10", "-e", "10.141.0.20", "--format", "xml"}, "Unknown DHCP configuration format"},
	} {
		errs, code := mk(c.args...)
		if code == 0 || !strings.Contains(errs, c.msg) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("makedhcp %v: exit %d, %q; want one line with %q", c.args, code, errs, c.msg)
		}
		if n := f.dhcpClaims(); n != 0 {
			t.Fatalf("makedhcp %v left %d range claims", c.args, n)
		}
	}
	if _, err := os.Stat(conf); err == nil {
		t.Fatal("a refused makedhcp wrote the file")
	}
	// A one-address range (refused by 1.2) is fine.
	if errs, code := mk("-N", "cluster", "-s", "10.141.0.10", "-e", "10.141.0.10"); code != 0 {
		t.Fatalf("one-address range: %s", errs)
	}
	if n := f.dhcpClaims(); n != 1 {
		t.Fatalf("%d claims for one address", n)
	}
	// A new range replaces the old one; the same range again changes nothing.
	for i := 0; i < 2; i++ {
		if errs, code := mk("-N", "cluster", "-s", "10.141.0.10", "-e", "10.141.0.29"); code != 0 {
			t.Fatalf("range: %s", errs)
		}
		if n := f.dhcpClaims(); n != 20 {
			t.Fatalf("%d claims for 20 addresses", n)
		}
	}
	// Nodes are never given an address of the range.
	f.luna("node", "add", "-g", "gpu", "-n", "gpu[02-12]")
	out := f.luna("network", "show", "cluster", "--reservedips")
	for i := 10; i <= 29; i++ {
		if strings.Contains(out, fmt.Sprintf("10.141.0.%d:", i)) {
			t.Fatalf("10.141.0.%d of the range was given to a node:\n%s", i, out)
		}
	}
	// The range keeps its network from being shrunk over it or deleted.
	if _, errs, code := f.run("network", "change", "cluster", "--reserve", "10.141.0.15"); code == 0 {
		t.Fatalf("reserved an address of the DHCP range: %s", errs)
	}
	// A range in another network releases the old one.
	f.luna("cluster", "change", "--frontend_address", "192.0.2.129")
	if errs, code := mk("-N", "edge", "-s", "192.0.2.200", "-e", "192.0.2.210"); code != 0 {
		t.Fatalf("range in edge: %s", errs)
	}
	if n := f.dhcpClaims(); n != 11 {
		t.Fatalf("%d claims after moving the range, want 11", n)
	}
	dhcpdCheck(t, conf)
}

// zoneFiles returns the zone files written, by name.
func zoneFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		out[e.Name()] = read(t, filepath.Join(dir, e.Name()))
	}
	return out
}

func TestMakeDNS(t *testing.T) {
	f := newCluster(t)
	var buf bytes.Buffer
	e := f.bootEnv(&buf, "")
	ctx := context.Background()
	if err := bootnet.MakeDNS(ctx, e); err != nil {
		t.Fatal(err)
	}
	zdir := filepath.Join(f.dir, "zones")
	inc := filepath.Join(f.dir, "named.luna.zones")
	golden(t, "named.luna.zones.golden", bytes.ReplaceAll(read(t, inc), []byte(zdir), []byte("/var/named")))
	zones := zoneFiles(t, zdir)
	for name, text := range zones {
		golden(t, "zones/"+name+".golden", text)
	}
	// 6 forward zones; reverse: 1 for the /16, 32 for the /19, 1 for the
	// /25, 1 for tight_net's /24, 1 for the /64, 4 for the /62.
	if len(zones) != 6+1+32+1+1+1+4 {
		t.Errorf("%d zone files, want 46", len(zones))
	}
	for _, want := range []string{"cluster.luna.zone", "ipmi.luna.zone", "edge.luna.zone", "cluster6.luna.zone", "storage6.luna.zone",
		"141.10.in-addr.arpa.luna.zone", "0.149.10.in-addr.arpa.luna.zone", "31.149.10.in-addr.arpa.luna.zone",
		"2.0.192.in-addr.arpa.luna.zone", "1.0.0.0.a.9.8.7.6.5.4.3.2.1.d.f.ip6.arpa.luna.zone",
		"0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.luna.zone", "3.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.luna.zone"} {
		if _, ok := zones[want]; !ok {
			t.Errorf("no zone file %s", want)
		}
	}
	if _, ok := zones["149.10.in-addr.arpa.luna.zone"]; ok {
		t.Error("the /19 got a /16 reverse zone covering its neighbours")
	}
	checkconf := need(t, "named-checkconf", "bind9-utils")
	if out, err := exec.Command(checkconf, "-z", inc).CombinedOutput(); err != nil {
		t.Fatalf("named-checkconf -z: %v\n%s", err, out)
	}
	checkzone := need(t, "named-checkzone", "bind9-utils")
	for file := range zones {
		zone := strings.TrimSuffix(file, ".luna.zone")
		names := "fail"
		if bytes.Contains(zones[file], []byte("_")) {
			names = "ignore" // as the include file says for these zones
		}
		if out, err := exec.Command(checkzone, "-k", names, "-n", "fail", zone, filepath.Join(zdir, file)).CombinedOutput(); err != nil {
			t.Errorf("named-checkzone %s: %v\n%s", zone, err, out)
		}
	}

	// Serials: unchanged zones keep theirs, changed ones increase, also
	// twice in the same second.
	serial := func(file string) string {
		for _, l := range strings.Split(string(read(t, filepath.Join(zdir, file))), "\n") {
			if fs := strings.Fields(l); len(fs) > 6 && fs[3] == "SOA" {
				return fs[6]
			}
		}
		t.Fatalf("no SOA in %s", file)
		return ""
	}
	first := fmt.Sprint(now.Unix())
	if got := serial("cluster.luna.zone"); got != first {
		t.Fatalf("serial %s, want %s", got, first)
	}
	if err := bootnet.MakeDNS(ctx, e); err != nil {
		t.Fatal(err)
	}
	if got := serial("cluster.luna.zone"); got != first {
		t.Fatalf("an unchanged zone got serial %s", got)
	}
	for i := 1; i <= 2; i++ {
		f.luna("node", "add", "-g", "gpu", "-n", fmt.Sprintf("gpu1%d", i))
		if err := bootnet.MakeDNS(ctx, e); err != nil {
			t.Fatal(err)
		}
		if got, want := serial("cluster.luna.zone"), fmt.Sprint(now.Unix()+int64(i)); got != want {
			t.Fatalf("change %d in the same second: serial %s, want %s", i, got, want)
		}
		if got := serial("ipmi.luna.zone"); got != first {
			t.Fatalf("ipmi zone changed serial without a change: %s", got)
		}
	}
	// A zone no network needs any more is removed.
	stale := filepath.Join(zdir, "old.luna.zone")
	if err := os.WriteFile(stale, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := bootnet.MakeDNS(ctx, e); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Fatal("a stale zone file was kept")
	}
	// Each forward zone holds the addresses of network show --reservedips.
	for _, net := range []string{"cluster", "ipmi", "storage6"} {
		text := string(read(t, filepath.Join(zdir, net+".luna.zone")))
		for _, l := range strings.Split(strings.TrimSpace(f.luna("network", "show", net, "--reservedips")), "\n") {
			i := strings.LastIndex(l, ":") // <ip>:<name>
			ip, name := l[:i], l[i+1:]
			rr := luna.DNSLabel(name) + "." + net + "."
			if !strings.Contains(text, rr) || !strings.Contains(text, ip) {
				t.Errorf("zone %s lacks %s %s", net, rr, ip)
			}
		}
	}
	namedServes(t, f.dir, inc)
}

// namedServes starts a real named on a loopback port with the include file
// and asks it with dig for a node's forward and reverse names.
func namedServes(t *testing.T, dir, inc string) {
	named := need(t, "named", "bind9")
	dig := need(t, "dig", "bind9-dnsutils")
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.LocalAddr().(*net.UDPAddr).Port
	l.Close()
	rundir := filepath.Join(dir, "named")
	if err := os.MkdirAll(rundir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(rundir, "named.conf")
	text := fmt.Sprintf(`options {
    directory "%[1]s";
    pid-file "%[1]s/named.pid";
    session-keyfile "%[1]s/session.key";
    listen-on port %[2]d { 127.0.0.1; };
    listen-on-v6 { none; };
    recursion no;
};
include "%[3]s";
`, rundir, port, inc)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var logb bytes.Buffer
	cmd := exec.Command(named, "-g", "-c", conf, "-n", "1")
	cmd.Stdout, cmd.Stderr = &logb, &logb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ask := func(args ...string) string {
		a := append([]string{"@127.0.0.1", "-p", fmt.Sprint(port), "+short", "+time=2", "+tries=2"}, args...)
		out, _ := exec.Command(dig, a...).Output()
		return strings.TrimSpace(string(out))
	}
	deadline := time.Now().Add(60 * time.Second)
	for ask("cluster", "SOA") == "" {
		if time.Now().After(deadline) {
			t.Fatalf("named did not answer:\n%s", logb.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, c := range []struct {
		q    []string
		want string
	}{
		{[]string{"node001.cluster", "A"}, "10.141.0.1"},
		{[]string{"-x", "10.141.0.1"}, "node001.cluster."},
		{[]string{"node001.ipmi", "A"}, "10.149.0.1"},
		{[]string{"-x", "10.149.0.1"}, "node001.ipmi."},
		{[]string{"node001.cluster6", "AAAA"}, "fd12:3456:789a:1::1"},
		{[]string{"-x", "fd12:3456:789a:1::1"}, "node001.cluster6."},
		{[]string{"-x", "2001:db8:1:3::10"}, "pdu01.storage6."},
		{[]string{"node001.edge", "A"}, "192.0.2.129"},
		{[]string{"www.edge", "CNAME"}, "gw.edge."},
		{[]string{"nas01.tight_net", "A"}, "10.151.0.10"},
		{[]string{"-x", "10.151.0.10"}, "nas01.tight_net."},
	} {
		got := ask(c.q...)
		for try := 0; try < 5 && got == ""; try++ { // a timeout on a loaded machine
			got = ask(c.q...)
		}
		if got != c.want {
			t.Errorf("dig %v: %q, want %q", c.q, got, c.want)
		}
	}
}

// netns runs ip, failing the test on error.
func netns(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestDHCPExchange runs dhcpd and then kea-dhcp4 with the generated
// configurations in a network namespace and asks them with busybox udhcpc
// from another: the node's MAC
// gets its fixed address, and the boot file follows the client's kind
// (BIOS PXE, UEFI PXE, UEFI HTTP boot, iPXE); an unknown MAC gets an
// address of the range.
func TestDHCPExchange(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the DHCP exchange needs root (network namespaces)")
	}
	need(t, "ip", "iproute2")
	busybox := need(t, "busybox", "busybox")
	st, db := testutil.Store(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "luna.conf")
	if err := os.WriteFile(conf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, st: st, dir: dir, env: map[string]string{
		"LUNA_MONGO_URI": testutil.URI(), "LUNA_DB": db, "LUNA_CONF": conf, "LUNA_LOGDIR": filepath.Join(dir, "log")}}
	f.luna("cluster", "init", "--frontend_address", "192.0.2.254", "--user", "root", "--path", dir)
	f.luna("network", "add", "-n", "cluster", "-N", "192.0.2.0", "-P", "24", "--ns_hostname", "master")
	if err := st.Insert(context.Background(), store.OSImages, store.OSImage{ID: store.NewID(), Name: "compute"}); err != nil {
		t.Fatal(err)
	}
	f.luna("group", "add", "-n", "compute", "-o", "compute", "-N", "cluster")
	f.luna("node", "add", "-g", "compute", "-n", "node[001-002]")
	f.luna("node", "change", "node002", "--mac", "52:54:00:00:00:02")
	f.luna("cluster", "makedhcp", "-N", "cluster", "-s", "192.0.2.100", "-e", "192.0.2.110", "--file", filepath.Join(dir, "dhcpd.conf"))

	// Names of this process: two test runs at once must not share them.
	srv, cli := fmt.Sprintf("dnssrv%d", os.Getpid()), fmt.Sprintf("dnscli%d", os.Getpid())
	netns(t, "netns", "add", srv)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", srv).Run() })
	netns(t, "netns", "add", cli)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", cli).Run() })
	netns(t, "-n", srv, "link", "add", "dns-s", "type", "veth", "peer", "name", "dns-c", "netns", cli)
	netns(t, "-n", srv, "addr", "add", "192.0.2.254/24", "dev", "dns-s")
	netns(t, "-n", srv, "link", "set", "dns-s", "up")
	netns(t, "-n", cli, "link", "set", "dns-c", "up")
	for _, format := range []string{bootnet.FormatISC, bootnet.FormatKea} {
		t.Run(format, func(t *testing.T) {
			netns(t, "-n", cli, "link", "set", "dns-c", "address", "52:54:00:00:00:02")
			server := startDHCP(t, f, format, srv)
			exchange(t, server, busybox, cli, dir)
		})
	}
}

// startDHCP writes the configuration in format and runs that server in
// namespace ns. Kea's lease file, control socket and pid file are moved to
// the test's directory; nothing else of the generated file is changed.
func startDHCP(t *testing.T, f *fixture, format, ns string) *bytes.Buffer {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, format+".conf")
	f.luna("cluster", "makedhcp", "--format", format, "--file", conf)
	var cmd *exec.Cmd
	switch format {
	case bootnet.FormatISC:
		leases := filepath.Join(dir, "dhcpd.leases")
		if err := os.WriteFile(leases, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		dhcpd := need(t, "dhcpd", "isc-dhcp-server")
		cmd = exec.Command("ip", "netns", "exec", ns, dhcpd, "-f", "-d", "-4", "-cf", conf, "-lf", leases, "-pf", filepath.Join(dir, "dhcpd.pid"), "dns-s")
	case bootnet.FormatKea:
		kea := need(t, "kea-dhcp4", "kea-dhcp4-server")
		var doc map[string]map[string]any
		if err := json.Unmarshal(read(t, conf), &doc); err != nil {
			t.Fatal(err)
		}
		d := doc["Dhcp4"]
		d["lease-database"].(map[string]any)["name"] = filepath.Join(dir, "leases.csv")
		d["control-socket"].(map[string]any)["socket-name"] = filepath.Join(dir, "ctrl")
		b, _ := json.Marshal(doc)
		if err := os.WriteFile(conf, b, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command("ip", "netns", "exec", ns, kea, "-c", conf)
		cmd.Env = append(os.Environ(), "KEA_PIDFILE_DIR="+dir, "KEA_LOCKFILE_DIR="+dir)
	}
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return &log
}

// exchange asks the DHCP server with udhcpc as each kind of client.
func exchange(t *testing.T, serverLog *bytes.Buffer, busybox, cli, dir string) {
	t.Helper()
	script := filepath.Join(dir, "udhcpc.sh")
	result := filepath.Join(dir, "udhcpc.out")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = bound ] && echo \"ip=$ip boot_file=$boot_file siaddr=$siaddr vendor=$vendor\" > "+result+"\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ask := func(extra ...string) string {
		t.Helper()
		_ = os.Remove(result)
		args := append([]string{"netns", "exec", cli, busybox, "udhcpc", "-f", "-q", "-n", "-i", "dns-c", "-s", script, "-t", "30", "-T", "1", "-O", "60"}, extra...)
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("udhcpc %v: %v\n%s\nserver:\n%s", extra, err, out, serverLog.String())
		}
		return strings.TrimSpace(string(read(t, result)))
	}
	hex := func(s string) string { return fmt.Sprintf("%x", s) }
	for _, c := range []struct {
		what  string
		extra []string
		want  string
	}{
		{"BIOS PXE", nil, "ip=192.0.2.2 boot_file=luna_undionly.kpxe siaddr=192.0.2.254 vendor="},
		{"UEFI PXE", []string{"-x", "0x5d:0007"}, "ip=192.0.2.2 boot_file=luna_ipxe.efi siaddr=192.0.2.254 vendor="},
		{"UEFI HTTP boot", []string{"-V", "HTTPClient:Arch:00016:UNDI:003001", "-x", "0x5d:0010"},
			"ip=192.0.2.2 boot_file=http://192.0.2.254:7050/boot/luna_ipxe.efi siaddr=192.0.2.254 vendor=HTTPClient"},
		{"iPXE", []string{"-x", "0x4d:" + hex("iPXE")}, "ip=192.0.2.2 boot_file=http://192.0.2.254:7050/luna?step=boot siaddr=192.0.2.254 vendor="},
	} {
		if got := ask(c.extra...); got != c.want {
			t.Errorf("%s: %q, want %q", c.what, got, c.want)
		}
	}
	netns(t, "-n", cli, "link", "set", "dns-c", "address", "02:00:00:00:00:99")
	got := ask()
	ip, err := netip.ParseAddr(strings.TrimPrefix(strings.Fields(got)[0], "ip="))
	if err != nil || ip.Less(netip.MustParseAddr("192.0.2.100")) || netip.MustParseAddr("192.0.2.110").Less(ip) {
		t.Errorf("unknown MAC: %q, want an address of 192.0.2.100-192.0.2.110", got)
	}
}

// TestRestart checks which daemon commands makedhcp and makedns run, with
// a recorder in place of systemctl and rndc (this machine has no systemd,
// and the tests must not restart its daemons).
func TestRestart(t *testing.T) {
	f := newCluster(t)
	ctx := context.Background()
	conf := filepath.Join(f.dir, "dhcpd.conf")
	f.luna("cluster", "makedhcp", "-N", "cluster", "-s", "10.141.128.1", "-e", "10.141.129.254", "--file", conf)
	var out bytes.Buffer
	e := f.bootEnv(&out, "")
	e.DaemonFiles = map[string]string{bootnet.FormatISC: conf}
	var ran []string
	fail := map[string]bool{}
	e.Run = func(_ context.Context, name string, args ...string) ([]byte, error) {
		cmd := strings.Join(append([]string{name}, args...), " ")
		ran = append(ran, cmd)
		switch {
		case fail[cmd]:
			return []byte("Job failed.\n"), fmt.Errorf("exit status 1")
		case strings.HasPrefix(cmd, "systemctl show") && strings.HasSuffix(cmd, "dhcpd.service"):
			return []byte("loaded\n"), nil
		case strings.HasPrefix(cmd, "systemctl show"):
			return []byte("not-found\n"), nil
		}
		return nil, nil
	}
	e.Systemd = func() bool { return true }
	if err := bootnet.MakeDHCP(ctx, e, bootnet.DHCPRequest{File: conf}); err != nil {
		t.Fatal(err)
	}
	want := "systemctl show --property=LoadState --value isc-dhcp-server.service|systemctl show --property=LoadState --value dhcpd.service|systemctl restart dhcpd.service"
	if got := strings.Join(ran, "|"); got != want {
		t.Errorf("makedhcp ran %s, want %s", got, want)
	}
	fail["systemctl restart dhcpd.service"] = true
	err := bootnet.MakeDHCP(ctx, e, bootnet.DHCPRequest{File: conf})
	if err == nil || !errors.Is(err, luna.ErrRefused) || !strings.Contains(err.Error(), "Unable to restart the DHCP server (dhcpd.service): Job failed.") {
		t.Errorf("a failed restart: %v", err)
	}
	// makedns: rndc first; systemd when rndc cannot reach named.
	e.LookPath = func(string) (string, error) { return "/usr/sbin/rndc", nil }
	ran = nil
	if err := bootnet.MakeDNS(ctx, e); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ran, "|"); got != "rndc reload" {
		t.Errorf("makedns ran %s", got)
	}
	f.luna("node", "add", "-g", "gpu", "-n", "gpu02") // a change, so that named is reloaded again
	fail["rndc reload"] = true
	ran = nil
	if err := bootnet.MakeDNS(ctx, e); err != nil {
		t.Fatal(err)
	}
	want = "rndc reload|systemctl show --property=LoadState --value named.service|systemctl show --property=LoadState --value bind9.service"
	if got := strings.Join(ran, "|"); got != want {
		t.Errorf("makedns ran %s, want %s", got, want)
	}
	if !strings.Contains(out.String(), "None of named.service, bind9.service is installed: named was not reloaded.") {
		t.Errorf("no message: %s", out.String())
	}
	// Nothing changed: nothing reloaded.
	ran = nil
	if err := bootnet.MakeDNS(ctx, e); err != nil || len(ran) != 0 {
		t.Errorf("an unchanged makedns ran %v (%v)", ran, err)
	}
}
