package lweb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/clustervision/luna-go/internal/config"
	"github.com/clustervision/luna-go/internal/daemon"
	"github.com/clustervision/luna-go/internal/luna"
	"github.com/clustervision/luna-go/internal/macupdater"
	"github.com/clustervision/luna-go/internal/version"
)

// Options are lweb's command-line settings.
type Options struct {
	Listen      string // "" = :<frontend_port>
	TrustProxy  bool
	Verbose     bool
	MenuTimeout time.Duration
	// TFTP is the UDP address of the built-in TFTP server ("" or "off":
	// none); TFTPRoot is the directory it serves the iPXE binaries from.
	TFTP     string
	TFTPRoot string
}

// Config is what Run needs.
type Config struct {
	Options
	Log    *slog.Logger
	Getenv func(string) string
	// Reload delivers reload requests (SIGHUP in cmd/lweb): the cluster
	// settings, the templates and the boot snapshot are read again.
	Reload <-chan os.Signal
	// Ready, when set, is called with the bound address once lweb listens
	// and has loaded its first snapshot (just before systemd hears READY=1).
	Ready func(addr string)
	// TFTPReady, when set, is called with the TFTP server's bound address
	// ("" when it is off) just before Ready.
	TFTPReady func(addr string)
	// Now is lweb's clock (nil: time.Now); tests move it instead of sleeping.
	Now func() time.Time
}

// Main runs lweb until ctx ends (cmd/lweb cancels it on SIGINT or SIGTERM)
// and returns the exit code; each value received on reload makes it read
// its settings again. A startup error (database, busy port, unusable
// certificate) is one line on stderr and exit code 1.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string, reload <-chan os.Signal) int {
	cmd := newCommand(stdout, stderr, getenv, reload)
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "lweb: %v\n", err)
		return 1
	}
	return 0
}

// Command is lweb's command tree with its options and help, attached to
// no streams: what internal/manpage documents.
func Command() *cobra.Command { return newCommand(io.Discard, io.Discard, os.Getenv, nil) }

func newCommand(stdout, stderr io.Writer, getenv func(string) string, reload <-chan os.Signal) *cobra.Command {
	var o Options
	cmd := &cobra.Command{
		Use:           "lweb",
		Short:         "Luna boot server: iPXE menu, discovery, boot and install scripts, tracker, static files",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level := slog.LevelInfo
			if o.Verbose {
				level = slog.LevelDebug
			}
			lb := newLogBuffer(stderr, 100*time.Millisecond)
			defer lb.Close()
			log := slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: level}))
			return Run(cmd.Context(), Config{Options: o, Log: log, Getenv: getenv, Reload: reload})
		},
	}
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", "", "address to listen on (default :<cluster frontend_port>)")
	f.BoolVar(&o.TrustProxy, "trust-proxy", false, "take client addresses from X-Real-IP (when behind nginx)")
	f.BoolVarP(&o.Verbose, "verbose", "v", false, "log debug messages")
	f.StringVar(&o.TFTP, "tftp", ":69", `UDP address of the built-in TFTP server ("off": none)`)
	f.StringVar(&o.TFTPRoot, "tftp-root", "/tftpboot", "directory the TFTP server serves the iPXE binaries from")
	f.DurationVar(&o.MenuTimeout, "menu-timeout", 10*time.Second, "time the iPXE menu waits before asking the server")
	version.AddFlag(f)
	return cmd
}

// Run serves until ctx ends, in the shape of internal/daemon: it reads the
// cluster settings, binds its port (and loads the HTTPS certificate) before
// anything else starts, loads the first boot snapshot, then runs the
// background work (snapshot polling, status writes, tracker, switch MAC
// updater, reloads). When ctx ends it stops accepting, lets the requests
// in flight finish, and only then stores the statuses and tracker
// announces still pending.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	lc, err := config.Load(cfg.Getenv)
	if err != nil {
		return err
	}
	svc, err := luna.Open(ctx, lc, 10*time.Second)
	if err != nil {
		return err
	}
	defer svc.Close(context.Background())
	svc.Getenv = cfg.Getenv
	c, err := svc.Cluster(ctx)
	if err != nil {
		return fmt.Errorf("read the cluster settings (run luna cluster init first): %w", err)
	}
	if c.FrontendAddress == "" {
		return errors.New("the cluster has no frontend_address: set it with luna cluster change --frontend_address")
	}
	listen := cfg.Listen
	if listen == "" {
		listen = ":" + strconv.Itoa(c.FrontendPort)
	}
	var cert, key string
	proto := "http"
	if c.FrontendHTTPS {
		if c.HTTPSCert == "" || c.HTTPSKey == "" {
			return errors.New("frontend_https is on but https_cert or https_key is not set (luna cluster change --https_cert/--https_key)")
		}
		cert, key, proto = c.HTTPSCert, c.HTTPSKey, "https"
	}
	ln, err := daemon.Listen(listen, cert, key)
	if err != nil {
		return err
	}
	defer ln.Close()

	srv := &Server{Svc: svc, Log: log, TrustProxy: cfg.TrustProxy, MenuTimeout: cfg.MenuTimeout, Now: cfg.Now}
	var tftpWorker func(context.Context) error
	tftpAddr := ""
	if cfg.TFTP != "" && cfg.TFTP != "off" {
		ts, conn, err := listenTFTP(cfg.TFTP, cfg.TFTPRoot, srv)
		if err != nil {
			return err
		}
		defer conn.Close()
		tftpAddr = conn.LocalAddr().String()
		tftpWorker = func(ctx context.Context) error { return ts.run(ctx, conn) }
	}
	upd := &macupdater.Updater{Svc: svc, Log: log.With("component", "macupdater")}
	srv.exportUpdater(upd)
	workers := srv.Start(ctx)
	workers = append(workers,
		func(ctx context.Context) error { upd.Run(ctx); return nil },
		func(ctx context.Context) error { srv.reloadOn(ctx, cfg.Reload); return nil })
	if tftpWorker != nil {
		workers = append(workers, tftpWorker)
	}
	d := &daemon.Daemon{
		Log: log,
		Servers: []daemon.Server{{Listener: ln, HTTP: &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}}},
		Workers: workers,
		Flush:   srv.flushers(),
		Ready: func() {
			log.Info("lweb listening", "address", ln.Addr().String(), "proto", proto)
			if tftpAddr != "" {
				log.Info("tftp listening", "address", tftpAddr, "root", cfg.TFTPRoot)
			}
			if cfg.TFTPReady != nil {
				cfg.TFTPReady(tftpAddr)
			}
			if cfg.Ready != nil {
				cfg.Ready(ln.Addr().String())
			}
		},
	}
	return d.Run(ctx)
}

// reloadOn re-reads the cluster settings, templates and boot snapshot on
// each value from reload until ctx ends.
func (s *Server) reloadOn(ctx context.Context, reload <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-reload:
			s.reload()
			s.Log.Info("reloaded: cluster settings, templates and the boot snapshot are read again")
		}
	}
}

// reload drops the cached cluster settings and templates and has the boot
// snapshot read again.
func (s *Server) reload() {
	s.mu.Lock()
	s.cluster, s.renderer = nil, nil
	s.mu.Unlock()
	s.cache.invalidate()
}
