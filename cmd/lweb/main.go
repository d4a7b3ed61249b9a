// Command lweb is Luna's boot server (internal/lweb). It owns the signals:
// SIGTERM and SIGINT stop it gracefully, SIGHUP makes it read its settings,
// templates and boot snapshot again.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/clustervision/luna-go/internal/config"
	"github.com/clustervision/luna-go/internal/lweb"
	"github.com/clustervision/luna-go/internal/version"
)

func main() {
	if version.Asked(os.Args[1:]) {
		fmt.Println(version.Line("lweb"))
		os.Exit(0)
	}
	config.TuneGC()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	code := lweb.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv, hup)
	stop()
	os.Exit(code)
}
