package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// events records what happened, in order.
type events struct {
	mu   sync.Mutex
	list []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	e.list = append(e.list, s)
	e.mu.Unlock()
}

func (e *events) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.list, ",")
}

// A stop while a request is being handled: the request finishes and is
// answered, then the workers stop, then the flush hooks run.
func TestStopDrainsThenStopsWorkersThenFlushes(t *testing.T) {
	ln, err := Listen("127.0.0.1:0", "", "")
	if err != nil {
		t.Fatal(err)
	}
	var ev events
	inHandler, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(inHandler)
		<-release
		ev.add("request done")
		_, _ = io.WriteString(w, "ok")
	})
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	d := &Daemon{
		Log:     quiet(),
		Servers: []Server{{HTTP: &http.Server{Handler: h}, Listener: ln}},
		Workers: []func(context.Context) error{func(ctx context.Context) error {
			<-ctx.Done()
			ev.add("worker stopped")
			return nil
		}},
		Flush: []func(context.Context) error{func(ctx context.Context) error {
			if ctx.Err() != nil {
				t.Error("the flush context is already done")
			}
			ev.add("flushed")
			return nil
		}},
		Ready: func() { close(ready) },
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	<-ready
	answer := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			answer <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answer <- string(b)
	}()
	<-inHandler
	cancel()
	// The listener closes at once: a new connection is refused while the
	// request in flight is still running.
	for {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err != nil {
			break
		}
		c.Close()
		select {
		case err := <-done:
			t.Fatalf("Run returned %v with a request in flight", err)
		default:
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := ev.String(); got != "" {
		t.Fatalf("before the request finished: %s", got)
	}
	close(release)
	if a := <-answer; a != "ok" {
		t.Fatalf("the request in flight got %q", a)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got, want := ev.String(), "request done,worker stopped,flushed"; got != want {
		t.Fatalf("order %s, want %s", got, want)
	}
}

// A failing worker stops the daemon: Run returns its error, after the
// flush hooks ran.
func TestWorkerFailureStops(t *testing.T) {
	ln, err := Listen("127.0.0.1:0", "", "")
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	flushed := false
	d := &Daemon{
		Log:     quiet(),
		Servers: []Server{{HTTP: &http.Server{Handler: http.NotFoundHandler()}, Listener: ln}},
		Workers: []func(context.Context) error{
			func(context.Context) error { return boom },
			func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() },
		},
		Flush: []func(context.Context) error{func(context.Context) error { flushed = true; return nil }},
	}
	if err := d.Run(context.Background()); !errors.Is(err, boom) || !flushed {
		t.Fatalf("Run = %v (flushed %v), want boom after the flush", err, flushed)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Fatal("the listener is still open after Run returned")
	}
}

// Listen reports a busy port and an unusable certificate itself.
func TestListenErrors(t *testing.T) {
	ln, err := Listen("127.0.0.1:0", "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := Listen(ln.Addr().String(), "", ""); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("busy port: %v", err)
	}
	if _, err := Listen("127.0.0.1:0", "/nonexistent/cert.pem", "/nonexistent/key.pem"); err == nil || !strings.Contains(err.Error(), "HTTPS certificate") {
		t.Fatalf("missing certificate: %v", err)
	}
}
