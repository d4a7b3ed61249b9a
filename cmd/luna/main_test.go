package main

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/clustervision/luna-go/internal/cli"
	"github.com/clustervision/luna-go/internal/store"
	"github.com/clustervision/luna-go/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the expected output in testdata/script")

func TestMain(m *testing.M) {
	testscript.Main(testutil.WithDB(m), map[string]func(){
		"luna": func() { os.Exit(cli.Main(context.Background(), os.Args[1:], cli.StdIO())) },
	})
}

// TestScripts runs the CLI scenarios in testdata/script, each against a
// fresh database on the package's FerretDB.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: *update,
		Setup: func(e *testscript.Env) error {
			e.Setenv("LUNA_MONGO_URI", testutil.URI())
			e.Setenv("LUNA_DB", testutil.NewDatabase())
			e.Setenv("LUNA_CONF", filepath.Join(e.WorkDir, "luna.conf"))
			e.Setenv("LUNA_LOGDIR", filepath.Join(e.WorkDir, "log"))
			e.Setenv("LUNA_CONNECT_TIMEOUT", "3s")
			return os.WriteFile(filepath.Join(e.WorkDir, "luna.conf"), []byte("# defaults\n"), 0o644)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"dbdump":   dbdump,
			"exitcode": exitcode,
		},
	})
}

// dbdump FILE writes every document of the script's database to FILE, so
// that `cmp` can prove a failed command changed nothing.
func dbdump(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: dbdump FILE")
	}
	ctx := context.Background()
	st, err := store.Open(ctx, ts.Getenv("LUNA_MONGO_URI"), ts.Getenv("LUNA_DB"), "test server", 10*time.Second)
	ts.Check(err)
	defer st.Close(ctx)
	dump, err := st.Dump(ctx)
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(dump), 0o644))
}

// exitcode N luna ARGS... runs luna in-process with the script's
// environment and checks that it ends with exit code N; its stdout and
// stderr are kept for `stdout`/`stderr`/`cmp` as after `exec`. Standard
// input is empty (use `stdin FILE` with plain `luna` to feed text), and
// relative paths are relative to the test process's directory, not $WORK.
func exitcode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || args[1] != "luna" {
		ts.Fatalf("usage: exitcode N luna ARGS...")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("usage: exitcode N luna ARGS...: %v", err)
	}
	io := cli.IO{In: strings.NewReader(""), Out: ts.Stdout(), Err: ts.Stderr(), Getenv: ts.Getenv}
	if got := cli.Main(context.Background(), args[2:], io); got != want {
		ts.Fatalf("luna exited with %d, want %d", got, want)
	}
}
