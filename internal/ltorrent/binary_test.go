package ltorrent

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clustervision/luna-go/internal/testutil"
	"github.com/clustervision/luna-go/internal/testutil/testpeer"
)

// buildBinary builds cmd/ltorrent, so that the signals are those the real
// program handles.
func buildBinary(t *testing.T) string { return build(t, "ltorrent") }

// build builds cmd/<name>.
func build(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", bin, "github.com/clustervision/luna-go/cmd/"+name)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build ltorrent: %v\n%s", err, out)
	}
	return bin
}

// TestBinary runs the ltorrent program: a busy port range is one line and
// a quick non-zero exit; a running ltorrent refuses a second one;
// `ltorrent reload` (SIGHUP through the pidfile) rescans; `ltorrent stop`
// (SIGTERM) announces stopped, removes the pidfile and exits 0.
func TestBinary(t *testing.T) {
	bin := buildBinary(t)
	f := newFixture(t)
	conf := filepath.Join(t.TempDir(), "luna.conf")
	if err := os.WriteFile(conf, []byte("[MongoDB]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(testpeer.CleanEnv(), "LUNA_MONGO_URI="+testutil.URI(), "LUNA_DB="+f.db, "LUNA_CONF="+conf)

	// Every port of the range busy: three consecutive ports this test holds.
	ls, lo := occupyRange(t, 3)
	f.setCluster(map[string]any{"torrent_listen_port_min": lo, "torrent_listen_port_max": lo + 2})
	cmd := exec.Command(bin)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	begin := time.Now()
	err := cmd.Run()
	took := time.Since(begin)
	for _, l := range ls {
		l.Close()
	}
	msg := strings.TrimSpace(stderr.String())
	if err == nil || strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "no free port in") {
		t.Fatalf("busy ports: exit %v, stderr %q; want one line about no free port", err, msg)
	}
	if took > time.Second {
		t.Errorf("busy ports: took %s to fail", took)
	}
	if exists(f.pidfile) {
		t.Errorf("busy ports: a pidfile was written")
	}

	// A stale pidfile (a dead pid) does not block the start.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(f.pidfile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.pidfile, []byte(strconv.Itoa(dead.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lo = freePort(t)
	f.setCluster(map[string]any{"torrent_listen_port_min": lo, "torrent_listen_port_max": lo + 20})
	a := f.pack(200<<10, "Luna")
	f.osimage("a", a)
	// systemd's notify socket (Type=notify).
	sock := filepath.Join(t.TempDir(), "notify")
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	notified := make(chan string, 10)
	go func() {
		buf := make([]byte, 256)
		for {
			n, err := nc.Read(buf)
			if err != nil {
				close(notified)
				return
			}
			notified <- string(buf[:n])
		}
	}()
	run := exec.Command(bin, "start")
	run.Env = append(env, "NOTIFY_SOCKET="+sock)
	var out testpeer.SyncBuffer
	run.Stderr = &out
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- run.Wait() }()
	t.Cleanup(func() {
		_ = run.Process.Kill()
	})
	waitFor(t, "ltorrent writes its pidfile", 20*time.Second, func() bool {
		pid, _ := readPidfile(f.pidfile)
		return pid == run.Process.Pid
	}, out.String)
	waitFor(t, "ltorrent announces", 10*time.Second, func() bool { return len(f.serverAnnounces(a.infoHash)) > 0 }, out.String)

	// A second one is refused.
	second := exec.Command(bin)
	second.Env = env
	if o, err := second.CombinedOutput(); err == nil || !strings.Contains(string(o), "already running") {
		t.Errorf("a second ltorrent: %v %q", err, o)
	}

	// reload = SIGHUP through the pidfile.
	b := f.pack(200<<10, "Luna")
	f.point("a", b)
	rl := exec.Command(bin, "reload", "--pidfile", f.pidfile)
	rl.Env = env
	if o, err := rl.CombinedOutput(); err != nil {
		t.Fatalf("ltorrent reload: %v %s", err, o)
	}
	waitFor(t, "the reload is logged and the new torrent announced", 10*time.Second, func() bool {
		return strings.Contains(out.String(), "re-reading torrent files") && len(f.serverAnnounces(b.infoHash)) > 0
	}, out.String)

	// stop = SIGTERM, graceful.
	stop := exec.Command(bin, "stop") // the pidfile from the cluster's torrent_pidfile
	stop.Env = env
	if o, err := stop.CombinedOutput(); err != nil {
		t.Fatalf("ltorrent stop: %v %s\n%s", err, o, out.String())
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("ltorrent exited with %v after SIGTERM\n%s", err, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("ltorrent did not exit")
	}
	for _, img := range []*image{a, b} {
		stopped := false
		for _, r := range f.serverAnnounces(img.infoHash) {
			stopped = stopped || r.event == "stopped"
		}
		if !stopped {
			t.Errorf("no stopped announce for %s\n%s", img.id, out.String())
		}
	}
	if exists(f.pidfile) {
		t.Errorf("pidfile left behind")
	}
	var states []string
	for len(states) < 2 {
		select {
		case m := <-notified:
			states = append(states, m)
			continue
		case <-time.After(time.Second):
		}
		break
	}
	if len(states) != 2 || states[0] != "READY=1" || states[1] != "STOPPING=1" {
		t.Errorf("systemd heard %q, want READY=1 then STOPPING=1", states)
	}
	if err := syscall.Kill(run.Process.Pid, 0); err == nil {
		t.Errorf("still running")
	}
}

// occupyRange listens on n consecutive ports of 127.0.0.1 and returns the
// listeners and the first port.
func occupyRange(t *testing.T, n int) ([]net.Listener, int) {
	t.Helper()
	for try := 0; try < 50; try++ {
		lo := freePort(t)
		var ls []net.Listener
		for p := lo; p < lo+n; p++ {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				break
			}
			ls = append(ls, l)
		}
		if len(ls) == n {
			return ls, lo
		}
		for _, l := range ls {
			l.Close()
		}
	}
	t.Fatalf("found no %d consecutive free ports", n)
	return nil, 0
}
