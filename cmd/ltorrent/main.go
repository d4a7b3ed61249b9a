// Command ltorrent is Luna's seeder of osimage tarballs (docs/ltorrent.md).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/clustervision/luna-go/internal/config"
	"github.com/clustervision/luna-go/internal/ltorrent"
	"github.com/clustervision/luna-go/internal/version"
)

func main() {
	if version.Asked(os.Args[1:]) {
		fmt.Println(version.Line("ltorrent"))
		os.Exit(0)
	}
	config.TuneGC()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	code := ltorrent.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv, hup)
	stop()
	os.Exit(code)
}
