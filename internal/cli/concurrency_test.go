package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clustervision/luna-go/internal/ipam"
	"github.com/clustervision/luna-go/internal/store"
	"github.com/clustervision/luna-go/internal/testutil"
)

// TestHelperLuna is not a test: it is `luna` in the processes started by
// TestConcurrentReserve (arguments as JSON in LUNA_HELPER_ARGS), and returns
// at once in a normal run.
func TestHelperLuna(t *testing.T) {
	spec := os.Getenv("LUNA_HELPER_ARGS")
	if spec == "" {
		return
	}
	var args []string
	if err := json.Unmarshal([]byte(spec), &args); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(os.Getenv("LUNA_HELPER_READY"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	start := os.Getenv("LUNA_HELPER_START")
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(start); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no start")
		}
	}
	os.Exit(Main(context.Background(), args, StdIO()))
}

// TestConcurrentReserve: 20 administrators reserve the same address at the
// same moment through the real CLI, each in its own process. Exactly one
// succeeds; the others are told the address is already used.
func TestConcurrentReserve(t *testing.T) {
	if os.Getenv("LUNA_HELPER_ARGS") != "" {
		t.Skip("helper process")
	}
	env, dir := newLunaEnv(t)
	env.mustRun(t, "cluster", "init", "--frontend_address", "10.40.0.254", "--user", "root", "--path", dir)
	env.mustRun(t, "network", "add", "-n", "net40", "-N", "10.40.0.0", "-P", "24", "--ns_hostname", "master")

	const procs = 20
	args, _ := json.Marshal([]string{"network", "change", "net40", "--reserve", "10.40.0.200"})
	startFile := filepath.Join(dir, "start")
	type proc struct {
		cmd         *exec.Cmd
		out, errOut bytes.Buffer
		ready       string
		done        chan error
	}
	ps := make([]*proc, procs)
	t.Cleanup(func() {
		for _, p := range ps {
			if p != nil {
				_ = p.cmd.Process.Kill() // an error once it has ended
			}
		}
	})
	for i := range ps {
		p := &proc{ready: filepath.Join(dir, fmt.Sprintf("ready-%d", i)), done: make(chan error, 1)}
		p.cmd = exec.Command(os.Args[0], "-test.run=^TestHelperLuna$", "-test.count=1", "-test.timeout=2m")
		p.cmd.Env = append(os.Environ(),
			"LUNA_TEST_MONGODB_URI="+testutil.URI(), // the helper's TestMain starts no server of its own
			"LUNA_HELPER_ARGS="+string(args),
			"LUNA_HELPER_READY="+p.ready,
			"LUNA_HELPER_START="+startFile,
		)
		for k, v := range env {
			p.cmd.Env = append(p.cmd.Env, k+"="+v)
		}
		p.cmd.Env = append(p.cmd.Env, "LUNA_CONNECT_TIMEOUT=30s")
		p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.errOut
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.done <- p.cmd.Wait() }()
		ps[i] = p
	}
	deadline := time.Now().Add(60 * time.Second)
	for i, p := range ps {
		for {
			if _, err := os.Stat(p.ready); err == nil {
				break
			}
			select {
			case err := <-p.done:
				t.Fatalf("helper %d ended before the start: %v\n%s%s", i, err, p.out.String(), p.errOut.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("helper %d not ready", i)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	if err := os.WriteFile(startFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	codes := map[int]int{}
	for i, p := range ps {
		err := <-p.done
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("helper %d: %v", i, err)
		}
		codes[code]++
		stderr := p.errOut.String()
		if p.out.Len() != 0 {
			t.Errorf("helper %d wrote to stdout: %q", i, p.out.String())
		}
		switch code {
		case 0:
			if stderr != "" {
				t.Errorf("helper %d succeeded with stderr %q", i, stderr)
			}
		case 1:
			if !strings.HasPrefix(stderr, "ERROR: ") || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "already used") {
				t.Errorf("helper %d: stderr %q, want one ERROR line saying the address is already used", i, stderr)
			}
		default:
			t.Errorf("helper %d: exit %d, stderr %q", i, code, stderr)
		}
	}
	if codes[0] != 1 || codes[1] != procs-1 {
		t.Errorf("exit codes %v, want one 0 and %d times 1", codes, procs-1)
	}

	st, err := store.Open(context.Background(), env["LUNA_MONGO_URI"], env["LUNA_DB"], "test server", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	var n store.Network
	if err := st.GetByName(context.Background(), store.Networks, "net40", &n); err != nil {
		t.Fatal(err)
	}
	addrs, err := st.FindAddresses(context.Background(), store.AddressFilter{Network: &n.ID, Offset: ipam.OffsetFrom(200).Key()})
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 1 || addrs[0].Kind != store.KindReserved {
		t.Errorf("claims of 10.40.0.200: %+v, want one reservation", addrs)
	}
	if c, _ := st.Count(context.Background(), store.Addresses); c != 2 {
		t.Errorf("%d claims in the store, want 2 (the reservation and the name server)", c)
	}
}
