package testutil

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Helper processes: a concurrency test starts its own test binary several
// times, each running only one helper "test" that does one client's work,
// and releases them all at the same moment once every one is connected and
// ready. These are real OS processes with their own connections to the
// store, as concurrent administrators are.

// HelperResult is how one helper process ended.
type HelperResult struct {
	Code           int // exit code
	Stdout, Stderr string
	Signaled       bool          // ended by a signal (Code is then -1)
	Elapsed        time.Duration // from the release to the end
}

// Signal is sent to one helper After its release (RunHelpersSignal).
type Signal struct {
	After time.Duration
	Sig   os.Signal // nil: none
}

// RunHelpers starts this test binary once per environment list, running only
// the test named helper (which must call HelperStart), waits until every one
// is ready, releases them together and waits for them to end. Each helper
// also gets LUNA_TEST_MONGODB_URI, so its TestMain starts no server of its own.
func RunHelpers(t *testing.T, helper string, envs [][]string) []HelperResult {
	t.Helper()
	return RunHelpersSignal(t, helper, envs, nil)
}

// RunHelpersSignal is RunHelpers that also sends signals[i].Sig to helper i
// signals[i].After its release (at a random moment, if the caller picks
// After at random), as an administrator's Ctrl-C or a crash would.
func RunHelpersSignal(t *testing.T, helper string, envs [][]string, signals []Signal) []HelperResult {
	t.Helper()
	dir := t.TempDir()
	startFile := filepath.Join(dir, "start")
	type proc struct {
		cmd         *exec.Cmd
		out, errOut bytes.Buffer
		ready       string
		done        chan error
		end         time.Time // set before done is sent
	}
	ps := make([]*proc, len(envs))
	t.Cleanup(func() {
		for _, p := range ps {
			if p != nil {
				_ = p.cmd.Process.Kill() // an error once it has ended
			}
		}
	})
	for i := range ps {
		p := &proc{ready: filepath.Join(dir, fmt.Sprintf("ready-%d", i)), done: make(chan error, 1)}
		p.cmd = exec.Command(os.Args[0], "-test.run=^"+helper+"$", "-test.count=1", "-test.timeout=2m")
		p.cmd.Env = append(os.Environ(), "LUNA_TEST_MONGODB_URI="+URI(), "LUNA_HELPER_READY="+p.ready, "LUNA_HELPER_START="+startFile)
		p.cmd.Env = append(p.cmd.Env, envs[i]...)
		p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.errOut
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			err := p.cmd.Wait()
			p.end = time.Now()
			p.done <- err
		}()
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
	released := time.Now()
	for i, sg := range signals {
		if sg.Sig != nil {
			p := ps[i]
			time.AfterFunc(sg.After, func() { _ = p.cmd.Process.Signal(sg.Sig) }) // an error once it has ended
		}
	}
	res := make([]HelperResult, len(ps))
	for i, p := range ps {
		err := <-p.done
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			res[i].Code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				res[i].Signaled = true
			}
		} else if err != nil {
			t.Fatalf("helper %d: %v", i, err)
		}
		res[i].Stdout, res[i].Stderr = p.out.String(), p.errOut.String()
		res[i].Elapsed = p.end.Sub(released)
	}
	return res
}

// HelperStart, in a helper process, says it is ready and waits until
// RunHelpers releases every helper.
func HelperStart(t *testing.T) {
	t.Helper()
	if err := os.WriteFile(os.Getenv("LUNA_HELPER_READY"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	start := os.Getenv("LUNA_HELPER_START")
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(start); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("never released")
		}
	}
}
