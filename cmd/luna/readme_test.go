package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clustervision/luna-go/internal/testutil"
)

// readmeBlock returns the sh block of README.md that follows the HTML
// comment starting with marker, up to its closing fence.
func readmeBlock(readme, marker string) (string, error) {
	i := strings.Index(readme, "<!-- "+marker)
	if i < 0 {
		return "", fmt.Errorf("README.md has no <!-- %s ... --> marker", marker)
	}
	rest := readme[i:]
	open := strings.Index(rest, "\n```sh\n")
	if open < 0 {
		return "", fmt.Errorf("no ```sh block after the %s marker", marker)
	}
	rest = rest[open+len("\n```sh\n"):]
	end := strings.Index(rest, "\n```\n")
	if end < 0 {
		return "", fmt.Errorf("the %s block has no closing fence", marker)
	}
	return rest[:end+1], nil
}

// TestReadmeGettingStarted runs README.md's Getting started block with
// bash, every line as printed, in a throwaway copy of this machine's root
// (testdata/readme/harness.sh) with a network and PID namespace of its
// own: make build and make install put the programs in /usr/local/sbin,
// lunadb, lweb and ltorrent run as their units say (user luna). The
// stand-ins of testdata/readme/standins.sh replace only make deps,
// systemctl, debootstrap and apt-get in the image. Then it checks what the
// block left (testdata/readme/checks.sh): the user, the packed image with
// the Luna module in its initramfs, dhcpd.conf, the zones, /tftpboot, lweb
// answering.
func TestReadmeGettingStarted(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	block, err := readmeBlock(string(readme), "getting-started")
	if err != nil {
		t.Fatal(err)
	}
	got := runInThrowawayRoot(t, block, "checks.sh", true)
	for _, want := range []string{"| node001 ", "| node100 ", "00:11:22:33:44:55"} {
		if !strings.Contains(got, want) {
			t.Errorf("the run's output lacks %q:\n%s", want, got)
		}
	}
}

// TestReadme12Walkthrough runs every luna command of Luna 1.2's README as
// printed (testdata/readme/luna-1.2-walkthrough.sh) the same way, with
// this test binary as luna and the test's FerretDB as the database: the
// --bmcnetwork line, never valid in 1.2, is refused with one line saying
// what to type, exit 2; every other line works.
func TestReadme12Walkthrough(t *testing.T) {
	b, err := os.ReadFile("testdata/readme/luna-1.2-walkthrough.sh")
	if err != nil {
		t.Fatal(err)
	}
	got := runInThrowawayRoot(t, string(b), "checks-1.2.sh", false)
	for _, want := range []string{"imgfetch -n kernel http://10.30.255.254:7050/boot/compute-vmlinuz-6.1.0-99-readme", "LUNA_TORRENT='"} {
		if !strings.Contains(got, want) {
			t.Errorf("the run's output lacks %q:\n%s", want, got)
		}
	}
}

// runInThrowawayRoot runs script with bash after testdata/readme/standins.sh,
// then testdata/readme/<checks>, in a mount namespace whose root is an
// overlay of this machine's (testdata/readme/harness.sh), and returns what
// they printed; a failure ends the test with that output. isolated: in a
// network and PID namespace too, with the programs make install puts in
// /usr/local/sbin and their database; otherwise luna is this test binary
// and the database the test's FerretDB.
func runInThrowawayRoot(t *testing.T, script, checks string, isolated bool) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("needs root (a mount namespace, an overlay of /, chroot, pack): sudo go test ./cmd/luna -run TestReadme")
	}
	for _, p := range [][2]string{{"unshare", "util-linux"}, {"setpriv", "util-linux"}, {"ip", "iproute2"}, {"pgrep", "procps"}, {"chroot", "coreutils"}, {"dracut", "dracut-core"}, {"curl", "curl"},
		{"cpio", "cpio"}, {"dhcpd", "isc-dhcp-server"}, {"named-checkzone", "bind9-utils"}, {"make", "make"}, {"go", "Go 1.26"}} {
		if _, err := exec.LookPath(p[0]); err != nil {
			t.Fatalf("%s is needed: apt-get install %s (or make deps)", p[0], p[1])
		}
	}
	for _, f := range []string{"/usr/lib/ipxe/undionly.kpxe", "/usr/lib/ipxe/ipxe.efi"} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%s is needed: apt-get install ipxe (or make deps)", f)
		}
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string]string{"block.sh": script}
	for f, src := range map[string]string{"standins.sh": "standins.sh", "checks.sh": checks, "harness.sh": "harness.sh"} {
		b, err := os.ReadFile(filepath.Join("testdata/readme", src))
		if err != nil {
			t.Fatal(err)
		}
		files[f] = string(b)
	}
	for f, s := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	unshare := []string{"--mount", "--propagation", "private"}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LUNA_") && !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:" + filepath.Dir(goBin)
	if isolated {
		unshare = append(unshare, "--net", "--pid", "--fork")
		// As root on a new server: /etc/luna.conf, lunadb on localhost.
		// The throwaway root has no systemd: makedhcp and makedns say so
		// and restart nothing.
		env = append(env, "PATH="+path, "READMETEST_NET=1")
	} else {
		// luna is this test binary (on the PATH testscript.Main made); the
		// database the test's; LUNA_NO_RESTART: no dhcpd or named restarted.
		env = append(env, "PATH="+os.Getenv("PATH")+":"+path, "LUNA_MONGO_URI="+testutil.URI(), "LUNA_DB="+testutil.NewDatabase(),
			"LUNA_NO_RESTART=1", "LUNA_CONNECT_TIMEOUT=10s")
	}
	cmd := exec.Command("unshare", append(unshare, "bash", filepath.Join(dir, "harness.sh"), dir, repo)...)
	cmd.Env = append(env, "CGO_ENABLED=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("the script failed (%v); the run, each line after '+':\n%s", err, out.String())
	}
	got := out.String()
	if !strings.Contains(got, "readme-test: checks passed") {
		t.Fatalf("the checks did not pass:\n%s", got)
	}
	if testing.Verbose() {
		t.Log(got)
	}
	return got
}
