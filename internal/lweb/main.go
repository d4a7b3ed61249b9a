package lweb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/clustervision/luna-go/internal/config"
	"github.com/clustervision/luna-go/internal/luna"
	"github.com/clustervision/luna-go/internal/store"
)

// Options are lweb's command-line settings.
type Options struct {
	Listen      string // "" = :<frontend_port>
	TrustProxy  bool
	Verbose     bool
	MenuTimeout time.Duration
}

// Main runs lweb until SIGINT or SIGTERM and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
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
			return Run(cmd.Context(), o, log, getenv, nil)
		},
	}
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", "", "address to listen on (default :<cluster frontend_port>)")
	f.BoolVar(&o.TrustProxy, "trust-proxy", false, "take client addresses from X-Real-IP (when behind nginx)")
	f.BoolVarP(&o.Verbose, "verbose", "v", false, "log debug messages")
	f.DurationVar(&o.MenuTimeout, "menu-timeout", 10*time.Second, "time the iPXE menu waits before asking the server")
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "lweb: %v\n", err)
		return 1
	}
	return 0
}

// Run serves until ctx ends or a SIGINT/SIGTERM arrives. When ready is not
// nil it receives the bound address once the server listens.
func Run(ctx context.Context, o Options, log *slog.Logger, getenv func(string) string, ready chan<- string) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.URI(), cfg.Database, cfg.Target(), 10*time.Second)
	if err != nil {
		return err
	}
	defer st.Close(context.Background())
	svc := luna.NewService(st)
	svc.Getenv = getenv
	c, err := svc.Cluster(ctx)
	if err != nil {
		return fmt.Errorf("read the cluster settings (run luna cluster init first): %w", err)
	}
	if c.FrontendAddress == "" {
		return errors.New("the cluster has no frontend_address: set it with luna cluster change --frontend_address")
	}
	srv := &Server{Svc: svc, Log: log, TrustProxy: o.TrustProxy, MenuTimeout: o.MenuTimeout}
	bg := startBackground(ctx, srv, svc, log)
	srv.Start(ctx, bg)
	defer bg.wait()

	listen := o.Listen
	if listen == "" {
		listen = ":" + strconv.Itoa(c.FrontendPort)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	proto := "http"
	go func() {
		if c.FrontendHTTPS {
			if c.HTTPSCert == "" || c.HTTPSKey == "" {
				errc <- errors.New("frontend_https is on but https_cert or https_key is not set (luna cluster change --https_cert/--https_key)")
				return
			}
			errc <- hs.ServeTLS(ln, c.HTTPSCert, c.HTTPSKey)
			return
		}
		errc <- hs.Serve(ln)
	}()
	if c.FrontendHTTPS {
		proto = "https"
	}
	log.Info("lweb listening", "address", ln.Addr().String(), "proto", proto)
	if ready != nil {
		ready <- ln.Addr().String()
	}
	notifySystemd(log)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case err := <-errc:
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		case <-hup:
			srv.reload()
			log.Info("reloaded: cluster settings and templates are read again")
		case <-ctx.Done():
			log.Info("stopping")
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return hs.Shutdown(sctx)
		}
	}
}

// reload drops the cached cluster settings and templates.
func (s *Server) reload() {
	s.mu.Lock()
	s.cluster, s.renderer = nil, nil
	s.mu.Unlock()
}

// notifySystemd tells systemd (Type=notify) that lweb is ready.
func notifySystemd(log *slog.Logger) {
	sock := os.Getenv("NOTIFY_SOCKET")
	if sock == "" {
		return
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		log.Warn("systemd notify", "err", err)
		return
	}
	defer conn.Close()
	_, _ = conn.Write([]byte("READY=1"))
}

// background runs lweb's periodic work (tracker expiry, MAC learning).
type background struct{ done []chan struct{} }

func (b *background) wait() {
	for _, d := range b.done {
		<-d
	}
}

func (b *background) run(fn func()) {
	d := make(chan struct{})
	b.done = append(b.done, d)
	go func() {
		defer close(d)
		fn()
	}()
}
