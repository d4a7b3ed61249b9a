package ltorrent

import (
	"fmt"

	"github.com/clustervision/luna-go/internal/pidfile"
)

// readPidfile returns the pid in path, 0 when the file does not exist.
func readPidfile(path string) (int, error) { return pidfile.Read(path) }

// runningLtorrent reports whether pid is a live ltorrent other than this
// process (see pidfile.Running), so a stale pidfile never blocks a start.
func runningLtorrent(pid int) bool { return pidfile.Running(pid, "ltorrent") }

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

// writePidfile writes this process's pid to path.
func writePidfile(path string) error { return pidfile.Write(path) }

// releasePidfile removes path if it still names this process.
func releasePidfile(path string) { pidfile.Release(path) }
