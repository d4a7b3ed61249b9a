package lunadb

import (
	"bufio"
	"context"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clustervision/luna-go/internal/cli"
	"github.com/clustervision/luna-go/internal/store"
)

var servingRe = regexp.MustCompile(`^lunadb: serving (mongodb://\S+) from `)

// start runs lunadb on dir and returns its URI and a stop function that
// waits for Main's exit code.
func start(t *testing.T, dir string) (string, func() int) {
	t.Helper()
	return startLogged(t, dir, io.Discard)
}

// startLogged is start with lunadb's log written to logw.
func startLogged(t *testing.T, dir string, logw io.Writer, extra ...string) (string, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- Main(ctx, append([]string{"--listen", "127.0.0.1:0", "--data-dir", dir}, extra...), pw, logw)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	uri := make(chan string, 1)
	go func() {
		for lines.Scan() {
			if m := servingRe.FindStringSubmatch(lines.Text()); m != nil {
				uri <- m[1]
			}
		}
	}()
	select {
	case u := <-uri:
		return u, func() int { cancel(); return <-code }
	case c := <-code:
		t.Fatalf("lunadb exited with %d before serving", c)
	case <-time.After(60 * time.Second):
		t.Fatal("lunadb did not start")
	}
	return "", nil
}

// TestServeStopRestart: lunadb serves the MongoDB wire protocol, stops
// cleanly when its context ends, and keeps the data across a restart.
func TestServeStopRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	uri, stop := start(t, dir)
	st, err := store.Open(ctx, uri, "luna", "lunadb", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Insert(ctx, store.BMCSetups, store.BMCSetup{ID: store.NewID(), Name: "base", User: "ladmin"}); err != nil {
		t.Fatal(err)
	}
	_ = st.Close(ctx)
	if c := stop(); c != 0 {
		t.Fatalf("lunadb exited with %d on a graceful stop", c)
	}

	uri, stop = start(t, dir)
	defer stop()
	st, err = store.Open(ctx, uri, "luna", "lunadb", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(ctx)
	var b store.BMCSetup
	if err := st.GetByName(ctx, store.BMCSetups, "base", &b); err != nil || b.User != "ladmin" {
		t.Fatalf("after a restart: %+v, %v", b, err)
	}
}

// syncBuffer is a log sink written by lunadb's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestQuietAtDefaultLevel: 50 `luna` calls (each connects, works, and
// disconnects, so the driver sends endSessions; half of them fail with an
// error response) leave no WARN or ERROR line in lunadb's log at its
// default level; --log-level debug shows the error responses.
func TestQuietAtDefaultLevel(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		wantDebug bool
	}{{nil, false}, {[]string{"--log-level", "debug"}, true}} {
		var logb syncBuffer
		uri, stop := startLogged(t, t.TempDir(), &logb, tc.args...)
		env := func(k string) string {
			if k == "LUNA_MONGO_URI" {
				return uri
			}
			return ""
		}
		for i := range 50 {
			args := []string{"network", "list"}
			if i%2 == 1 {
				args = []string{"node", "show", "nosuchnode"}
			}
			var out, errb strings.Builder
			code := cli.Main(context.Background(), args, cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: env})
			if i%2 == 0 && code != 0 || i%2 == 1 && code != 255 {
				t.Fatalf("luna %v: exit %d: %s", args, code, errb.String())
			}
		}
		if c := stop(); c != 0 {
			t.Fatalf("lunadb exited with %d", c)
		}
		log := logb.String()
		if tc.wantDebug {
			if !strings.Contains(log, "level=DEBUG") || !strings.Contains(log, "endSessions") {
				t.Fatalf("--log-level debug: want the error responses at DEBUG, got %d bytes:\n%.2000s", len(log), log)
			}
			continue
		}
		for _, line := range strings.Split(log, "\n") {
			if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
				t.Fatalf("at the default level the log holds %q (%d bytes in all)", line, len(log))
			}
		}
	}
}

func TestBadLogLevel(t *testing.T) {
	var errb strings.Builder
	if c := Main(context.Background(), []string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-level", "loud"}, io.Discard, &errb); c == 0 {
		t.Fatal("a bad --log-level must fail")
	}
	if !regexp.MustCompile(`^lunadb: invalid --log-level "loud": .+\n$`).MatchString(errb.String()) {
		t.Fatalf("want one line on stderr, got %q", errb.String())
	}
}

// TestBadListenAddress stays last: FerretDB 1.24 leaves its backend open
// when the listener cannot be bound, and its leak tracker panics from a
// finalizer at the next garbage collection, which a later test would see.
func TestBadListenAddress(t *testing.T) {
	var errb strings.Builder
	if c := Main(context.Background(), []string{"--listen", "256.0.0.1:1", "--data-dir", t.TempDir()}, io.Discard, &errb); c == 0 {
		t.Fatal("an address that cannot be bound must fail")
	}
	if !regexp.MustCompile(`^lunadb: .+\n$`).MatchString(errb.String()) {
		t.Fatalf("want one line on stderr, got %q", errb.String())
	}
}
