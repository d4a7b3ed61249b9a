package main

import (
	"context"
	"os"

	"github.com/clustervision/luna-go/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], cli.StdIO()))
}
