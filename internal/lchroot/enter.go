package lchroot

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// enterEnv, set to the image path, makes lchroot its own second stage: it
// is started with it in a new mount namespace whose mounts are private,
// mounts, chroots, installs the uname filter, hands the filter's listener
// to the first stage over fd 3 and execs the command.
const enterEnv = "_LCHROOT_ENTER"

// What is mounted in the image, in order, in the second stage's namespace.
// /proc, /sys and /dev are the host's (recursively: /dev/pts, /dev/shm,
// /sys/fs/cgroup, efivars come along); /run is an empty tmpfs, so that
// systemctl in the image sees no running systemd and does not reach the
// host's (it says "Running in chroot, ignoring request").
var mounts = []struct {
	dir    string // in the image
	source string
	fstype string
	flags  uintptr
	data   string
	mode   fs.FileMode // of the directory when the image lacks it
}{
	{"proc", "/proc", "", unix.MS_BIND | unix.MS_REC, "", 0o555},
	{"sys", "/sys", "", unix.MS_BIND | unix.MS_REC, "", 0o555},
	{"dev", "/dev", "", unix.MS_BIND | unix.MS_REC, "", 0o755},
	{"run", "tmpfs", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755", 0o755},
}

// The second stage runs on the main thread only: the parent-death signal
// lchroot set on it (the command dies with lchroot) belongs to that thread,
// and another thread that execs would start the command without it.
func init() {
	if os.Getenv(enterEnv) != "" {
		runtime.LockOSThread()
	}
}

// enter is the second stage. It returns only on failure, having told the
// first stage why ("fail CODE MESSAGE" on fd 3).
func enter(root string, argv []string, stderr io.Writer) int {
	sock := 3
	fail := func(code int, format string, a ...any) int {
		msg := fmt.Sprintf(format, a...)
		if _, err := unix.Write(sock, fmt.Appendf(nil, "fail %d %s", code, msg)); err != nil {
			fmt.Fprintf(stderr, "lchroot: %s\n", msg)
		}
		return code
	}
	if auditArch == 0 {
		return fail(exitFailed, "lchroot cannot answer uname on %s", runtime.GOARCH)
	}
	// The filter is installed on this thread (the main one, locked by
	// init), which then execs.
	for _, m := range mounts {
		dir := filepath.Join(root, m.dir)
		fi, err := os.Lstat(dir)
		switch {
		case os.IsNotExist(err):
			if err := os.Mkdir(dir, m.mode); err != nil {
				return fail(exitFailed, "cannot create /%s in the image: %v", m.dir, err)
			}
		case err != nil:
			return fail(exitFailed, "cannot use /%s in the image: %v", m.dir, err)
		case !fi.IsDir():
			return fail(exitFailed, "/%s in the image (%s) is not a directory; lchroot mounts only on directories", m.dir, dir)
		}
		if err := unix.Mount(m.source, dir, m.fstype, m.flags, m.data); err != nil {
			return fail(exitFailed, "cannot mount %s on %s: %v", m.source, dir, err)
		}
	}
	// The first stage stops what the command leaves in this namespace.
	var ns unix.Stat_t
	if err := unix.Stat("/proc/self/ns/mnt", &ns); err != nil {
		return fail(exitFailed, "cannot read the mount namespace: %v", err)
	}
	if err := unix.Chroot(root); err != nil {
		return fail(exitFailed, "chroot %s: %v", root, err)
	}
	if err := os.Chdir("/"); err != nil {
		return fail(exitFailed, "chdir / in %s: %v", root, err)
	}
	os.Unsetenv(enterEnv)
	if len(argv) == 0 {
		argv = []string{shell(), "-i"}
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return fail(127, "%s: command not found in the image (PATH=%s)", argv[0], os.Getenv("PATH"))
	}
	listener, err := installUnameFilter()
	if err != nil {
		return fail(exitFailed, "%v", err)
	}
	if err := unix.Sendmsg(sock, fmt.Appendf(nil, "ok %d", ns.Ino), unix.UnixRights(listener), nil, 0); err != nil {
		fmt.Fprintf(stderr, "lchroot: cannot hand over the uname listener: %v\n", err)
		return exitFailed
	}
	unix.Close(listener)
	unix.Close(sock)
	err = syscall.Exec(path, argv, os.Environ())
	fmt.Fprintf(stderr, "lchroot: %s: %v\n", path, err)
	return 126
}

// shell is the image's shell for an interactive session: $SHELL when the
// image has it, else bash, else sh.
func shell() string {
	for _, s := range []string{os.Getenv("SHELL"), "/bin/bash", "/bin/sh"} {
		if s == "" {
			continue
		}
		if fi, err := os.Stat(s); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return s
		}
	}
	return "/bin/sh"
}
