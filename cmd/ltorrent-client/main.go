// Command ltorrent-client downloads a node's OS image with BitTorrent in
// the initramfs and seeds it to the other nodes (docs/ltorrent-client.md).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/clustervision/luna-go/internal/btclient"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := btclient.Main(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
