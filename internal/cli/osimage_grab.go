package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/clustervision/luna-go/internal/luna"
)

func (a *app) osimageGrab() *cobra.Command {
	cmd := verb("grab NAME", "Grab the file systems of a live node into the osimage (rsync over ssh)")
	nameFlag(cmd)
	f := cmd.Flags()
	f.StringP("host", "H", "", "Host to grab from (as root@HOST)")
	f.BoolP("dry_run", "d", false, "Show what would change; change nothing (implies --verbose)")
	f.BoolP("verbose", "v", false, "Show the rsync commands and their output")
	_ = cmd.MarkFlagRequired("host")
	cmd.RunE = a.withName(func(ctx context.Context, s *luna.Service, cmd *cobra.Command, name string) error {
		host, _ := f.GetString("host")
		return s.GrabOSImage(ctx, name, host, luna.GrabOptions{
			DryRun: boolOpt(cmd, "dry_run"), Verbose: boolOpt(cmd, "verbose"),
			Log: func(msg string) { fmt.Fprintln(a.io.Err, msg) },
			Out: a.io.Out,
		})
	})
	return cmd
}
