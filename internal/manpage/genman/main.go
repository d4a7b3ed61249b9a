// Command genman writes the man pages of Luna's programs into a directory
// (`make man`, docs/packaging.md):
//
//	go run ./internal/manpage/genman -version v1.2.0-go DIR
//
// The pages' date is SOURCE_DATE_EPOCH when set (reproducible builds),
// else today.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/clustervision/luna-go/internal/manpage"
)

func main() {
	version := flag.String("version", "", "release named in the pages' footer")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: genman [-version V] DIR")
		os.Exit(2)
	}
	date := time.Now().UTC()
	if e := os.Getenv("SOURCE_DATE_EPOCH"); e != "" {
		sec, err := strconv.ParseInt(e, 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "genman: SOURCE_DATE_EPOCH=%q is not a number of seconds\n", e)
			os.Exit(2)
		}
		date = time.Unix(sec, 0).UTC()
	}
	source := "Luna"
	if *version != "" {
		source += " " + *version
	}
	if err := manpage.Write(flag.Arg(0), source, date); err != nil {
		fmt.Fprintf(os.Stderr, "genman: %v\n", err)
		os.Exit(1)
	}
}
