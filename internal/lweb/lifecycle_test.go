package lweb

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var lwebBin struct {
	once sync.Once
	path string
	err  error
}

// buildLweb builds cmd/lweb once per test run, into a temporary directory.
func buildLweb(t *testing.T) string {
	t.Helper()
	lwebBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "lweb-bin-")
		if err != nil {
			lwebBin.err = err
			return
		}
		lwebBin.path = filepath.Join(dir, "lweb")
		out, err := exec.Command("go", "build", "-o", lwebBin.path, "github.com/clustervision/luna-go/cmd/lweb").CombinedOutput()
		if err != nil {
			lwebBin.err = fmt.Errorf("go build cmd/lweb: %v\n%s", err, out)
		}
	})
	if lwebBin.err != nil {
		t.Fatal(lwebBin.err)
	}
	return lwebBin.path
}

// lwebProcess is bin/lweb running on the fixture's database.
type lwebProcess struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan struct{}
	took   time.Duration
}

func (f *fixture) startLweb(args ...string) *lwebProcess {
	f.t.Helper()
	if !slices.Contains(args, "--tftp") {
		args = append(args, "--tftp", "off") // not port 69: tests run side by side
	}
	cmd := exec.Command(buildLweb(f.t), args...)
	for k, v := range f.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &lwebProcess{cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stderr = &lockedWriter{w: p.stderr}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		p.took = time.Since(start)
		close(p.done)
	}()
	f.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// exited waits up to limit for the process to end.
func (p *lwebProcess) exited(limit time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(limit):
		return false
	}
}

// A busy port or an unusable certificate: bin/lweb exits non-zero within
// 2 s, with one line on stderr that names the cause.
func TestStartupFailsFast(t *testing.T) {
	f := newFixture(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	brokenCert := filepath.Join(f.path, "broken.pem")
	if err := os.WriteFile(brokenCert, []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, goodKey, _ := writeCert(t, f.path)
	for _, tc := range []struct {
		name    string
		cluster []string
		listen  string
		extra   []string
		want    string
	}{
		{"busy port", nil, busy.Addr().String(), nil, "address already in use"},
		{"broken certificate", []string{"--frontend_https", "y", "--https_cert", brokenCert, "--https_key", goodKey}, "127.0.0.1:0", nil, "certificate"},
		{"missing key", []string{"--frontend_https", "y", "--https_cert", brokenCert, "--https_key", filepath.Join(f.path, "nokey.pem")}, "127.0.0.1:0", nil, "no such file"},
		{"missing tftp root", nil, "127.0.0.1:0", []string{"--tftp", "127.0.0.1:0", "--tftp-root", filepath.Join(f.path, "no-tftpboot")}, "--tftp off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cluster != nil {
				f.luna(append([]string{"cluster", "change"}, tc.cluster...)...)
				defer f.luna("cluster", "change", "--frontend_https", "n")
			}
			p := f.startLweb(append([]string{"--listen", tc.listen}, tc.extra...)...)
			if !p.exited(2 * time.Second) {
				t.Fatalf("lweb still runs after 2 s; stderr so far:\n%s", p.stderr)
			}
			if p.cmd.ProcessState.ExitCode() == 0 {
				t.Fatalf("exit code 0; stderr:\n%s", p.stderr)
			}
			lines := strings.Split(strings.TrimRight(p.stderr.String(), "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "lweb: ") || !strings.Contains(lines[0], tc.want) {
				t.Fatalf("stderr is not one line naming %q:\n%s", tc.want, p.stderr)
			}
			t.Logf("exit %d after %v: %s", p.cmd.ProcessState.ExitCode(), p.took.Round(time.Millisecond), lines[0])
		})
	}
}

// SIGTERM during a burst of status reports: lweb stops accepting, answers
// what is in flight, then stores what is pending; every status a client
// got 200 for is stored (or a later one the same client sent, if lweb
// processed it and the answer was lost with the connection).
func TestSIGTERMKeepsAcknowledgedStatuses(t *testing.T) {
	f := newFixture(t)
	const nodes = 24
	f.luna("node", "add", "-g", "compute", "-n", fmt.Sprintf("burst[01-%02d]", nodes))
	f.luna("cluster", "change", "--insecure_install", "y") // this test is about the stop, not who may report
	port := freePort(t)
	p := f.startLweb("--listen", "127.0.0.1:"+strconv.Itoa(port))
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	if err := waitUp(base+"/healthz", 15*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, p.stderr)
	}

	type progress struct {
		mu          sync.Mutex
		acked, sent int // sequence numbers
	}
	prog := make([]*progress, nodes)
	started := make(chan struct{})
	var startOnce sync.Once
	signalled := make(chan struct{})
	var acksAfterSignal, acksBefore int64
	var countMu sync.Mutex
	var wg sync.WaitGroup
	for i := range nodes {
		prog[i] = &progress{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			node := fmt.Sprintf("burst%02d", i+1)
			for seq := 1; ; seq++ {
				prog[i].mu.Lock()
				prog[i].sent = seq
				prog[i].mu.Unlock()
				resp, err := client.Get(fmt.Sprintf("%s/luna?step=install&node=%s&status=install.s%d", base, node, seq))
				if err != nil {
					return // lweb stopped accepting
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("%s status %d: HTTP %d", node, seq, resp.StatusCode)
					return
				}
				prog[i].mu.Lock()
				prog[i].acked = seq
				prog[i].mu.Unlock()
				countMu.Lock()
				select {
				case <-signalled:
					acksAfterSignal++
				default:
					acksBefore++
					if acksBefore == 20*nodes {
						startOnce.Do(func() { close(started) })
					}
				}
				countMu.Unlock()
			}
		}()
	}
	select {
	case <-started:
	case <-time.After(60 * time.Second):
		t.Fatalf("the burst did not get going\n%s", p.stderr)
	}
	countMu.Lock()
	close(signalled)
	countMu.Unlock()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !p.exited(20 * time.Second) {
		t.Fatalf("lweb did not stop within 20 s of SIGTERM\n%s", p.stderr)
	}
	wg.Wait()
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM\n%s", code, p.stderr)
	}
	if strings.Contains(p.stderr.String(), "not stored") {
		t.Fatalf("lweb stopped with statuses not stored:\n%s", p.stderr)
	}
	for i := range nodes {
		node := fmt.Sprintf("burst%02d", i+1)
		got := f.status(node)
		acked, sent := prog[i].acked, prog[i].sent
		ok := got == fmt.Sprintf("install.s%d", acked) || (sent > acked && got == fmt.Sprintf("install.s%d", sent))
		if !ok {
			t.Errorf("%s: stored %q, last acknowledged install.s%d (last sent s%d)", node, got, acked, sent)
		}
	}
	t.Logf("%d statuses acknowledged before SIGTERM, %d after it (in flight or on open connections)", acksBefore, acksAfterSignal)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitUp polls url until it answers 200.
func waitUp(url string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer within %v", url, limit)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
