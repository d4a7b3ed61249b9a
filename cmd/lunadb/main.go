package main

import (
	"context"
	"os"

	"github.com/clustervision/luna-go/internal/config"
	"github.com/clustervision/luna-go/internal/lunadb"
)

func main() {
	config.TuneGC()
	os.Exit(lunadb.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
