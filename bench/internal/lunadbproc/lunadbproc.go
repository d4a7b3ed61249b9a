// Package lunadbproc runs bin/lunadb as a separate process for the
// benchmarks, so its CPU is not counted against the program measured.
package lunadbproc

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Start runs <bin>/lunadb on a free loopback port with its data and log in
// dir, and returns the process and its mongodb:// URI once it serves.
func Start(ctx context.Context, bin, dir string) (*exec.Cmd, string, error) {
	logf, err := os.Create(filepath.Join(dir, "lunadb.log"))
	if err != nil {
		return nil, "", err
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(bin, "lunadb"), "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "db"))
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start lunadb: %w", err)
	}
	uri := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			// lunadb: serving mongodb://127.0.0.1:PORT/ from DIR
			if f := strings.Fields(sc.Text()); len(f) >= 3 && f[1] == "serving" {
				uri <- f[2]
			}
		}
		close(uri)
	}()
	select {
	case u, ok := <-uri:
		if ok {
			return cmd, u, nil
		}
	case <-time.After(60 * time.Second):
	case <-ctx.Done():
	}
	Stop(cmd)
	logText, _ := os.ReadFile(logf.Name())
	return nil, "", fmt.Errorf("lunadb did not start serving:\n%s", logText)
}

// Stop sends SIGTERM and waits (SIGKILL after 30 s).
func Stop(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}
