package main

import (
	"context"
	"flag"
	"os"
	"path/filepath"
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
			"dbdump": dbdump,
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
