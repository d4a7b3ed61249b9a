package main

import (
	"context"
	"os"

	"github.com/clustervision/luna-go/internal/cli"
	"github.com/clustervision/luna-go/internal/config"
)

func main() {
	config.TuneGC()
	os.Exit(cli.Main(context.Background(), os.Args[1:], cli.StdIO()))
}
