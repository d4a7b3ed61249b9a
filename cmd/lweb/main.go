package main

import (
	"context"
	"os"

	"github.com/clustervision/luna-go/internal/lweb"
)

func main() {
	os.Exit(lweb.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}
