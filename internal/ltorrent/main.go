package ltorrent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/clustervision/luna-go/internal/config"
	"github.com/clustervision/luna-go/internal/luna"
	"github.com/clustervision/luna-go/internal/version"
)

// Main runs the ltorrent command and returns its exit code. ctx ends on
// SIGTERM/SIGINT and each value on hup is a SIGHUP (both set up by
// cmd/ltorrent).
//
//	ltorrent [start]   seed in the foreground (systemd Type=notify)
//	ltorrent reload    send SIGHUP to the running ltorrent (pidfile)
//	ltorrent stop      send SIGTERM to it and wait until it exited
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string, hup <-chan os.Signal) int {
	root := newCommand(stdout, stderr, getenv, hup)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "ltorrent: %v\n", err)
		return 1
	}
	return 0
}

// Command is ltorrent's command tree with its options and help, attached
// to no streams: what internal/manpage documents.
func Command() *cobra.Command { return newCommand(io.Discard, io.Discard, os.Getenv, nil) }

func newCommand(stdout, stderr io.Writer, getenv func(string) string, hup <-chan os.Signal) *cobra.Command {
	var verbose bool
	var pidfile string
	var wait time.Duration
	root := &cobra.Command{
		Use:   "ltorrent [start|reload|stop]",
		Short: "Luna's seeder: seeds the packed osimage tarballs to installing nodes",
		Long: `ltorrent seeds every tarball luna osimage pack wrote to <path>/torrents,
announces it to lweb's tracker, and deletes tarballs no osimage refers to once
nodes stopped downloading them. It runs in the foreground (under systemd) and
logs to stderr; SIGHUP re-reads the directory and the osimages at once.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	serve := func(cmd *cobra.Command, _ []string) error {
		level := slog.LevelInfo
		if verbose {
			level = slog.LevelDebug
		}
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
		svc, closeStore, err := openService(cmd.Context(), getenv)
		if err != nil {
			return err
		}
		defer closeStore()
		rescan := make(chan struct{}, 1)
		go func() {
			for {
				select {
				case <-cmd.Context().Done():
					return
				case <-hup:
					select {
					case rescan <- struct{}{}:
					default: // one is pending already
					}
				}
			}
		}()
		return Run(cmd.Context(), Config{Svc: svc, Log: log, Rescan: rescan})
	}
	root.RunE = serve
	root.PersistentFlags().BoolVarP(&verbose, "verbose", "v", false, "log debug messages")
	version.AddFlag(root.PersistentFlags())
	start := &cobra.Command{Use: "start", Short: "Seed in the foreground (the same as no command)", Args: cobra.NoArgs, RunE: serve}
	reload := &cobra.Command{
		Use:   "reload",
		Short: "Make the running ltorrent re-read the torrents directory and the osimages (SIGHUP)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pid, path, err := runningPid(cmd.Context(), pidfile, getenv)
			if err != nil {
				return err
			}
			if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
				return fmt.Errorf("signal ltorrent (pid %d from %s): %w", pid, path, err)
			}
			return nil
		},
	}
	stop := &cobra.Command{
		Use:   "stop",
		Short: "Stop the running ltorrent (SIGTERM) and wait until it exited",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pid, path, err := runningPid(cmd.Context(), pidfile, getenv)
			if errors.Is(err, errNotRunning) {
				fmt.Fprintln(stdout, "ltorrent is not running")
				return nil
			}
			if err != nil {
				return err
			}
			if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
				return fmt.Errorf("signal ltorrent (pid %d from %s): %w", pid, path, err)
			}
			deadline := time.Now().Add(wait)
			for runningLtorrent(pid) {
				if time.Now().After(deadline) {
					return fmt.Errorf("ltorrent (pid %d) still runs %s after SIGTERM", pid, wait)
				}
				time.Sleep(50 * time.Millisecond)
			}
			return nil
		},
	}
	for _, c := range []*cobra.Command{reload, stop} {
		c.Flags().StringVar(&pidfile, "pidfile", "", "pidfile of the running ltorrent (default: the cluster's torrent_pidfile)")
	}
	stop.Flags().DurationVar(&wait, "wait", 30*time.Second, "how long to wait for ltorrent to exit")
	root.AddCommand(start, reload, stop)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root
}

var errNotRunning = errors.New("ltorrent is not running")

// runningPid finds the running ltorrent through its pidfile: the flag's,
// or the cluster's torrent_pidfile.
func runningPid(ctx context.Context, pidfile string, getenv func(string) string) (int, string, error) {
	if pidfile == "" {
		svc, closeStore, err := openService(ctx, getenv)
		if err != nil {
			return 0, "", err
		}
		set, err := svc.SeedingSettings(ctx)
		closeStore()
		if err != nil {
			return 0, "", fmt.Errorf("read the seeding settings: %w", err)
		}
		pidfile = set.Pidfile
	}
	pid, err := readPidfile(pidfile)
	if err != nil {
		return 0, pidfile, err
	}
	if !runningLtorrent(pid) {
		return 0, pidfile, fmt.Errorf("%w (no live ltorrent in %s)", errNotRunning, pidfile)
	}
	return pid, pidfile, nil
}

// openService connects to the store /etc/luna.conf (or the environment)
// names.
func openService(ctx context.Context, getenv func(string) string) (*luna.Service, func(), error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, nil, err
	}
	svc, err := luna.Open(ctx, cfg, 10*time.Second)
	if err != nil {
		return nil, nil, err
	}
	svc.Getenv = getenv
	return svc, func() { _ = svc.Close(context.Background()) }, nil
}
