package initrd_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clustervision/luna-go/internal/cli"
)

// lunaRun runs a luna command and returns its exit code, stdout and stderr.
func (c *cluster) lunaRun(stdin string, args ...string) (int, string, string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	io := cli.IO{In: strings.NewReader(stdin), Out: &out, Err: &errb, Getenv: func(k string) string { return c.env[k] }}
	code := cli.Main(context.Background(), args, io)
	return code, out.String(), errb.String()
}

// stubCalls reads the calls the stubs recorded in /luna/argv.log, each as
// its program name and arguments.
func stubCalls(t *testing.T, root string) [][]string {
	t.Helper()
	var calls [][]string
	for _, rec := range strings.Split(readFile(t, filepath.Join(root, "luna/argv.log")), "\x00\n") {
		if rec != "" {
			calls = append(calls, strings.Split(rec, "\x00"))
		}
	}
	return calls
}

// hasCall says whether calls holds exactly this argument vector.
func hasCall(calls [][]string, want ...string) bool {
	for _, c := range calls {
		if strings.Join(c, "\x00") == strings.Join(want, "\x00") {
			return true
		}
	}
	return false
}

// TestInstallScriptQuotesValues executes the install script lweb serves,
// as TestInstallScriptRuns does, for a node whose stored values carry shell
// metacharacters: those the CLI accepts (a BMC user with ';', '>', '&',
// '(', '|'; interface parameters with quotes and ';'; a BMC password with
// a quote, $(...), backquotes, ';', spaces and a backslash, which the CLI
// takes as Luna 1.2 did, since the script quotes it). Each must reach ipmitool as
// one argument, or the ifcfg file as the text typed, and run nothing. The
// group's pre, part and post scripts run once each, in that order, and the
// script `luna node show NODE --script install` prints is the one lweb
// serves.
func TestInstallScriptQuotesValues(t *testing.T) {
	c := newCluster(t)
	tree := imageTree(t)
	c.pack(tree)

	const (
		bmcUser = "u;touch>/luna/pwned-user&(touch>/luna/pwned-user2)|x"
		params  = "ETHTOOL_OPTS='-K eth0 gro off'; touch /luna/pwned-params\nMTU=9000;reboot"
		// Any printable text, as Luna 1.2 took it.
		bmcPass12 = "it's $(touch /luna/pwned-pass) `touch /luna/pwned-pass2`; touch /luna/pwned-pass3 \"x\" \\"
		preText   = "echo pre >>/luna/order"
		partText  = "echo part >>/luna/order\nparted -s /dev/sda mklabel gpt mkpart primary ext4 1MiB 100%\nmkfs.ext4 -q -F /dev/sda1\nmount /dev/sda1 /sysroot"
		postText  = "echo \"post $(cat /sysroot/etc/hostname)\" >>/luna/order"
	)
	c.luna("", "bmcsetup", "change", "base", "--user", bmcUser)
	c.luna(params, "group", "change", "compute", "-i", "BOOTIF", "--edit")
	c.luna(preText, "group", "change", "compute", "--prescript")
	c.luna(partText, "group", "change", "compute", "--partscript")
	c.luna(postText, "group", "change", "compute", "--postscript")

	// What the CLI refuses stays out of the store (the full tables are in
	// internal/cli's bad-input tests): a password with a control character
	// is refused in one line.
	for _, bad := range []string{"a\nb", "a\tb", "a\x1bb"} {
		code, _, errOut := c.lunaRun("", "bmcsetup", "change", "base", "--password", bad)
		if code == 0 || !strings.HasPrefix(errOut, "ERROR: Invalid BMC password") || strings.Count(errOut, "\n") != 1 {
			t.Errorf("bmcsetup change --password %q: exit %d, stderr %q; want one line ERROR: Invalid BMC password", bad, code, errOut)
		}
	}
	if user, pass := c.db.BMCSetup("base"); pass != bmcPass || user != bmcUser {
		t.Fatalf("stored bmcsetup user %q password %q after the refused changes, want %q %q", user, pass, bmcUser, bmcPass)
	}
	c.luna("", "bmcsetup", "change", "base", "--password", bmcPass12)
	if _, pass := c.db.BMCSetup("base"); pass != bmcPass12 {
		t.Fatalf("stored bmcsetup password %q, want %q", pass, bmcPass12)
	}

	script := c.installScript()
	code, shown, errOut := c.lunaRun("", "node", "show", "node001", "--script", "install")
	if code != 0 {
		t.Fatalf("luna node show node001 --script install: exit %d: %s", code, errOut)
	}
	if dropToken(shown) != dropToken(script) {
		t.Errorf("luna node show --script install differs from what lweb serves (token line aside):\n%s\n---- lweb:\n%s", shown, script)
	}
	root := scratchRoot(t, script)
	c.takeStatuses()
	out, err := runInstall(t, root)
	// Nothing the values carried ran: no file they would have made, in
	// the scratch root or in the unpacked image.
	for _, dir := range []string{"luna", "sysroot", "sysroot/luna", "tmp", "root", "."} {
		if m, _ := filepath.Glob(filepath.Join(root, dir, "pwned*")); len(m) != 0 {
			t.Errorf("a stored value ran as a command: %v", m)
		}
	}
	if err != nil {
		t.Fatalf("install script: %v\n%s", err, out)
	}

	wantStatuses(t, c.takeStatuses(), "install.prescript", "install.setupbmc", "install.partscript", "install.download",
		"install.unpack", "install.setnet", "install.postscript", "install.success")
	if got := c.storedStatus(); got != "install.success" {
		t.Errorf("stored status %q, want install.success", got)
	}
	if got := readFile(t, filepath.Join(root, "luna/order")); got != "pre\npart\npost node001.cluster\n" {
		t.Errorf("the group's scripts ran as\n%s\nwant pre, part, post (with the hostname written by then)", got)
	}

	calls := stubCalls(t, root)
	for _, want := range [][]string{
		{"ipmitool", "lan", "set", "1", "ipsrc", "static"},
		{"ipmitool", "lan", "set", "1", "ipaddr", "10.31.0.1"},
		{"ipmitool", "lan", "set", "1", "netmask", "255.255.0.0"},
		{"ipmitool", "user", "set", "name", "3", bmcUser},
		{"ipmitool", "user", "set", "password", "3", bmcPass12},
		{"ipmitool", "channel", "setaccess", "1", "3", "link=on", "ipmi=on", "callin=on", "privilege=4"},
		{"ipmitool", "user", "enable", "3"},
		{"ipmitool", "mc", "reset", "cold"},
		{"parted", "-s", "/dev/sda", "mklabel", "gpt", "mkpart", "primary", "ext4", "1MiB", "100%"},
		{"mkfs.ext4", "-q", "-F", "/dev/sda1"},
		{"mount", "/dev/sda1", "/sysroot"},
	} {
		if !hasCall(calls, want...) {
			t.Errorf("no call %q; the stubs saw:\n%q", want, calls)
		}
	}
	ipmi := 0
	for _, call := range calls {
		if call[0] == "ipmitool" {
			ipmi++
		}
	}
	if ipmi != 9 {
		t.Errorf("%d ipmitool calls, want 9:\n%q", ipmi, calls)
	}

	sys := filepath.Join(root, "sysroot")
	if got := readFile(t, filepath.Join(sys, "etc/hostname")); got != "node001.cluster\n" {
		t.Errorf("etc/hostname %q", got)
	}
	if got := readFile(t, filepath.Join(sys, "etc/sysconfig/network")); got != "NETWORKING=yes\nHOSTNAME=node001.cluster\n" {
		t.Errorf("etc/sysconfig/network:\n%s", got)
	}
	want := "DEVICE=eth0\nNAME=eth0\nONBOOT=yes\nBOOTPROTO=none\nIPADDR=10.30.0.1\nPREFIX=16\nNETMASK=255.255.0.0\n" + params + "\n"
	if got := readFile(t, filepath.Join(sys, "etc/sysconfig/network-scripts/ifcfg-eth0")); got != want {
		t.Errorf("ifcfg-eth0:\n%s\nwant\n%s", got, want)
	}
	if _, err := os.Stat(filepath.Join(sys, "sbin/init")); err != nil {
		t.Errorf("the image is not in /sysroot: %v", err)
	}
}

// dropToken is an install script without its LUNA_TOKEN line (the token
// of the node's current boot, which lweb may not have flushed yet when the
// CLI reads it).
func dropToken(script string) string {
	var keep []string
	for _, l := range strings.Split(script, "\n") {
		if !strings.HasPrefix(l, "LUNA_TOKEN=") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
