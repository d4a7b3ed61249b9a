package lunadb

import (
	"bufio"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clustervision/luna-go/internal/store"
)

var servingRe = regexp.MustCompile(`^lunadb: serving (mongodb://\S+) from `)

// start runs lunadb on dir and returns its URI and a stop function that
// waits for Main's exit code.
func start(t *testing.T, dir string) (string, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- Main(ctx, []string{"--listen", "127.0.0.1:0", "--data-dir", dir}, pw, io.Discard)
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

func TestBadListenAddress(t *testing.T) {
	var errb strings.Builder
	if c := Main(context.Background(), []string{"--listen", "256.0.0.1:1", "--data-dir", t.TempDir()}, io.Discard, &errb); c == 0 {
		t.Fatal("an address that cannot be bound must fail")
	}
	if !regexp.MustCompile(`^lunadb: .+\n$`).MatchString(errb.String()) {
		t.Fatalf("want one line on stderr, got %q", errb.String())
	}
}
