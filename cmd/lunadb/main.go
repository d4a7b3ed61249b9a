package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/clustervision/luna-go/internal/config"
	"github.com/clustervision/luna-go/internal/lunadb"
)

func main() {
	config.TuneGC()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := lunadb.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
