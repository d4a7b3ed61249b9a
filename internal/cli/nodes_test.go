package cli

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/clustervision/luna-go/internal/luna"
)

// nthAddr is the address n above base.
func nthAddr(t *testing.T, base string, n int) string {
	t.Helper()
	a := netip.MustParseAddr(base).As16()
	carry := n
	for i := 15; i >= 0 && carry > 0; i-- {
		v := int(a[i]) + carry
		a[i] = byte(v)
		carry = v >> 8
	}
	addr := netip.AddrFrom16(a)
	if netip.MustParseAddr(base).Is4() {
		addr = addr.Unmap()
	}
	return addr.String()
}

// TestAddThousandNodes: `node add -n node[0001-1000]` in a group with BOOTIF
// and BMC in two /16 networks and an IPv6-only interface gives the nodes
// consecutive addresses in name order on every network, in one command.
func TestAddThousandNodes(t *testing.T) {
	const n = 1000
	env, _, _ := nodeCluster(t)

	start := time.Now()
	env.mustRun(t, "node", "add", "-g", "compute", "-n", fmt.Sprintf("node[0001-%04d]", n))
	t.Logf("node add of %d nodes: %v", n, time.Since(start))

	start = time.Now()
	code, out, errs := env.run("node", "list", "-o", "json")
	t.Logf("node list -o json of %d nodes: %v", n, time.Since(start))
	if code != 0 || errs != "" {
		t.Fatalf("node list: exit %d, stderr %q", code, errs)
	}
	var views []luna.NodeView
	if err := json.Unmarshal([]byte(out), &views); err != nil {
		t.Fatalf("node list -o json: %v", err)
	}
	if len(views) != n {
		t.Fatalf("%d nodes listed, want %d", len(views), n)
	}
	bad := 0
	for i, v := range views {
		k := i + 1
		want := map[string]luna.NodeIface{
			"BMC":    {Name: "BMC", IPv4: nthAddr(t, "10.31.0.0", k)},
			"BOOTIF": {Name: "BOOTIF", IPv4: nthAddr(t, "10.30.0.0", k)},
			"ib0":    {Name: "ib0", IPv6: nthAddr(t, "fd00:30::", k)},
		}
		ok := v.Name == fmt.Sprintf("node%04d", k) && v.Group == "compute" && len(v.Interfaces) == len(want)
		for _, ifc := range v.Interfaces {
			ok = ok && ifc == want[ifc.Name]
		}
		if !ok {
			if bad++; bad <= 5 {
				t.Errorf("node %d: %+v, want name node%04d with %v", k, v, k, want)
			}
		}
	}
	if views[n-1].Interfaces[1].IPv4 != "10.30.3.232" || views[n-1].Interfaces[2].IPv6 != "fd00:30::3e8" {
		t.Errorf("last node: %+v", views[n-1])
	}

	for _, net := range []string{"cluster", "ipmi", "v6"} {
		code, out, errs = env.run("network", "show", net, "--reservedips")
		if code != 0 || errs != "" {
			t.Fatalf("network show %s --reservedips: exit %d, stderr %q", net, code, errs)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != n+1 {
			t.Errorf("network show %s --reservedips: %d lines, want %d", net, len(lines), n+1)
			continue
		}
		if !strings.HasSuffix(lines[0], ":node0001") || !strings.HasSuffix(lines[n-1], ":node1000") || !strings.HasSuffix(lines[n], ":master") {
			t.Errorf("network show %s --reservedips: first %q, last node %q, then %q", net, lines[0], lines[n-1], lines[n])
		}
	}
	code, out, _ = env.run("network", "show", "cluster", "--reservedips")
	if code == 0 && !strings.Contains(out, "\n10.30.3.232:node1000\n") {
		t.Errorf("10.30.3.232 is not node1000's")
	}
}

// TestNodeScriptsBug40: the scripts that crashed 1.2's templates render: the
// boot script of a static node whose BOOTIF has only an IPv6 network, and
// the install script of a group with torrent_if set.
func TestNodeScriptsBug40(t *testing.T) {
	env, dir := newLunaEnv(t)
	env.mustRun(t, "cluster", "init", "--frontend_address", "10.30.255.254", "--user", "root", "--path", dir)
	env.mustRun(t, "osimage", "add", "-n", "compute", "-p", osimageDir(t, dir))
	env.mustRun(t, "network", "add", "-n", "v6", "-N", "fd00:30::", "-P", "64", "--ns_hostname", "master")
	env.mustRun(t, "network", "add", "-n", "ib", "-N", "10.32.0.0", "-P", "16", "--ns_hostname", "master")
	env.mustRun(t, "group", "add", "-n", "v6only", "-o", "compute", "-N", "v6")
	env.mustRun(t, "group", "change", "v6only", "-i", "ib0", "--add")
	env.mustRun(t, "group", "change", "v6only", "-i", "ib0", "--setnet", "ib")
	env.mustRun(t, "group", "change", "v6only", "--torrent_if", "ib0")
	env.mustRun(t, "node", "add", "-g", "v6only", "-n", "node001")
	env.mustRun(t, "node", "change", "node001", "--mac", "00:11:22:33:44:55")
	// As if packed (pack needs root and dracut).
	st, _ := openDump(t, env)
	st.Set(luna.OSImages, "compute", map[string]any{"kernfile": "compute-vmlinuz-5.10.0-9-amd64",
		"initrdfile": "compute-initramfs-5.10.0-9-amd64", "tarball": "abc", "torrent": "abc"})
	code, out, errs := env.run("node", "show", "node001", "--script", "boot")
	if code != 0 {
		t.Fatalf("node show --script boot: exit %d, stderr %q", code, errs)
	}
	for _, want := range []string{"luna.bootproto=static", "luna.mac=00:11:22:33:44:55", "fd00:30::1/64", "luna.node=node001",
		"luna.hostname=node001.v6", "/boot/compute-vmlinuz-5.10.0-9-amd64"} {
		if !strings.Contains(out, want) {
			t.Errorf("boot script lacks %q:\n%s", want, out)
		}
	}
	code, out, errs = env.run("node", "show", "node001", "--script", "install")
	if code != 0 {
		t.Fatalf("node show --script install: exit %d, stderr %q", code, errs)
	}
	for _, want := range []string{"10.32.0.1", "abc.torrent", "ib0"} {
		if !strings.Contains(out, want) {
			t.Errorf("install script lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "{[") || strings.Contains(out, "{{") {
		t.Errorf("install script has template text left:\n%s", out)
	}
}

// TestAutoName: a generated name is the node prefix and one above the
// highest number after exactly that prefix (1.2 bug 34 stripped the prefix
// as a set of characters, so done5 counted as 5), padded to nodedigits.
func TestAutoName(t *testing.T) {
	env, dir := newLunaEnv(t)
	env.mustRun(t, "cluster", "init", "--frontend_address", "10.30.255.254", "--user", "root", "--path", dir)
	env.mustRun(t, "osimage", "add", "-n", "compute", "-p", osimageDir(t, dir))
	env.mustRun(t, "network", "add", "-n", "cluster", "-N", "10.30.0.0", "-P", "16", "--ns_hostname", "master")
	env.mustRun(t, "group", "add", "-n", "compute", "-o", "compute", "-N", "cluster")
	env.mustRun(t, "node", "add", "-g", "compute", "-n", "done5,nodex,xnode7,node7x")
	names := func() []string {
		code, out, errs := env.run("node", "list", "-o", "json")
		if code != 0 {
			t.Fatalf("node list: exit %d, %s", code, errs)
		}
		var views []luna.NodeView
		if err := json.Unmarshal([]byte(out), &views); err != nil {
			t.Fatal(err)
		}
		var ns []string
		for _, v := range views {
			ns = append(ns, v.Name)
		}
		return ns
	}
	env.mustRun(t, "node", "add", "-g", "compute")
	env.mustRun(t, "node", "add", "-g", "compute", "-n", "node9")
	env.mustRun(t, "node", "add", "-g", "compute")
	env.mustRun(t, "node", "add", "-g", "compute", "-n", "node1234")
	env.mustRun(t, "node", "add", "-g", "compute")
	want := "done5 node001 node010 node1235 node7x node9 node1234 nodex xnode7"
	got := strings.Join(names(), " ")
	for _, w := range strings.Fields(want) {
		if !strings.Contains(" "+got+" ", " "+w+" ") {
			t.Errorf("nodes %q lack %s", got, w)
		}
	}
	if len(names()) != len(strings.Fields(want)) {
		t.Errorf("nodes %q, want %q", got, want)
	}
	env.mustRun(t, "cluster", "change", "--nodeprefix", "cn", "--nodedigits", "5")
	env.mustRun(t, "node", "add", "-g", "compute")
	if got := strings.Join(names(), " "); !strings.Contains(got, "cn00001") {
		t.Errorf("nodes %q lack cn00001", got)
	}
}
