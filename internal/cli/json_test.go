package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/clustervision/luna-go/internal/testutil"
)

// jsonEnv runs `luna` in-process against a fresh database of its own.
type jsonEnv struct {
	t   *testing.T
	env map[string]string
	dir string
}

func newJSONEnv(t *testing.T) *jsonEnv {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "luna.conf")
	if err := os.WriteFile(conf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return &jsonEnv{t: t, dir: dir, env: map[string]string{
		"LUNA_MONGO_URI": testutil.URI(),
		"LUNA_DB":        testutil.NewDatabase(),
		"LUNA_CONF":      conf,
		"LUNA_LOGDIR":    filepath.Join(dir, "log"),
	}}
}

// luna runs one command that must succeed and returns its stdout.
func (e *jsonEnv) luna(args ...string) []byte {
	e.t.Helper()
	var out, errb bytes.Buffer
	io := IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(k string) string { return e.env[k] }}
	if code := Main(context.Background(), args, io); code != 0 {
		e.t.Fatalf("luna %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
	}
	if errb.Len() != 0 {
		e.t.Errorf("luna %s: stderr %q", strings.Join(args, " "), errb.String())
	}
	return out.Bytes()
}

// object parses the output of a show verb: exactly one JSON object.
func (e *jsonEnv) object(args ...string) map[string]any {
	e.t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.luna(args...), &m); err != nil {
		e.t.Fatalf("luna %s: not one JSON object: %v", strings.Join(args, " "), err)
	}
	return m
}

// array parses the output of a list verb: a JSON array of objects.
func (e *jsonEnv) array(args ...string) []map[string]any {
	e.t.Helper()
	out := e.luna(args...)
	var a []map[string]any
	if err := json.Unmarshal(out, &a); err != nil {
		e.t.Fatalf("luna %s: not a JSON array of objects: %v\n%s", strings.Join(args, " "), err, out)
	}
	if a == nil {
		e.t.Fatalf("luna %s: null instead of an array", strings.Join(args, " "))
	}
	return a
}

// keys checks that m has every documented field (docs/json.md); fields may
// be added, never removed or renamed.
func keys(t *testing.T, what string, m map[string]any, want ...string) {
	t.Helper()
	var missing []string
	for _, k := range want {
		if _, ok := m[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		var got []string
		for k := range m {
			got = append(got, k)
		}
		sort.Strings(got)
		t.Errorf("%s: documented fields %v missing from %v", what, missing, got)
	}
}

// fields checks values; JSON numbers are float64.
func fields(t *testing.T, what string, m map[string]any, want map[string]any) {
	t.Helper()
	for k, w := range want {
		if g, ok := m[k]; !ok || !reflect.DeepEqual(g, w) {
			t.Errorf("%s: %s = %#v, want %#v", what, k, g, w)
		}
	}
}

var (
	clusterFields = []string{"name", "nodeprefix", "nodedigits", "user", "path", "debug", "cluster_ips",
		"frontend_address", "frontend_port", "frontend_https", "https_cert", "https_key", "server_port",
		"tracker_interval", "tracker_min_interval", "tracker_maxpeers", "torrent_listen_port_min",
		"torrent_listen_port_max", "torrent_pidfile", "torrent_soft_timeout", "torrent_hard_timeout", "lweb_num_proc", "lweb_pidfile", "named_include_file",
		"named_zone_dir", "dhcp_net", "dhcp_range_start", "dhcp_range_end", "comment"}
	networkFields  = []string{"name", "network", "prefix", "netmask", "version", "ns_hostname", "ns_ip", "include", "rev_include", "comment"}
	bmcsetupFields = []string{"name", "user", "password", "userid", "netchannel", "mgmtchannel", "comment"}
	switchFields   = []string{"name", "ip", "network", "oid", "read", "rw", "comment"}
	otherdevFields = []string{"name", "connected", "comment"}
)

// TestJSONOutput reads back the -o json output of every list and show verb
// of cluster, network, bmcsetup, switch and otherdev: the documented fields,
// addresses as text and references by name.
func TestJSONOutput(t *testing.T) {
	e := newJSONEnv(t)

	// Before anything exists lists are empty arrays, not null.
	for _, obj := range []string{"network", "bmcsetup", "switch", "otherdev"} {
		if a := e.array(obj, "list", "-o", "json"); len(a) != 0 {
			t.Errorf("%s list on an empty database: %v", obj, a)
		}
	}

	e.luna("cluster", "init", "--frontend_address", "10.30.255.254", "--user", "root", "--path", e.dir)
	e.luna("network", "add", "-n", "cluster", "-N", "10.30.0.0", "-P", "16", "--ns_hostname", "master")
	e.luna("network", "add", "-n", "ipmi", "-N", "10.31.0.0", "-P", "16", "--ns_hostname", "master", "--ns_ip", "10.31.0.1")
	e.luna("network", "add", "-n", "v6", "-N", "fdee::", "-P", "64", "--ns_hostname", "ns6")
	e.luna("bmcsetup", "add", "-n", "base")
	e.luna("bmcsetup", "add", "-n", "custom", "-u", "admin", "-p", "secret", "-I", "4", "-N", "0", "-M", "2")
	e.luna("switch", "add", "-n", "switch01", "-N", "ipmi", "-i", "10.31.253.21")
	e.luna("switch", "add", "-n", "switch02", "-N", "cluster", "-i", "10.30.253.22", "-r", "pub", "-w", "priv", "-o", ".1.3.6.1.2.1.17.4.3.1.2")
	e.luna("otherdev", "add", "-n", "pdu01", "-N", "ipmi", "-i", "10.31.253.50")
	e.luna("otherdev", "change", "pdu01", "-N", "cluster", "-i", "10.30.0.50")
	e.luna("otherdev", "change", "pdu01", "-N", "v6", "-i", "fdee::50")
	e.luna("otherdev", "add", "-n", "pdu02", "-N", "cluster", "-i", "10.30.0.51")

	t.Run("cluster", func(t *testing.T) {
		c := e.object("cluster", "show", "-o", "json")
		keys(t, "cluster show", c, clusterFields...)
		fields(t, "cluster show", c, map[string]any{
			"name": "general", "frontend_address": "10.30.255.254", "frontend_port": 7050.0,
			"frontend_https": false, "nodeprefix": "node", "nodedigits": 3.0, "user": "root", "path": e.dir,
			"server_port": 7051.0, "cluster_ips": "", "dhcp_net": "", "dhcp_range_start": "", "comment": "",
		})
		e.luna("cluster", "change", "--frontend_https", "yes", "--frontend_port", "8080", "--cluster_ips", "127.0.0.1,10.30.255.253", "--frontend_address", "127.0.0.1")
		c = e.object("cluster", "show", "-o", "json")
		fields(t, "cluster show after change", c, map[string]any{
			"frontend_https": true, "frontend_port": 8080.0, "cluster_ips": "127.0.0.1,10.30.255.253", "frontend_address": "127.0.0.1",
		})
		if a := e.array("cluster", "listmacs", "-o", "json"); len(a) != 0 {
			t.Errorf("cluster listmacs with nothing learned: %v", a)
		}
	})

	t.Run("network", func(t *testing.T) {
		list := e.array("network", "list", "-o", "json")
		if len(list) != 3 {
			t.Fatalf("network list: %d networks, want 3", len(list))
		}
		for i, name := range []string{"cluster", "ipmi", "v6"} {
			keys(t, "network list", list[i], networkFields...)
			if list[i]["name"] != name {
				t.Errorf("network list[%d] = %v, want %s (sorted by name)", i, list[i]["name"], name)
			}
		}
		fields(t, "network list cluster", list[0], map[string]any{
			"network": "10.30.0.0", "prefix": 16.0, "netmask": "255.255.0.0", "version": 4.0,
			"ns_hostname": "master", "ns_ip": "10.30.255.254", "include": "", "rev_include": "", "comment": "",
		})
		ipmi := e.object("network", "show", "ipmi", "-o", "json")
		keys(t, "network show", ipmi, networkFields...)
		fields(t, "network show ipmi", ipmi, map[string]any{"name": "ipmi", "network": "10.31.0.0", "ns_ip": "10.31.0.1"})
		v6 := e.object("network", "show", "-n", "v6", "-o", "json")
		fields(t, "network show v6", v6, map[string]any{
			"network": "fdee::", "prefix": 64.0, "netmask": "ffff:ffff:ffff:ffff::", "version": 6.0,
			"ns_hostname": "ns6", "ns_ip": "fdee::ffff:ffff:ffff:fffe",
		})

		hosts := e.array("network", "show", "ipmi", "--reservedips", "-o", "json")
		want := []map[string]any{ // ordered by address
			{"name": "master", "ip": "10.31.0.1"},
			{"name": "switch01", "ip": "10.31.253.21"},
			{"name": "pdu01", "ip": "10.31.253.50"},
		}
		if !reflect.DeepEqual(hosts, want) {
			t.Errorf("network show ipmi --reservedips -o json = %v, want %v", hosts, want)
		}
		if h := e.array("network", "show", "v6", "-r", "-o", "json"); len(h) != 2 || h[0]["ip"] != "fdee::50" || h[1]["name"] != "ns6" {
			t.Errorf("network show v6 -r -o json = %v", h)
		}
	})

	t.Run("bmcsetup", func(t *testing.T) {
		list := e.array("bmcsetup", "list", "-o", "json")
		if len(list) != 2 {
			t.Fatalf("bmcsetup list: %v", list)
		}
		for _, b := range list {
			keys(t, "bmcsetup list", b, bmcsetupFields...)
		}
		fields(t, "bmcsetup list base", list[0], map[string]any{
			"name": "base", "user": "ladmin", "password": "ladmin", "userid": 3.0, "netchannel": 1.0, "mgmtchannel": 1.0, "comment": "",
		})
		b := e.object("bmcsetup", "show", "custom", "-o", "json")
		keys(t, "bmcsetup show", b, bmcsetupFields...)
		fields(t, "bmcsetup show custom", b, map[string]any{
			"name": "custom", "user": "admin", "password": "secret", "userid": 4.0, "netchannel": 0.0, "mgmtchannel": 2.0,
		})
	})

	t.Run("switch", func(t *testing.T) {
		list := e.array("switch", "list", "-o", "json")
		if len(list) != 2 {
			t.Fatalf("switch list: %v", list)
		}
		for _, s := range list {
			keys(t, "switch list", s, switchFields...)
		}
		fields(t, "switch list switch01", list[0], map[string]any{
			"name": "switch01", "ip": "10.31.253.21", "network": "ipmi", "oid": ".1.3.6.1.2.1.17.7.1.2.2.1.2",
			"read": "public", "rw": "private", "comment": "",
		})
		s := e.object("switch", "show", "switch02", "-o", "json")
		keys(t, "switch show", s, switchFields...)
		fields(t, "switch show switch02", s, map[string]any{
			"name": "switch02", "ip": "10.30.253.22", "network": "cluster", "oid": ".1.3.6.1.2.1.17.4.3.1.2", "read": "pub", "rw": "priv",
		})
		// A hostlist naming several switches prints an array.
		two := e.array("switch", "show", "switch0[1-2]", "-o", "json")
		if len(two) != 2 || two[0]["name"] != "switch01" || two[1]["name"] != "switch02" {
			t.Errorf("switch show switch0[1-2] -o json = %v", two)
		}
		// References follow a rename of the network, by name.
		e.luna("network", "rename", "ipmi", "--nn", "bmc")
		defer e.luna("network", "rename", "bmc", "--nn", "ipmi")
		fields(t, "switch show after network rename", e.object("switch", "show", "switch01", "-o", "json"), map[string]any{"network": "bmc"})
	})

	t.Run("otherdev", func(t *testing.T) {
		list := e.array("otherdev", "list", "-o", "json")
		if len(list) != 2 {
			t.Fatalf("otherdev list: %v", list)
		}
		for _, d := range list {
			keys(t, "otherdev list", d, otherdevFields...)
		}
		want := []any{
			map[string]any{"network": "cluster", "ip": "10.30.0.50"},
			map[string]any{"network": "ipmi", "ip": "10.31.253.50"},
			map[string]any{"network": "v6", "ip": "fdee::50"},
		}
		fields(t, "otherdev list pdu01", list[0], map[string]any{"name": "pdu01", "connected": want, "comment": ""})
		fields(t, "otherdev list pdu02", list[1], map[string]any{
			"name": "pdu02", "connected": []any{map[string]any{"network": "cluster", "ip": "10.30.0.51"}},
		})
		d := e.object("otherdev", "show", "pdu01", "-o", "json")
		keys(t, "otherdev show", d, otherdevFields...)
		fields(t, "otherdev show pdu01", d, map[string]any{"name": "pdu01", "connected": want})

		// Detached from every network: an empty array, not null.
		e.luna("otherdev", "change", "pdu02", "-N", "cluster", "-i", "")
		fields(t, "otherdev show detached", e.object("otherdev", "show", "pdu02", "-o", "json"), map[string]any{"connected": []any{}})
		two := e.array("otherdev", "show", "pdu0[1-2]", "-o", "json")
		if len(two) != 2 || two[0]["name"] != "pdu01" || two[1]["name"] != "pdu02" {
			t.Errorf("otherdev show pdu0[1-2] -o json = %v", two)
		}
	})
}
