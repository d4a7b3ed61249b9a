package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/clustervision/luna-go/internal/cli"
	"github.com/clustervision/luna-go/internal/config"
)

func main() {
	config.TuneGC()
	// SIGINT (Ctrl-C) and SIGTERM cancel the command: it stops at its next
	// database call, undoes what it wrote (rollbacks ignore the
	// cancellation), releases its locks and exits 255. Further signals
	// meanwhile are ignored, so the undo finishes.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.StdIO())
	stop()
	os.Exit(code)
}
