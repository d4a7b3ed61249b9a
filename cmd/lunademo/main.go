// Command lunademo is `make demo` (internal/demo): it provisions simulated
// nodes through the whole Luna flow on this machine. It owns the signals:
// SIGINT and SIGTERM stop the demo and clean up what it started.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/clustervision/luna-go/internal/demo"
	"github.com/clustervision/luna-go/internal/version"
)

func main() {
	if version.Asked(os.Args[1:]) {
		fmt.Println(version.Line("lunademo"))
		os.Exit(0)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := demo.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
