package demo_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clustervision/luna-go/internal/testutil/testpeer"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// binaries builds the demo and the programs it starts, as make build does.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "luna-demo-bin-"); buildErr != nil {
			return
		}
		if buildErr = os.Chmod(buildDir, 0o755); buildErr != nil { // TestDemoNeedsRoot runs it as nobody
			return
		}
		var pkgs []string
		for _, b := range []string{"luna", "lunadb", "lweb", "ltorrent", "ltorrent-client", "lunademo"} {
			pkgs = append(pkgs, "github.com/clustervision/luna-go/cmd/"+b)
		}
		cmd := exec.Command("go", append([]string{"build", "-o", buildDir + "/"}, pkgs...)...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildDir
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the demo needs root (network and mount namespaces); run the tests as root")
	}
	if err := exec.Command("ip", "netns", "list").Run(); err != nil {
		t.Fatalf("the demo needs `ip netns` (apt-get install iproute2): %v", err)
	}
}

// demoCmd is the demo with its own process group, as a shell runs it.
func demoCmd(ctx context.Context, bin string, args ...string) (*exec.Cmd, *testpeer.SyncBuffer) {
	initrd, _ := filepath.Abs("../../initrd")
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "lunademo"), append([]string{"-bin", bin, "-initrd", initrd}, args...)...)
	out := &testpeer.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 10 * time.Second
	return cmd, out
}

// leftovers lists what a run with this outer pid left behind: network
// namespaces, the work directory, processes that name it.
func leftovers(pid int) []string {
	prefix := fmt.Sprintf("lunademo-%d-", pid)
	work := filepath.Join(os.TempDir(), fmt.Sprintf("lunademo-%d", pid))
	var left []string
	names, _ := filepath.Glob("/run/netns/" + prefix + "*")
	left = append(left, names...)
	if _, err := os.Stat(work); err == nil {
		left = append(left, work)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && (bytes.Contains(b, []byte(work)) || bytes.Contains(b, []byte(prefix))) {
			left = append(left, fmt.Sprintf("process %s: %s", filepath.Base(filepath.Dir(p)), bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
		}
	}
	return left
}

func TestDemoProvisionsThreeNodes(t *testing.T) {
	needRoot(t)
	bin := binaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd, out := demoCmd(ctx, bin, "-n", "3", "-size", "8")
	err := cmd.Run()
	text := out.String()
	if err != nil {
		t.Fatalf("lunademo -n 3: %v\n%s", err, text)
	}
	for _, want := range []string{
		"$ luna osimage pack compute --copy_boot",
		"server: ltorrent seeds the image and announced it to lweb's tracker",
		"demo: 3/3 nodes reached install.success; each installed tree equals the image",
		"timeline from lweb's request log",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in the output:\n%s", want, text)
		}
	}
	// The live table showed the download phase and the end for each
	// node; the timeline has a row of five phases per node.
	for _, n := range []string{"node001", "node002", "node003"} {
		if !strings.Contains(text, n+"  install.success") {
			t.Errorf("the live table never showed %s at install.success:\n%s", n, text)
		}
		found := false
		for _, line := range strings.Split(text, "\n") {
			if f := strings.Fields(line); len(f) >= 8 && f[0] == n && strings.ContainsAny(f[len(f)-1], "D") {
				found = true
			}
		}
		if !found {
			t.Errorf("no timeline row with a download for %s:\n%s", n, text)
		}
	}
	if left := leftovers(cmd.Process.Pid); len(left) > 0 {
		t.Errorf("the demo left behind:\n%s", strings.Join(left, "\n"))
	}
}

// Ctrl-C (SIGINT to the process group) while the nodes install stops
// everything: exit 1, one line, nothing left.
func TestDemoInterruptCleansUp(t *testing.T) {
	needRoot(t)
	bin := binaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd, out := demoCmd(ctx, bin, "-n", "2", "-size", "8")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(out.String(), "provisioning 2 nodes") {
		if ctx.Err() != nil {
			t.Fatalf("the demo never reached provisioning:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	text := out.String()
	if code := cmd.ProcessState.ExitCode(); err == nil || code != 1 {
		t.Fatalf("exit %d (%v) after Ctrl-C, want 1:\n%s", code, err, text)
	}
	if !strings.Contains(text, "lunademo: interrupted; everything it started is removed") {
		t.Errorf("no word of the interruption:\n%s", text)
	}
	if left := leftovers(cmd.Process.Pid); len(left) > 0 {
		t.Errorf("the demo left behind after Ctrl-C:\n%s", strings.Join(left, "\n"))
	}
}

// Without root the demo says so in one line and exits 1.
func TestDemoNeedsRoot(t *testing.T) {
	bin := binaries(t)
	cmd, out := demoCmd(context.Background(), bin)
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 65534, Gid: 65534}
	err := cmd.Run()
	text := out.String()
	if code := cmd.ProcessState.ExitCode(); err == nil || code != 1 {
		t.Fatalf("exit %d (%v) without root, want 1:\n%s", code, err, text)
	}
	if text != "lunademo: needs root (network and mount namespaces, chroot): run it as root, e.g. sudo make demo\n" {
		t.Errorf("output without root:\n%s", text)
	}
}
