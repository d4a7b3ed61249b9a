package lchroot

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/clustervision/luna-go/internal/cli"
	"github.com/clustervision/luna-go/internal/testutil"
)

// The tests run lchroot as a real process: this test binary, started with
// runAsLchroot set, is lchroot (and so is its own second stage).
const runAsLchroot = "LCHROOT_TEST_RUN"

func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "release" { // in the image: uname(2) without libc
		var u unix.Utsname
		if err := unix.Uname(&u); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(unix.ByteSliceToString(u.Release[:]))
		os.Exit(0)
	}
	if os.Getenv(runAsLchroot) != "" || os.Getenv(enterEnv) != "" {
		if d := os.Getenv("LCHROOT_TEST_LOCKDIR"); d != "" {
			LockDir = d
		}
		sigs := make(chan os.Signal, 4) // as cmd/lchroot
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
		os.Exit(Main(context.Background(), os.Args[1:], IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Environ: os.Environ(), Signals: sigs}))
	}
	os.Exit(testutil.WithDB(m).Run())
}

// kernver is the image's kernel, not the host's.
const kernver = "5.14.0-427.13.1.el9_4.x86_64"

// image is an osimage "compute" in a fresh database whose tree is busybox
// with the libraries it needs, and a kernel.
type image struct {
	t    *testing.T
	env  []string
	path string
	lock string // LockDir of this test
}

func newImage(t *testing.T) *image {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("lchroot's tests need root (mounts, chroot): run them as root")
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal("busybox is needed for lchroot's test image: apt-get install busybox (scripts/deps.sh)")
	}
	_, db := testutil.Store(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "luna.conf")
	if err := os.WriteFile(conf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	img := &image{t: t, path: filepath.Join(dir, "img"), lock: filepath.Join(dir, "run")}
	img.env = append(os.Environ(), "LUNA_MONGO_URI="+testutil.URI(), "LUNA_DB="+db, "LUNA_CONF="+conf,
		runAsLchroot+"=1", "LCHROOT_TEST_LOCKDIR="+img.lock, "PATH=/bin:/usr/bin")
	for _, d := range []string{"bin", "tmp", "boot", "lib/modules/" + kernver, "etc"} {
		if err := os.MkdirAll(filepath.Join(img.path, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, bb, filepath.Join(img.path, "bin/busybox"), 0o755)
	out, err := exec.Command("ldd", bb).Output()
	if err != nil {
		t.Fatalf("ldd %s: %v", bb, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		for _, f := range strings.Fields(line) {
			if strings.HasPrefix(f, "/") {
				real, err := filepath.EvalSymlinks(f)
				if err != nil {
					t.Fatal(err)
				}
				copyFile(t, real, filepath.Join(img.path, f), 0o755)
			}
		}
	}
	for _, tool := range []string{"sh", "uname", "cat", "ls", "sleep", "grep", "false", "true", "echo", "stat"} {
		if err := os.Symlink("busybox", filepath.Join(img.path, "bin", tool)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(img.path, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(img.path, "boot/vmlinuz-"+kernver), []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	img.luna("cluster", "init", "--frontend_address", "10.30.255.254", "--user", "root", "--path", dir)
	img.luna("osimage", "add", "-n", "compute", "-p", img.path)
	return img
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
}

func (img *image) luna(args ...string) {
	img.t.Helper()
	var out, errb bytes.Buffer
	env := map[string]string{}
	for _, kv := range img.env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	io := cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(k string) string { return env[k] }}
	if code := cli.Main(context.Background(), args, io); code != 0 {
		img.t.Fatalf("luna %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
	}
}

// command is lchroot with args, not started.
func (img *image) command(args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = img.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	return cmd, &out, &errb
}

// run runs lchroot with args and returns its exit code and output.
func (img *image) run(args ...string) (int, string, string) {
	img.t.Helper()
	cmd, out, errb := img.command(args...)
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		img.t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// hostMounts returns the lines of this process's (the host's) mountinfo
// that name the image.
func (img *image) hostMounts() []string {
	img.t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		img.t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, img.path) {
			lines = append(lines, l)
		}
	}
	return lines
}

// inImage lists the processes whose root is the image.
func (img *image) inImage() []string {
	ents, _ := os.ReadDir("/proc")
	var ps []string
	for _, e := range ents {
		if r, err := os.Readlink("/proc/" + e.Name() + "/root"); err == nil && r == img.path {
			comm, _ := os.ReadFile("/proc/" + e.Name() + "/comm")
			ps = append(ps, e.Name()+" "+strings.TrimSpace(string(comm)))
		}
	}
	return ps
}

// afterExit checks that nothing of an lchroot is left: no mount of the
// image on the host, no process in the image, no lock file.
func (img *image) afterExit() {
	img.t.Helper()
	if m := img.hostMounts(); len(m) > 0 {
		img.t.Errorf("mounts of the image left on the host:\n%s", strings.Join(m, "\n"))
	}
	if ps := img.inImage(); len(ps) > 0 {
		img.t.Errorf("processes left in the image: %v", ps)
	}
	if _, err := os.Stat(filepath.Join(img.path, ImageLock)); err == nil {
		img.t.Errorf("%s left behind", ImageLock)
	}
}

func TestUnameAndMounts(t *testing.T) {
	img := newImage(t)
	if host, _ := exec.Command("uname", "-r").Output(); strings.TrimSpace(string(host)) == kernver {
		t.Fatalf("the host runs %s: the test cannot tell the image's release from the host's", kernver)
	}
	code, out, errOut := img.run("compute", "uname", "-r")
	if code != 0 || out != kernver+"\n" {
		t.Fatalf("uname -r: exit %d, stdout %q, stderr %q; want %s", code, out, errOut, kernver)
	}
	if errOut != "IMAGE PATH: "+img.path+"\n" {
		t.Errorf("stderr %q", errOut)
	}
	img.afterExit()

	// The other fields stay the host's; the mounts are there inside.
	hostU, _ := exec.Command("uname", "-snm").Output()
	code, out, errOut = img.run("compute", "sh", "-c",
		`uname -snm; cat /proc/self/mountinfo; stat -c '%F %t:%T' /dev/null; ls /sys/kernel >/dev/null && echo sys-ok; echo "PS1=$PS1"; echo "FAKE_KERN=$FAKE_KERN"; echo "LD_PRELOAD=$LD_PRELOAD"; cat /tmp/lchroot.lock`)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(out, "\n")
	if lines[0] != strings.TrimSpace(string(hostU)) {
		t.Errorf("uname -snm in the image %q, on the host %q", lines[0], strings.TrimSpace(string(hostU)))
	}
	points := map[string]string{}
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 9 && strings.Contains(l, " - ") {
			i := strings.Index(l, " - ")
			points[f[4]] = strings.Fields(l[i+3:])[0]
		}
	}
	for dir, fstype := range map[string]string{"/proc": "proc", "/sys": "sysfs", "/dev": "", "/dev/pts": "devpts", "/run": "tmpfs"} {
		got, ok := points[dir]
		if !ok || fstype != "" && got != fstype {
			t.Errorf("mount point %s in the image: %q (want %q); mountinfo:\n%s", dir, got, fstype, out)
		}
	}
	for _, want := range []string{"character special file 1:3", "sys-ok", `PS1=chroot [\u@compute \W]\$ `, "FAKE_KERN=" + kernver, "LD_PRELOAD=\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	host, _ := os.Hostname()
	if want := fmt.Sprintf(" on non-interactive by root@%s", host); !strings.Contains(out, want) {
		t.Errorf("image lock content lacks %q:\n%s", want, out)
	}
	img.afterExit()
}

func TestExitStatus(t *testing.T) {
	img := newImage(t)
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"sh", "-c", "exit 42"}, 42},
		{[]string{"false"}, 1},
		{[]string{"true"}, 0},
		{[]string{"sh", "-c", "kill -USR1 $$"}, 128 + int(syscall.SIGUSR1)},
	} {
		code, _, errOut := img.run(append([]string{"compute"}, c.args...)...)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d (%s)", c.args, code, c.code, errOut)
		}
	}
	img.afterExit()
}

func TestBadInput(t *testing.T) {
	img := newImage(t)
	gone := filepath.Join(t.TempDir(), "gone")
	if err := os.Rename(img.path, gone); err != nil {
		t.Fatal(err)
	}
	img.luna("osimage", "add", "-n", "other", "-p", gone)
	if err := os.Rename(gone, img.path); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 7, "lchroot: osimage need to be specified (lchroot OSIMAGE [COMMAND...])\n"},
		{[]string{"nosuch", "true"}, 7, "lchroot: Object 'nosuch' of type 'osimage' does not exist\n"},
		{[]string{"other", "true"}, 1, "lchroot: The path of osimage 'other' cannot be used: " + gone + ": no such file or directory\n"},
		{[]string{"compute", "nosuchcmd"}, 127, "lchroot: nosuchcmd: command not found in the image (PATH=/bin:/usr/bin)\n"},
	} {
		code, out, errOut := img.run(c.args...)
		errOut = strings.TrimPrefix(errOut, "IMAGE PATH: "+img.path+"\n")
		if code != c.code || errOut != c.msg || out != "" {
			t.Errorf("lchroot %v: exit %d, stdout %q, stderr %q; want exit %d, %q", c.args, code, out, errOut, c.code, c.msg)
		}
	}
	// A malformed LUNA_CONNECT_TIMEOUT is named, not ignored.
	cmd, out, errb := img.command("compute", "true")
	cmd.Env = append(cmd.Env, "LUNA_CONNECT_TIMEOUT=soon")
	_ = cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 1 || out.String() != "" ||
		!strings.HasSuffix(errb.String(), "lchroot: LUNA_CONNECT_TIMEOUT=\"soon\" is not a positive duration such as 5s or 1m30s\n") {
		t.Errorf("LUNA_CONNECT_TIMEOUT=soon: exit %d, stdout %q, stderr %q", code, out, errb)
	}
	// Not root: one line, before the database is asked.
	exe := copyExe(t)
	cmd, out, errb = img.command("compute", "true")
	cmd.Path, cmd.Args[0] = exe, exe
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if err := cmd.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatal(err)
		}
	}
	if code := cmd.ProcessState.ExitCode(); code != 1 || out.String() != "" ||
		errb.String() != "lchroot: lchroot needs root rights (it mounts and chroots): run it as root\n" {
		t.Errorf("as nobody: exit %d, stdout %q, stderr %q", code, out, errb)
	}
	img.afterExit()
}

// copyExe copies this test binary where user nobody can run it.
func copyExe(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "lchroot-exe-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "lchroot")
	copyFile(t, os.Args[0], exe, 0o755)
	return exe
}

// waitFor polls cond for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestLockAndSignals: a second lchroot of the same osimage is refused
// while one runs, in one line naming who holds it; SIGTERM ends the first
// and nothing stays mounted or running; then the image is free again.
func TestLockAndSignals(t *testing.T) {
	img := newImage(t)
	first, _, firstErr := img.command("compute", "sleep", "60")
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer first.Process.Kill()
	waitFor(t, "the first lchroot's sleep", func() bool { return len(img.inImage()) == 1 })
	if m := img.hostMounts(); len(m) > 0 {
		t.Errorf("while lchroot runs, the host sees mounts of the image:\n%s", strings.Join(m, "\n"))
	}
	host, _ := os.Hostname()
	code, out, errOut := img.run("compute", "true")
	want := fmt.Sprintf("IMAGE PATH: %s\nlchroot: Currently PID %d on non-interactive by root@%s is using lchroot in osimage 'compute' (%s/lchroot-",
		img.path, first.Process.Pid, host, img.lock)
	if code != 8 || out != "" || !strings.HasPrefix(errOut, want) || strings.Count(errOut, "\n") != 2 {
		t.Errorf("second lchroot: exit %d, stdout %q, stderr %q; want exit 8 and %q...", code, out, errOut, want)
	}
	if err := first.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := first.Wait()
	if code := first.ProcessState.ExitCode(); code != 128+int(syscall.SIGTERM) {
		t.Errorf("first lchroot after SIGTERM: %v, exit %d, want %d; stderr %q", err, code, 128+int(syscall.SIGTERM), firstErr)
	}
	img.afterExit()
	if code, out, errOut := img.run("compute", "uname", "-r"); code != 0 || out != kernver+"\n" {
		t.Errorf("after the first ended: exit %d, %q, %q", code, out, errOut)
	}
}

// TestSIGTERMIgnored: a command that ignores SIGTERM (as an interactive
// shell does) is killed KillAfter later, with what it started; a command
// that leaves a process running in the image has it stopped.
func TestSIGTERMIgnored(t *testing.T) {
	img := newImage(t)
	cmd, _, errb := img.command("compute", "sh", "-c", `trap "" TERM; sleep 60; echo survived`)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor(t, "sh and sleep in the image", func() bool { return len(img.inImage()) == 2 })
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 128+int(syscall.SIGKILL) {
		t.Errorf("exit %d, want %d; stderr %q", code, 128+int(syscall.SIGKILL), errb)
	}
	if d := time.Since(start); d < KillAfter {
		t.Errorf("killed after %s, before KillAfter (%s)", d, KillAfter)
	}
	if !strings.Contains(errb.String(), "lchroot: stopped what the command left running in the image: ") || !strings.Contains(errb.String(), "(sleep)") {
		t.Errorf("stderr %q does not name the sleep it stopped", errb)
	}
	img.afterExit()

	code, out, errOut := img.run("compute", "sh", "-c", "sleep 60 </dev/null >/dev/null 2>&1 & until grep -qx sleep /proc/$!/comm; do :; done; echo started")
	if code != 0 || out != "started\n" || !strings.Contains(errOut, "(sleep)") {
		t.Errorf("background sleep: exit %d, %q, %q", code, out, errOut)
	}
	img.afterExit()
}

// TestKilled: lchroot killed with SIGKILL takes the command with it; the
// next lchroot takes the stale image lock over with a warning.
func TestKilled(t *testing.T) {
	img := newImage(t)
	cmd, _, _ := img.command("compute", "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "sleep in the image", func() bool { return len(img.inImage()) == 1 })
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	waitFor(t, "the image to empty", func() bool { return len(img.inImage()) == 0 })
	if m := img.hostMounts(); len(m) > 0 {
		t.Errorf("mounts left on the host:\n%s", strings.Join(m, "\n"))
	}
	code, out, errOut := img.run("compute", "uname", "-r")
	want := fmt.Sprintf("lchroot: %s was left by a process that is gone (PID %d on ", filepath.Join(img.path, ImageLock), cmd.Process.Pid)
	if code != 0 || out != kernver+"\n" || !strings.Contains(errOut, want) {
		t.Errorf("after SIGKILL: exit %d, %q, %q; want a warning %q", code, out, errOut, want)
	}
	img.afterExit()
}

// TestInteractive: with no command, lchroot starts the image's shell on
// the terminal (a pty of script(1)) with the prompt naming the osimage;
// the lock names the terminal.
func TestInteractive(t *testing.T) {
	img := newImage(t)
	if _, err := exec.LookPath("script"); err != nil {
		t.Fatal("script(1) is needed: apt-get install bsdutils")
	}
	exe := copyExe(t)
	cmd := exec.Command("script", "-qec", exe+" compute", "/dev/null")
	cmd.Env = append(img.env, "SHELL=/bin/zsh") // not in the image: its sh is used
	cmd.Stdin = strings.NewReader("cd /etc\ncat /tmp/lchroot.lock; uname -r; exit 3\n")
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Errorf("exit %d, want 3:\n%s", code, out)
	}
	for _, want := range []string{"chroot [root@compute etc]# ", " on /dev/pts/", kernver + "\r\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the session lacks %q:\n%s", want, out)
		}
	}
	img.afterExit()
}

// TestSIGINT: Ctrl-C sent to lchroot alone (not its process group)
// reaches the command; lchroot exits 130 and leaves nothing.
func TestSIGINT(t *testing.T) {
	img := newImage(t)
	cmd, _, errb := img.command("compute", "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor(t, "sleep in the image", func() bool { return len(img.inImage()) == 1 })
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 128+int(syscall.SIGINT) {
		t.Errorf("exit %d, want %d; stderr %q", code, 128+int(syscall.SIGINT), errb)
	}
	img.afterExit()
}

// TestUnameSyscall: a Go program, which calls uname(2) itself (no libc to
// preload into), sees the image's kernel too: this test binary, named
// "release" in the image, prints the release it gets.
func TestUnameSyscall(t *testing.T) {
	img := newImage(t)
	copyFile(t, os.Args[0], filepath.Join(img.path, "bin/release"), 0o755)
	cmd, out, errb := img.command("compute", "/bin/release")
	if err := cmd.Run(); err != nil || out.String() != kernver+"\n" {
		t.Errorf("uname(2) from a Go program: %v, stdout %q, stderr %q; want %s", err, out, errb, kernver)
	}
	img.afterExit()
}
