package main

import (
	"context"
	"os"

	"github.com/clustervision/luna-go/internal/lunadb"
)

func main() {
	os.Exit(lunadb.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
