// Command lchroot runs a shell or a command inside an osimage's tree
// (docs/lchroot.md).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/clustervision/luna-go/internal/lchroot"
	"github.com/clustervision/luna-go/internal/version"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "--version" {
		fmt.Println(version.Line("lchroot"))
		os.Exit(0)
	}
	// Signals go to the command in the image (SIGTERM: killed if it has
	// not ended after lchroot.KillAfter); lchroot ends when it ends.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	code := lchroot.Main(context.Background(), os.Args[1:], lchroot.IO{
		In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Environ: os.Environ(), Signals: sigs})
	os.Exit(code)
}
