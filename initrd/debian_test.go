package initrd_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInstallScriptDebianImage executes the install script for an image
// of the Debian family (etc/network/interfaces, no etc/sysconfig): the
// network files go to etc/network/interfaces.d/luna-<interface>, one per
// interface but the BMC's, written whole (a file the image already has is
// replaced), static for an interface with a Luna address (IPv4 and IPv6),
// manual for one without; no etc/sysconfig appears. The node does not set
// up its BMC: no ipmitool call, no pause.
func TestInstallScriptDebianImage(t *testing.T) {
	c := newCluster(t)
	c.luna("", "network", "add", "-n", "v6", "-N", "fd00:30::", "-P", "64", "--ns_hostname", "master")
	c.luna("", "group", "change", "compute", "-i", "ib0", "--add")
	c.luna("", "group", "change", "compute", "-i", "ib0", "--setnet", "v6")
	c.luna("", "group", "change", "compute", "-i", "eth1", "--add")
	c.luna("", "node", "change", "node001", "--setupbmc", "n")
	tree := imageTree(t)
	if err := os.RemoveAll(filepath.Join(tree, "etc/sysconfig")); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{
		"etc/network/interfaces":             "source /etc/network/interfaces.d/*\nauto lo\niface lo inet loopback\n",
		"etc/network/interfaces.d/luna-eth0": "auto eth0\niface eth0 inet dhcp\n# stale\n",
	} {
		p := filepath.Join(tree, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c.pack(tree)
	root := scratchRoot(t, c.installScript())
	c.takeStatuses()
	out, err := runInstall(t, root)
	if err != nil {
		t.Fatalf("install script: %v\n%s", err, out)
	}
	wantStatuses(t, c.takeStatuses(), "install.prescript", "install.partscript", "install.download",
		"install.unpack", "install.setnet", "install.postscript", "install.success")

	sys := filepath.Join(root, "sysroot")
	for name, want := range map[string]string{
		"luna-eth0": "auto eth0\niface eth0 inet static\n    address 10.30.0.1/16\n",
		"luna-ib0":  "auto ib0\niface ib0 inet6 static\n    address fd00:30::1/64\n",
		"luna-eth1": "auto eth1\niface eth1 inet manual\n",
	} {
		if got := readFile(t, filepath.Join(sys, "etc/network/interfaces.d", name)); got != want {
			t.Errorf("%s:\n%s\nwant\n%s", name, got, want)
		}
	}
	entries, err := os.ReadDir(filepath.Join(sys, "etc/network/interfaces.d"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "luna-eth0 luna-eth1 luna-ib0" {
		t.Errorf("etc/network/interfaces.d holds %v, want luna-eth0 luna-eth1 luna-ib0 (none for the BMC)", names)
	}
	if got := readFile(t, filepath.Join(sys, "etc/network/interfaces")); !strings.HasPrefix(got, "source /etc/network/interfaces.d/*\n") {
		t.Errorf("etc/network/interfaces was changed:\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(sys, "etc/sysconfig")); !os.IsNotExist(err) {
		t.Errorf("etc/sysconfig was made in a Debian image (%v)", err)
	}
	if got := readFile(t, filepath.Join(sys, "etc/hostname")); got != "node001.cluster\n" {
		t.Errorf("etc/hostname %q", got)
	}
	if calls, err := os.ReadFile(filepath.Join(root, "luna/calls.log")); err == nil && strings.Contains(string(calls), "ipmitool") {
		t.Errorf("ipmitool ran for a node with setupbmc n:\n%s", calls)
	}
}
