// Package testpeer finds and feeds the real peer programs the tests run
// (aria2c, python3-libtorrent): where they are, the environment they run
// in, and a buffer their output can be read from while they run.
package testpeer

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// InstallHint says how to get the BitTorrent peers on a Debian machine.
const InstallHint = "install with: apt-get install aria2 python3-libtorrent (or make deps)"

// Aria2c is the path of aria2c; the test fails when it is missing.
func Aria2c(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("aria2c")
	if err != nil {
		t.Fatalf("aria2c not found: %s", InstallHint)
	}
	return p
}

// LibtorrentPython is a python3 that can import libtorrent (Debian's
// python3-libtorrent installs for /usr/bin/python3, which another python3
// earlier on PATH may not see); the test fails when there is none.
func LibtorrentPython(t testing.TB) string {
	t.Helper()
	cands := []string{"/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		cands = append(cands, p)
	}
	for _, p := range cands {
		if exec.Command(p, "-c", "import libtorrent").Run() == nil {
			return p
		}
	}
	t.Fatalf("python3 cannot import libtorrent: %s", InstallHint)
	return ""
}

// CleanEnv is the test's environment without proxy settings, which would
// send the clients' announces and downloads elsewhere.
func CleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasSuffix(strings.ToLower(k), "_proxy") {
			out = append(out, kv)
		}
	}
	return out
}

// SyncBuffer is a bytes.Buffer that a running command writes while the
// test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
