package lchroot

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel version the image expects, as `uname -r` (and every other
// caller of the uname system call: dracut, rpm scriptlets, DKMS, Python's
// os.uname, static binaries) sees it inside the chroot.
//
// A seccomp filter with user notification (Linux 5.0+) is installed on the
// chrooted command just before it starts and is inherited by every process
// it starts: their uname(2) calls stop in the kernel and are handed to
// lchroot, which writes the host's utsname with the image's release into
// the caller's buffer (through /proc/PID/mem) and lets the call return 0.
// Every other system call runs unfiltered. Calls of another ABI than the
// native one (i386 programs on x86_64) are not filtered.

// seccompData is struct seccomp_data.
type seccompData struct {
	Nr                 int32
	Arch               uint32
	InstructionPointer uint64
	Args               [6]uint64
}

// seccompNotif is struct seccomp_notif.
type seccompNotif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Data  seccompData
}

// seccompNotifResp is struct seccomp_notif_resp.
type seccompNotifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

const (
	seccompSetModeFilter = 1
	offsetNr             = 0 // offsetof(struct seccomp_data, nr)
	offsetArch           = 4 // offsetof(struct seccomp_data, arch)
)

// unameFilter is the BPF program: uname of the native ABI goes to the
// listener, everything else is allowed.
func unameFilter() []unix.SockFilter {
	return []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: offsetArch},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 3, K: auditArch},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: offsetNr},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: unix.SYS_UNAME},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_USER_NOTIF},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
}

// installUnameFilter installs the filter on the calling thread (which must
// stay locked to its goroutine until it execs) and returns the listener.
// The caller is root: CAP_SYS_ADMIN makes no_new_privs unnecessary, so
// setuid programs in the image keep working.
func installUnameFilter() (int, error) {
	f := unameFilter()
	prog := unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]}
	fd, _, errno := unix.Syscall(unix.SYS_SECCOMP, seccompSetModeFilter, unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(f)
	if errno != 0 {
		return -1, fmt.Errorf("seccomp filter for uname: %w (Linux 5.0 or later is needed)", errno)
	}
	return int(fd), nil
}

// serveUname answers the uname calls notified on listener with the host's
// utsname whose release is release, until done is closed or no process is
// left under the filter. It closes listener.
func serveUname(listener int, release string, done <-chan struct{}) {
	defer unix.Close(listener)
	fds := []unix.PollFd{{Fd: int32(listener), Events: unix.POLLIN}}
	for {
		select {
		case <-done:
			return
		default:
		}
		fds[0].Revents = 0
		n, err := unix.Poll(fds, 200)
		if errors.Is(err, unix.EINTR) || n == 0 {
			continue
		}
		if err != nil || fds[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 && fds[0].Revents&unix.POLLIN == 0 {
			return
		}
		var req seccompNotif
		if err := ioctlPtr(listener, unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(&req)); err != nil {
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.ENOENT) {
				continue // interrupted, or the caller died meanwhile
			}
			return
		}
		resp := seccompNotifResp{ID: req.ID}
		if err := answerUname(listener, &req, release); err != nil {
			resp.Error = -int32(unix.EFAULT)
		}
		// ENOENT: the caller was killed while it waited; nothing to do.
		_ = ioctlPtr(listener, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&resp))
	}
}

// answerUname writes the utsname into the buffer the caller passed.
func answerUname(listener int, req *seccompNotif, release string) error {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return err
	}
	clear(u.Release[:])
	copy(u.Release[:len(u.Release)-1], release) // always NUL-terminated
	buf := (*[unsafe.Sizeof(u)]byte)(unsafe.Pointer(&u))[:]
	mem, err := os.OpenFile(fmt.Sprintf("/proc/%d/mem", req.Pid), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer mem.Close()
	// The pid is still the caller (not a new process that took its pid):
	// checked after the open, as seccomp_unotify(2) asks.
	id := req.ID
	if err := ioctlPtr(listener, unix.SECCOMP_IOCTL_NOTIF_ID_VALID, unsafe.Pointer(&id)); err != nil {
		return err
	}
	_, err = mem.WriteAt(buf, int64(req.Data.Args[0]))
	return err
}

func ioctlPtr(fd int, req uint, arg unsafe.Pointer) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg))
	if errno != 0 {
		return errno
	}
	return nil
}
