// Package lunadb is the lunadb daemon: the embedded MongoDB-compatible store.
package lunadb

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/clustervision/luna-go/internal/embeddb"
	"github.com/clustervision/luna-go/internal/version"
)

// Main runs lunadb until ctx ends (cmd/lunadb cancels it on SIGINT or
// SIGTERM) and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := newCommand(stdout, stderr)
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "lunadb: %v\n", err)
		return 1
	}
	return 0
}

// Command is lunadb's command tree with its options and help, attached to
// no streams: what internal/manpage documents.
func Command() *cobra.Command { return newCommand(io.Discard, io.Discard) }

func newCommand(stdout, stderr io.Writer) *cobra.Command {
	var listen, dataDir string
	var verbose bool
	var logLevel string
	cmd := &cobra.Command{
		Use:           "lunadb",
		Short:         "Embedded MongoDB-compatible store for Luna (FerretDB with SQLite)",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("invalid --log-level %q: want debug, info, warn or error", logLevel)
			}
			if verbose && level > slog.LevelInfo {
				level = slog.LevelInfo
			}
			log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
			ctx := cmd.Context()
			srv, err := embeddb.Start(ctx, embeddb.Config{Listen: listen, DataDir: dataDir, Logger: log})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "lunadb: serving %s from %s\n", srv.URI(), dataDir)
			<-ctx.Done()
			fmt.Fprintln(stdout, "lunadb: stopping")
			return srv.Stop()
		},
	}
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:27017", "TCP address to serve the MongoDB wire protocol on")
	cmd.Flags().StringVar(&dataDir, "data-dir", "/var/lib/luna/db", "directory holding the SQLite database files")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log FerretDB's informational messages (--log-level info)")
	cmd.Flags().StringVar(&logLevel, "log-level", "warn", "least level logged: debug (every error response sent to a client), info, warn or error")
	version.AddFlag(cmd.Flags())
	return cmd
}
