package lweb

import (
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// curlTFTP runs curl against the TFTP server; it returns curl's output
// and whether it succeeded.
func curlTFTP(t *testing.T, args ...string) (string, bool) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl (with tftp://) is needed: apt-get install curl (scripts/deps.sh)")
	}
	out, err := exec.Command("curl", append([]string{"-sS", "--max-time", "10"}, args...)...).CombinedOutput()
	return string(out), err == nil
}

// The built-in TFTP server inside the whole lweb daemon: a real client
// (curl's tftp://) fetches the iPXE binary and a node's synthesised
// pxelinux.cfg file; escapes, absolute names and writes are refused; the
// daemon stops cleanly.
func TestTFTPServer(t *testing.T) {
	f := newFixture(t)
	f.luna("cluster", "change", "--frontend_address", "127.0.0.1")
	root := filepath.Join(f.path, "tftpboot")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	// The real iPXE binaries, under the names makedhcp hands out (what the
	// README's Getting started copies into /tftpboot); both span many blocks.
	bins := map[string][]byte{}
	for name, src := range map[string]string{"luna_undionly.kpxe": "/usr/lib/ipxe/undionly.kpxe", "luna_ipxe.efi": "/usr/lib/ipxe/ipxe.efi"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatalf("%v: the iPXE binaries are needed: apt-get install ipxe (make deps)", err)
		}
		if err := os.WriteFile(filepath.Join(root, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		bins[name] = b
	}
	if err := os.WriteFile(filepath.Join(f.path, "secret"), []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Options: Options{Listen: "127.0.0.1:0", TFTP: "127.0.0.1:0", TFTPRoot: root, MenuTimeout: time.Second},
			Log: slog.New(slog.NewTextHandler(f.log, nil)), Getenv: func(k string) string { return f.env[k] },
			TFTPReady: func(a string) { ready <- a }, Now: f.clock.Now})
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(20 * time.Second):
		t.Fatal("lweb did not start")
	}
	base := "tftp://" + addr + "/"

	for name, want := range bins {
		got, ok := curlTFTP(t, base+name)
		if !ok || got != string(want) {
			t.Fatalf("%s: ok=%v, %d bytes, want the %d of the iPXE binary", name, ok, len(got), len(want))
		}
	}
	got, ok := curlTFTP(t, base+"pxelinux.cfg/01-52-54-00-00-00-01")
	if !ok || !strings.Contains(got, "KERNEL http://127.0.0.1:7050/boot/compute-vmlinuz-5.10.0-9-amd64") || !strings.Contains(got, "luna.node=node001") {
		t.Fatalf("pxelinux.cfg for node001: ok=%v\n%s", ok, got)
	}
	for _, name := range []string{"pxelinux.cfg/01-52-54-00-00-00-99", "pxelinux.cfg/C0A8025B", "missing.efi", "pxelinux.cfg"} {
		if got, ok := curlTFTP(t, base+name); ok {
			t.Errorf("%s: served %q, want an error", name, got)
		}
	}
	// curl would clean "../" itself: --path-as-is sends it as written; a
	// double slash after the host makes the requested name absolute.
	for _, u := range []string{base + "../secret", base + "pxelinux.cfg/../../secret", "tftp://" + addr + "//" + filepath.Join(f.path, "secret")} {
		got, ok := curlTFTP(t, "--path-as-is", u)
		if ok || strings.Contains(got, "outside") {
			t.Errorf("%s: ok=%v %q, want refused", u, ok, got)
		}
	}
	up := filepath.Join(f.path, "upload")
	if err := os.WriteFile(up, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, ok := curlTFTP(t, "-T", up, base+"new.bin"); ok {
		t.Errorf("write accepted: %q", got)
	}
	if _, err := os.Stat(filepath.Join(root, "new.bin")); err == nil {
		t.Error("a write created a file")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("stop: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("lweb did not stop")
	}
	// The same discovery as over HTTP: from 127.0.0.1, not node001's
	// address, the script carries no boot token and the status stays.
	if !strings.Contains(f.log.String(), "boot script without a boot token") {
		t.Errorf("the pxelinux fetch did not go through discovery:\n%s", f.log.String())
	}
	if !strings.Contains(f.log.String(), "tftp: refused") {
		t.Errorf("no refusal logged:\n%s", f.log.String())
	}
}

// A TFTP port already taken: bin/lweb exits non-zero with one line.
func TestTFTPBusyPort(t *testing.T) {
	f := newFixture(t)
	busy, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	p := f.startLweb("--listen", "127.0.0.1:0", "--tftp", busy.LocalAddr().String(), "--tftp-root", f.path)
	if !p.exited(10 * time.Second) {
		t.Fatal("lweb still running with its TFTP port taken")
	}
	if p.cmd.ProcessState.ExitCode() == 0 {
		t.Fatal("exit code 0")
	}
	msg := strings.TrimSpace(p.stderr.String())
	if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "tftp") || !strings.Contains(msg, "address already in use") {
		t.Fatalf("stderr = %q, want one line naming the busy TFTP port", msg)
	}
}
