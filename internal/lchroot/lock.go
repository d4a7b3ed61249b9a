package lchroot

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/clustervision/luna-go/internal/luna"
)

// LockDir holds lchroot's host-side locks, lchroot-<osimage id>.lock.
var LockDir = "/run/luna"

// ImageLock is Luna 1.2's lock file in the image, which its Ansible
// connection plugin honours too: while it exists and names a live
// process, no lchroot enters the image.
const ImageLock = "tmp/lchroot.lock"

// lockImage makes one lchroot per osimage at a time. Two locks:
//
//   - an exclusive flock on LockDir/lchroot-<osimage id>.lock, outside the
//     image (nothing in the chroot can remove it), released by the kernel
//     however lchroot ends: two lchroots on this host never both enter;
//   - 1.2's <image>/tmp/lchroot.lock with "PID <pid> on <tty> by
//     <user>@<host>", for 1.2's tools and for a master that shares the
//     image path. Found naming a live process (or another host, or in a
//     form lchroot cannot read), it refuses; naming a process that is gone
//     (an lchroot killed with SIGKILL), it is taken over with a warning.
//
// The returned function removes the image lock (if it is still this one's)
// and releases the flock.
func lockImage(img luna.ChrootImage, holder string, warn func(string)) (func(), error) {
	if err := os.MkdirAll(LockDir, 0o755); err != nil {
		return nil, failf(exitFailed, "cannot create %s: %v", LockDir, unwrapPath(err))
	}
	file := filepath.Join(LockDir, "lchroot-"+img.ID+".lock")
	f, err := os.OpenFile(file, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, failf(exitFailed, "cannot open %s: %v", file, unwrapPath(err))
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := io.ReadAll(io.LimitReader(f, 512))
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, failf(exitLocked, "Currently %s is using lchroot in osimage '%s' (%s)", strings.TrimSpace(string(b)), img.Name, file)
		}
		return nil, failf(exitFailed, "cannot lock %s: %v", file, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(holder+"\n"), 0)
	unlock := func() { _ = f.Truncate(0); f.Close() }

	root, err := os.OpenRoot(img.Path)
	if err != nil {
		unlock()
		return nil, failf(exitFailed, "cannot open %s: %v", img.Path, unwrapPath(err))
	}
	defer root.Close()
	inImage := filepath.Join(img.Path, ImageLock)
	if b, err := root.ReadFile(ImageLock); err == nil {
		other := strings.TrimSpace(string(b))
		if held(other) {
			unlock()
			return nil, failf(exitLocked, "Currently %s is using lchroot in osimage '%s' (%s)", other, img.Name, inImage)
		}
		warn(fmt.Sprintf("%s was left by a process that is gone (%s); taking it over", inImage, other))
	}
	if err := root.MkdirAll(filepath.Dir(ImageLock), 0o755); err != nil {
		unlock()
		return nil, failf(exitFailed, "cannot create %s: %v", filepath.Dir(inImage), unwrapPath(err))
	}
	if err := root.WriteFile(ImageLock, []byte(holder+"\n"), 0o644); err != nil {
		unlock()
		return nil, failf(exitFailed, "cannot write %s: %v", inImage, unwrapPath(err))
	}
	return func() {
		if r, err := os.OpenRoot(img.Path); err == nil {
			if b, err := r.ReadFile(ImageLock); err == nil && strings.TrimSpace(string(b)) == holder {
				_ = r.Remove(ImageLock)
			}
			r.Close()
		}
		unlock()
	}, nil
}

// lockRe reads "PID <pid> on <tty>" (1.2) with lchroot's " by <user>@<host>".
var lockRe = regexp.MustCompile(`^PID (\d+) on \S+(?: by \S*@(\S+))?$`)

// held says whether an image lock's content names someone who may still
// use the image.
func held(content string) bool {
	m := lockRe.FindStringSubmatch(content)
	if m == nil {
		return true // not ours to judge: the administrator removes it
	}
	if host, _ := os.Hostname(); m[2] != "" && m[2] != host {
		return true // a process on another master
	}
	pid, err := strconv.Atoi(m[1])
	if err != nil || pid <= 0 {
		return true
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
