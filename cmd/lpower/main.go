package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/clustervision/luna-go/internal/config"
	"github.com/clustervision/luna-go/internal/lpower"
)

func main() {
	config.TuneGC()
	// An interrupt stops talking to BMCs; the nodes not done are reported.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := lpower.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
