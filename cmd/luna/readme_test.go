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
// (testdata/readme/harness.sh) against the test's embedded FerretDB, with
// the stand-ins of testdata/readme/standins.sh for the lines that need the
// network or are not the test's to run (make deps/build/install,
// systemctl, debootstrap, apt-get in the image); then checks what it left
// (testdata/readme/checks.sh): the user, the packed image with the Luna
// module in its initramfs, dhcpd.conf, the zones, /tftpboot.
func TestReadmeGettingStarted(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root (a mount namespace, an overlay of /, chroot, pack): sudo go test ./cmd/luna -run TestReadmeGettingStarted")
	}
	for _, p := range [][2]string{{"unshare", "util-linux"}, {"chroot", "coreutils"}, {"dracut", "dracut-core"},
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
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	block, err := readmeBlock(string(readme), "getting-started")
	if err != nil {
		t.Fatal(err)
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string]string{"block.sh": block}
	for _, f := range []string{"standins.sh", "checks.sh", "harness.sh"} {
		b, err := os.ReadFile(filepath.Join("testdata/readme", f))
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
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "bash", filepath.Join(dir, "harness.sh"), dir, repo)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LUNA_") {
			env = append(env, kv)
		}
	}
	// The database is the test's; LUNA_NO_RESTART: no dhcpd or named of this
	// machine is restarted (the files are written in the throwaway root).
	cmd.Env = append(env, "LUNA_MONGO_URI="+testutil.URI(), "LUNA_DB="+testutil.NewDatabase(),
		"LUNA_NO_RESTART=1", "LUNA_CONNECT_TIMEOUT=10s", "CGO_ENABLED=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("README.md's Getting started failed (%v); the run, each line after '+':\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{"readme-test: checks passed", "| node001 ", "| node100 ", "00:11:22:33:44:55"} {
		if !strings.Contains(got, want) {
			t.Errorf("the run's output lacks %q:\n%s", want, got)
		}
	}
	if testing.Verbose() {
		t.Log(got)
	}
}
