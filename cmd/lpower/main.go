package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/clustervision/luna-go/internal/config"
	"github.com/clustervision/luna-go/internal/lpower"
	"github.com/clustervision/luna-go/internal/version"
)

func main() {
	if version.Asked(os.Args[1:]) {
		fmt.Println(version.Line("lpower"))
		os.Exit(0)
	}
	config.TuneGC()
	// An interrupt stops talking to BMCs; the nodes not done are reported.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := lpower.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
