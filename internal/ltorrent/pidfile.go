package ltorrent

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

// readPidfile returns the pid in path, 0 when the file does not exist.
func readPidfile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the pidfile: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, nil // garbage: as good as absent
	}
	return pid, nil
}

// runningLtorrent reports whether pid is a live ltorrent other than this
// process. A pid that is dead, or reused by a program of another name (the
// pidfile outlived a crash), does not count, so a stale pidfile never blocks
// a start.
func runningLtorrent(pid int) bool {
	if pid <= 0 || pid == os.Getpid() {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	comm, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	if err != nil {
		return false
	}
	return strings.HasPrefix(strings.TrimSpace(string(comm)), "ltorrent")
}

// checkPidfile refuses when another ltorrent holds path.
func checkPidfile(path string) error {
	pid, err := readPidfile(path)
	if err != nil {
		return err
	}
	if runningLtorrent(pid) {
		return fmt.Errorf("ltorrent is already running as pid %d (pidfile %s)", pid, path)
	}
	return nil
}

// writePidfile writes this process's pid to path, through a temporary file
// renamed into place, creating the directory if needed.
func writePidfile(path string) error {
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

// releasePidfile removes path if it still names this process.
func releasePidfile(path string) {
	if pid, err := readPidfile(path); err == nil && pid == os.Getpid() {
		_ = os.Remove(path)
	}
}
