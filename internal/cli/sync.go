package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/clustervision/luna-go/internal/luna"
)

// syncOptions prints a line per copy on stdout and rsync's overall
// progress when stdout is a terminal.
func (a *app) syncOptions() luna.SyncOptions {
	f, ok := a.io.Out.(*os.File)
	return luna.SyncOptions{
		Log:      func(msg string) { fmt.Fprintln(a.io.Out, msg) },
		Progress: ok && isTerminal(f),
		Out:      a.io.Out,
	}
}

func (a *app) clusterSync() *cobra.Command {
	cmd := noArgs(verb("sync", "Copy the cluster path to the other masters (HA; rsync over ssh)"))
	cmd.RunE = a.run(func(ctx context.Context, s *luna.Service) error {
		if err := s.SyncCluster(ctx, a.syncOptions()); err != nil {
			return err
		}
		return a.println("Done.")
	})
	return cmd
}

func (a *app) osimageSync() *cobra.Command {
	cmd := verb("sync NAME", "Copy the osimage and its packed files to the other masters (HA; rsync over ssh)")
	nameFlag(cmd)
	cmd.RunE = a.withName(func(ctx context.Context, s *luna.Service, _ *cobra.Command, name string) error {
		if err := s.SyncOSImage(ctx, name, a.syncOptions()); err != nil {
			return err
		}
		return a.println("Done.")
	})
	return cmd
}
