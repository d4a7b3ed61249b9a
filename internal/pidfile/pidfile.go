// Package pidfile reads and writes daemon pid files and tells whether the
// pid in one is still the daemon it names. A pidfile can outlive a crash and
// its pid be reused by another program: Running checks the process's name,
// so a stale pidfile neither blocks a start nor gets a stranger signalled.
package pidfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Read returns the pid in path, 0 when the file does not exist or holds
// no positive number (as good as absent).
func Read(path string) (int, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the pidfile: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, nil
	}
	return pid, nil
}

// Running reports whether pid is a live process of the program name other
// than this process: its /proc/PID/comm is name and, when readable, its
// /proc/PID/exe's file name is name too (a deleted, replaced binary still
// counts).
func Running(pid int, name string) bool {
	if pid <= 0 || pid == os.Getpid() {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	comm, err := os.ReadFile(filepath.Join(dir, "comm"))
	if err != nil || strings.TrimSpace(string(comm)) != truncComm(name) {
		return false
	}
	if exe, err := os.Readlink(filepath.Join(dir, "exe")); err == nil {
		return filepath.Base(strings.TrimSuffix(exe, " (deleted)")) == name
	}
	return true // exe unreadable (another user's process): comm decides
}

// truncComm is name as the kernel keeps it in comm (15 bytes).
func truncComm(name string) string {
	if len(name) > 15 {
		return name[:15]
	}
	return name
}

// Find returns the pid in path when it is a running name, else 0.
func Find(path, name string) (int, error) {
	pid, err := Read(path)
	if err != nil || !Running(pid, name) {
		return 0, err
	}
	return pid, nil
}

// Write writes this process's pid to path, through a temporary file
// renamed into place, creating the directory if needed.
func Write(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create the pidfile directory: %w", err)
	}
	tmp := path + ".tmp" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("write the pidfile: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write the pidfile: %w", err)
	}
	return nil
}

// Release removes path if it still names this process.
func Release(path string) {
	if pid, err := Read(path); err == nil && pid == os.Getpid() {
		_ = os.Remove(path)
	}
}
