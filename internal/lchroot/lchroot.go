// Package lchroot is the lchroot command: a shell (or one command) inside
// an osimage's tree, as the image's own software expects to run there.
//
//	lchroot OSIMAGE [COMMAND [ARGS...]]
//
// The command runs chrooted into the osimage's path in a mount namespace of
// its own where the host's /proc, /sys and /dev (with /dev/pts) are bound
// into the image and /run is an empty tmpfs: the mounts are never visible
// on the host and vanish with the command, however it or lchroot ends. Its
// uname(2) answers the osimage's kernel version as the release (uname.go).
// One lchroot per osimage at a time (lock.go). The command's exit status is
// lchroot's.
package lchroot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/clustervision/luna-go/internal/config"
	"github.com/clustervision/luna-go/internal/luna"
	"github.com/clustervision/luna-go/internal/version"
)

// Exit codes of lchroot itself (any other is the command's).
const (
	exitFailed = 1 // not root, a mount or the database failed
	exitUsage  = 7 // no osimage, or no such osimage (as Luna 1.2)
	exitLocked = 8 // another lchroot uses the osimage (as Luna 1.2)
)

// KillAfter is how long the command has to end after lchroot got SIGTERM
// (passed on to it) before it is killed: an interactive shell ignores
// SIGTERM.
var KillAfter = 5 * time.Second

// failure is an error with lchroot's exit code.
type failure struct {
	code int
	msg  string
}

func (f *failure) Error() string { return f.msg }

func failf(code int, format string, a ...any) error {
	return &failure{code: code, msg: fmt.Sprintf(format, a...)}
}

// IO is what lchroot runs with: its standard streams (an *os.File is
// handed to the command as it is, so a terminal stays a terminal), its
// environment, and the signals cmd/lchroot catches for it.
type IO struct {
	In       io.Reader
	Out, Err io.Writer
	Environ  []string
	Signals  <-chan os.Signal
}

func (s IO) getenv(k string) string {
	for i := len(s.Environ) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(s.Environ[i], k+"="); ok {
			return v
		}
	}
	return ""
}

// Command is lchroot's cobra command (for its help and the manual page);
// Main runs it.
func Command() *cobra.Command {
	return newCommand(func(*cobra.Command, []string) error { return nil })
}

func newCommand(run func(*cobra.Command, []string) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lchroot OSIMAGE [COMMAND [ARGS...]]",
		Short: "Run a shell or a command inside an osimage",
		Long: "lchroot runs COMMAND (default: a login-less interactive shell) chrooted into the tree of\n" +
			"OSIMAGE, with the host's /proc, /sys and /dev bound into it and an empty /run, in a\n" +
			"mount namespace of its own: nothing stays mounted on the host when it ends. Inside,\n" +
			"uname -r answers the osimage's kernel version (luna osimage show OSIMAGE --kernver),\n" +
			"so dracut, rpm scriptlets and DKMS build for the image's kernel. One lchroot per\n" +
			"osimage at a time. The exit status is the command's.",
		Example:               "  lchroot compute\n  lchroot compute dracut --force --kver 5.14.0-427.el9.x86_64\n  lchroot compute dnf -y install htop",
		Args:                  cobra.ArbitraryArgs,
		SilenceUsage:          true,
		SilenceErrors:         true,
		DisableFlagsInUseLine: true,
		RunE:                  run,
	}
	cmd.Flags().SetInterspersed(false) // COMMAND's own options are COMMAND's
	version.AddFlag(cmd.Flags())
	return cmd
}

// Main runs lchroot with args (without the program name) and returns its
// exit code. Started as its own second stage (enterEnv set), it enters the
// image instead and does not return unless that fails.
func Main(ctx context.Context, args []string, stdio IO) int {
	if root := stdio.getenv(enterEnv); root != "" {
		return enter(root, args, stdio.Err)
	}
	code := 0
	cmd := newCommand(func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return failf(exitUsage, "osimage need to be specified (lchroot OSIMAGE [COMMAND...])")
		}
		var err error
		code, err = run(ctx, args[0], args[1:], stdio)
		return err
	})
	cmd.SetArgs(args)
	cmd.SetIn(stdio.In)
	cmd.SetOut(stdio.Out)
	cmd.SetErr(stdio.Err)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return code
	}
	var f *failure
	if !errors.As(err, &f) {
		f = &failure{code: exitUsage, msg: err.Error()} // cobra's: a bad command line
	}
	fmt.Fprintf(stdio.Err, "lchroot: %s\n", strings.Join(strings.Fields(f.msg), " "))
	return f.code
}

// run enters the osimage name and runs argv there; it returns the
// command's exit code, or an error when the command could not be run.
func run(ctx context.Context, name string, argv []string, stdio IO) (int, error) {
	if os.Geteuid() != 0 {
		return 0, failf(exitFailed, "lchroot needs root rights (it mounts and chroots): run it as root")
	}
	img, err := lookup(ctx, name, stdio.getenv)
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(stdio.Err, "IMAGE PATH: %s\n", img.Path)
	release, err := lockImage(img, holder(stdio), func(msg string) { fmt.Fprintf(stdio.Err, "lchroot: %s\n", msg) })
	if err != nil {
		return 0, err
	}
	defer release()
	return runInImage(img, argv, stdio)
}

// lookup asks the domain layer for the osimage.
func lookup(ctx context.Context, name string, getenv func(string) string) (luna.ChrootImage, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return luna.ChrootImage{}, failf(exitFailed, "read the configuration: %v", err)
	}
	connect, err := config.ConnectTimeout(getenv, 5*time.Second)
	if err != nil {
		return luna.ChrootImage{}, failf(exitFailed, "%v", err)
	}
	svc, err := luna.Open(ctx, cfg, connect)
	if err != nil {
		return luna.ChrootImage{}, failf(exitFailed, "%v", err)
	}
	defer svc.Close(context.WithoutCancel(ctx))
	img, err := svc.ChrootImage(ctx, name)
	switch {
	case errors.Is(err, luna.ErrNotFound):
		return img, failf(exitUsage, "%v", err)
	case err != nil:
		return img, failf(exitFailed, "%v", err)
	}
	return img, nil
}

// holder says who runs this lchroot, as Luna 1.2's lock file did
// ("PID <pid> on <tty>"), with the user and host added.
func holder(stdio IO) string {
	tty := "non-interactive"
	if f, ok := stdio.In.(*os.File); ok {
		if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
			if p, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd())); err == nil {
				tty = p
			}
		}
	}
	who := stdio.getenv("SUDO_USER")
	if who == "" {
		if u, err := user.Current(); err == nil {
			who = u.Username
		}
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("PID %d on %s by %s@%s", os.Getpid(), tty, who, host)
}

// commandEnv is the command's environment: lchroot's, with the prompt
// naming the osimage and Luna 1.2's FAKE_KERN (and LD_PRELOAD of its
// libluna-fakeuname.so when the image has it) for scripts that use them.
func commandEnv(img luna.ChrootImage, environ []string) []string {
	drop := map[string]bool{enterEnv: true, "PS1": true, "FAKE_KERN": true, "debian_chroot": true, "LD_PRELOAD": true, "PWD": true, "OLDPWD": true}
	var env []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			env = append(env, kv)
		}
	}
	if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "PATH=") }) {
		env = append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	env = append(env,
		"PS1=chroot [\\u@"+img.Name+" \\W]\\$ ",
		"debian_chroot="+img.Name,
		"PWD=/", // the command starts in the image's /
		"FAKE_KERN="+img.KernVer)
	if fakeUnameInImage(img.Path) {
		env = append(env, "LD_PRELOAD=libluna-fakeuname.so")
	}
	return env
}

// fakeUnameInImage says whether Luna 1.2's preload library is installed in
// the image (a dynamic linker warns on every command when LD_PRELOAD names
// a library it cannot find).
func fakeUnameInImage(root string) bool {
	for _, d := range []string{"usr/lib64", "lib64", "usr/lib", "lib", "usr/lib/x86_64-linux-gnu", "usr/lib/aarch64-linux-gnu"} {
		if _, err := os.Stat(root + "/" + d + "/libluna-fakeuname.so"); err == nil {
			return true
		}
	}
	return false
}

// runInImage starts lchroot's second stage in a new mount namespace, serves
// its uname calls, passes signals on, and returns the command's exit code.
func runInImage(img luna.ChrootImage, argv []string, stdio IO) (int, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, failf(exitFailed, "cannot find lchroot's own executable: %v", err)
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, failf(exitFailed, "socketpair: %v", err)
	}
	parent, child := os.NewFile(uintptr(pair[0]), "lchroot-parent"), os.NewFile(uintptr(pair[1]), "lchroot-child")
	defer parent.Close()
	cmd := exec.Command(exe, argv...)
	cmd.Args[0] = "lchroot"
	cmd.Env = append(commandEnv(img, stdio.Environ), enterEnv+"="+img.Path)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdio.In, stdio.Out, stdio.Err
	cmd.ExtraFiles = []*os.File{child}
	// The mount namespace is the command's alone (Go makes its mounts
	// private); the command dies with lchroot, even by SIGKILL. Pdeathsig
	// follows the thread that started it: keep that thread.
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	err = cmd.Start()
	child.Close()
	if err != nil {
		return 0, failf(exitFailed, "cannot start %s: %v", exe, err)
	}
	waitc := make(chan error, 1)
	go func() { waitc <- cmd.Wait() }()

	listener, msg, err := receive(int(parent.Fd()))
	var ns uint64
	_, nsErr := fmt.Sscanf(msg, "ok %d", &ns)
	if err != nil || nsErr != nil || listener < 0 {
		if nsErr == nil { // it runs the command, but uname would not answer
			_ = cmd.Process.Kill()
			msg = "no uname listener came with its answer"
		}
		<-waitc
		if code, text, ok := parseFail(msg); ok {
			return 0, failf(code, "%s", text)
		}
		if err == nil {
			err = errors.New(msg)
		}
		return 0, failf(exitFailed, "entering %s failed: %v", img.Path, err)
	}
	done := make(chan struct{})
	defer close(done)
	go serveUname(listener, img.KernVer, done)
	// Every process left in the command's mount namespace (which the
	// second stage named) when the command ends is stopped.
	defer func() {
		if left := stopNamespace(ns); len(left) > 0 {
			fmt.Fprintf(stdio.Err, "lchroot: stopped what the command left running in the image: %s\n", strings.Join(left, ", "))
		}
	}()

	var kill <-chan time.Time
	for {
		select {
		case s := <-stdio.Signals:
			_ = cmd.Process.Signal(s)
			if s == syscall.SIGTERM && kill == nil {
				kill = time.After(KillAfter)
			}
		case <-kill:
			_ = cmd.Process.Kill()
		case <-waitc:
			ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
			if ws.Signaled() {
				return 128 + int(ws.Signal()), nil
			}
			return cmd.ProcessState.ExitCode(), nil
		}
	}
}

// receive reads the second stage's message and the uname listener it
// passes with it.
func receive(fd int) (int, string, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return -1, "", err
	}
	msg := string(buf[:n])
	if n == 0 {
		return -1, "", errors.New("it ended without a word")
	}
	scms, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(scms) == 0 {
		return -1, msg, nil
	}
	fds, err := unix.ParseUnixRights(&scms[0])
	if err != nil || len(fds) != 1 {
		return -1, msg, nil
	}
	return fds[0], msg, nil
}

// parseFail reads "fail CODE MESSAGE".
func parseFail(msg string) (int, string, bool) {
	rest, ok := strings.CutPrefix(msg, "fail ")
	if !ok {
		return 0, "", false
	}
	c, text, _ := strings.Cut(rest, " ")
	var code int
	if _, err := fmt.Sscanf(c, "%d", &code); err != nil {
		return 0, "", false
	}
	return code, text, true
}

// mountNS is the mount namespace of process pid (its inode).
func mountNS(pid int) (uint64, error) {
	fi, err := os.Stat(fmt.Sprintf("/proc/%d/ns/mnt", pid))
	if err != nil {
		return 0, err
	}
	return fi.Sys().(*syscall.Stat_t).Ino, nil
}

// stopNamespace ends every process in the mount namespace ns (SIGTERM,
// then SIGKILL after 2 s), so the namespace and its mounts go with the
// command, and returns "PID (comm)" of each it found.
func stopNamespace(ns uint64) []string {
	var found []string
	for round := 0; round < 50; round++ {
		pids := namespacePids(ns)
		if len(pids) == 0 {
			break
		}
		sig := syscall.SIGTERM
		if round >= 20 {
			sig = syscall.SIGKILL
		}
		for _, pid := range pids {
			if round == 0 {
				comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
				found = append(found, fmt.Sprintf("%d (%s)", pid, strings.TrimSpace(string(comm))))
			}
			if round == 0 || sig == syscall.SIGKILL {
				_ = syscall.Kill(pid, sig)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return found
}

// namespacePids lists the processes whose mount namespace is ns.
func namespacePids(ns uint64) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if n, err := mountNS(pid); err == nil && n == ns {
			pids = append(pids, pid)
		}
	}
	return pids
}
