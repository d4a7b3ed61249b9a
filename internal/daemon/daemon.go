// Package daemon is the shape every Luna daemon shares (lweb first; ltorrent
// and the others are meant to adopt it):
//
//  1. bind every listener first (Listen): a busy port or an unusable
//     certificate is an error before anything else starts, so the binary
//     prints one line and exits non-zero at once;
//  2. start the background work on a context that every return path of Run
//     cancels (an errgroup: a worker that fails stops the daemon);
//  3. tell systemd it is ready (Type=notify; nothing without NOTIFY_SOCKET);
//  4. when the caller's context ends (cmd/<daemon> cancels it on SIGTERM or
//     SIGINT): stop accepting, let in-flight requests finish (bounded by
//     Drain), stop the background work, and only then run the Flush hooks,
//     so that what the last requests recorded is stored.
//
// Signals are not handled here: cmd/<daemon> owns them (signal.NotifyContext
// for SIGTERM/SIGINT, SIGHUP for reload) and the exit code.
package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sync/errgroup"
)

// Listen binds a TCP address; with certFile and keyFile it serves TLS with
// that certificate, which is loaded now, so a missing, unreadable or
// mismatched certificate or key is reported before anything is served.
func Listen(addr, certFile, keyFile string) (net.Listener, error) {
	var cfg *tls.Config
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("load the HTTPS certificate %s and key %s: %w", certFile, keyFile, err)
		}
		cfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	return ln, nil
}

// Daemon is what Run runs.
type Daemon struct {
	Log *slog.Logger
	// Servers are served on their listeners (bound beforehand with Listen).
	Servers []Server
	// Workers run in the background until their context ends; an error
	// other than the context's stops the daemon and is returned by Run.
	Workers []func(ctx context.Context) error
	// Flush hooks run in order once the servers are drained and the
	// workers have returned, under a context bounded by FlushTimeout that
	// the caller's cancellation does not end.
	Flush []func(ctx context.Context) error
	// Ready runs after the workers started, before systemd hears READY=1
	// (lweb uses it to publish its address to tests).
	Ready func()
	// Drain bounds how long in-flight requests may take to finish (10 s
	// when 0); FlushTimeout bounds the flush hooks (10 s when 0).
	Drain, FlushTimeout time.Duration
}

// Server is an HTTP server on a bound listener.
type Server struct {
	HTTP     *http.Server
	Listener net.Listener
}

// Run serves until ctx ends (a graceful stop: nil) or a server or worker
// fails (that error). Every return path cancels the workers' context and
// closes the listeners.
func (d *Daemon) Run(ctx context.Context) (err error) {
	log := d.Log
	if log == nil {
		log = slog.Default()
	}
	// The workers' context outlives ctx on purpose: a stop first drains
	// the requests, which may still hand work to the workers.
	wctx, cancelWorkers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWorkers()
	g, gctx := errgroup.WithContext(wctx)
	for _, w := range d.Workers {
		g.Go(func() error {
			if err := w(gctx); err != nil && gctx.Err() == nil {
				return err
			}
			return nil
		})
	}
	served := make(chan error, len(d.Servers))
	for _, s := range d.Servers {
		go func() { served <- s.HTTP.Serve(s.Listener) }()
	}
	if d.Ready != nil {
		d.Ready()
	}
	notify(log, sd.SdNotifyReady)

	var failed error
	select {
	case <-ctx.Done():
		log.Info("stopping: draining requests")
	case err := <-served:
		failed = fmt.Errorf("serve: %w", err)
	case <-gctx.Done():
		failed = context.Cause(gctx)
	}
	notify(log, sd.SdNotifyStopping)
	dctx, cancel := context.WithTimeout(context.Background(), orDefault(d.Drain))
	for _, s := range d.Servers {
		if err := s.HTTP.Shutdown(dctx); err != nil {
			log.Warn("requests still running after the drain timeout; closing them", "err", err)
			_ = s.HTTP.Close()
		}
	}
	cancel()
	cancelWorkers()
	if werr := g.Wait(); werr != nil && failed == nil {
		failed = werr
	}
	fctx, cancel := context.WithTimeout(context.Background(), orDefault(d.FlushTimeout))
	defer cancel()
	for _, f := range d.Flush {
		if err := f(fctx); err != nil {
			failed = errors.Join(failed, err)
		}
	}
	return failed
}

func orDefault(d time.Duration) time.Duration {
	if d <= 0 {
		return 10 * time.Second
	}
	return d
}

func notify(log *slog.Logger, state string) {
	if _, err := sd.SdNotify(false, state); err != nil {
		log.Warn("systemd notify", "state", state, "err", err)
	}
}
