package main

import (
	"context"
	"os"

	"github.com/clustervision/luna-go/internal/config"
	"github.com/clustervision/luna-go/internal/lweb"
)

func main() {
	config.TuneGC()
	os.Exit(lweb.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}
