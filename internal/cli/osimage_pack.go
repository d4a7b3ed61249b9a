package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/clustervision/luna-go/internal/luna"
)

func (a *app) osimagePack() *cobra.Command {
	cmd := verb("pack NAME", "Pack osimage: tarball and torrent, kernel and initrd")
	nameFlag(cmd)
	f := cmd.Flags()
	f.BoolP("image", "i", false, "Pack the image only (tarball and torrent)")
	f.BoolP("boot", "b", false, "Pack the boot files only (kernel and initrd)")
	f.BoolP("copy_boot", "c", false, "Copy the image's own initrd instead of building one with dracut")
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		if err := exclusive(cmd, "image", "boot"); err != nil {
			return err
		}
		return exclusive(cmd, "image", "copy_boot")
	}
	cmd.RunE = a.withName(func(ctx context.Context, s *luna.Service, cmd *cobra.Command, name string) error {
		// Ctrl-C or SIGTERM (cmd/luna cancels ctx) stops the pack; its
		// temporary files are removed.
		p := newPackProgress(a.io.Err)
		o := luna.PackOptions{
			Image: boolOpt(cmd, "image"), Boot: boolOpt(cmd, "boot"), CopyBoot: boolOpt(cmd, "copy_boot"),
			Log:      func(msg string) { p.finish(); fmt.Fprintln(a.io.Err, msg) },
			Progress: p.update,
		}
		if a.debug {
			o.DracutOutput = a.io.Err
		}
		res, err := s.PackOSImage(ctx, name, o)
		p.finish()
		if err != nil {
			return err
		}
		for _, w := range res.Warnings {
			fmt.Fprintf(a.io.Err, "WARNING: %s\n", w)
		}
		if res.Ltorrent != "" {
			fmt.Fprintln(a.io.Err, res.Ltorrent)
		}
		return nil
	})
	return cmd
}

// packProgress shows how much of the image has been read: a progress bar
// on a terminal, else a line every 30 seconds.
type packProgress struct {
	w        io.Writer
	bar      *progressbar.ProgressBar
	terminal bool
	last     time.Time
}

func newPackProgress(w io.Writer) *packProgress {
	f, ok := w.(*os.File)
	return &packProgress{w: w, terminal: ok && isTerminal(f), last: time.Now()}
}

func (p *packProgress) update(done, total int64) {
	if !p.terminal {
		if time.Since(p.last) >= 30*time.Second {
			p.last = time.Now()
			pct := 100.0
			if total > 0 {
				pct = 100 * float64(done) / float64(total)
			}
			fmt.Fprintf(p.w, "Read %d of %d MiB of the image (%.0f%%)\n", done>>20, total>>20, pct)
		}
		return
	}
	if p.bar == nil {
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription("Reading image"),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	if total > 0 {
		p.bar.ChangeMax64(max(total, done))
	}
	_ = p.bar.Set64(done)
}

// finish takes the bar off the screen (before the next line is printed).
func (p *packProgress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}
