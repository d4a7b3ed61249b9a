package pidfile

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// startAs runs a copy of sleep named name.
func startAs(t *testing.T, name string) *exec.Cmd {
	t.Helper()
	src, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

func TestRunningChecksName(t *testing.T) {
	lt := startAs(t, "ltorrent")
	client := startAs(t, "ltorrent-client") // same comm prefix, other program
	other := startAs(t, "sleep")
	if !Running(lt.Process.Pid, "ltorrent") {
		t.Error("a live ltorrent is not Running")
	}
	if Running(client.Process.Pid, "ltorrent") {
		t.Error("ltorrent-client counts as ltorrent")
	}
	if Running(other.Process.Pid, "ltorrent") {
		t.Error("sleep counts as ltorrent")
	}
	if Running(os.Getpid(), "pidfile.test") {
		t.Error("this process counts")
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	if Running(dead.Process.Pid, "true") {
		t.Error("a dead pid counts")
	}
}

func TestWriteReadRelease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "x.pid")
	if pid, err := Read(path); err != nil || pid != 0 {
		t.Fatalf("absent: %d %v", pid, err)
	}
	if err := Write(path); err != nil {
		t.Fatal(err)
	}
	if pid, err := Read(path); err != nil || pid != os.Getpid() {
		t.Fatalf("Read = %d %v", pid, err)
	}
	Release(path)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("Release left %s: %v", path, err)
	}
	if err := os.WriteFile(path, []byte("garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if pid, err := Read(path); err != nil || pid != 0 {
		t.Errorf("garbage: %d %v", pid, err)
	}
	lt := startAs(t, "ltorrent")
	if err := os.WriteFile(path, []byte(strconv.Itoa(lt.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	if pid, err := Find(path, "ltorrent"); err != nil || pid != lt.Process.Pid {
		t.Errorf("Find = %d %v", pid, err)
	}
	Release(path) // not ours: kept
	if _, err := os.Stat(path); err != nil {
		t.Errorf("Release removed another process's pidfile: %v", err)
	}
}
