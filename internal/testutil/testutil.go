// Package testutil gives each test package one in-process FerretDB (or the
// real MongoDB named by LUNA_TEST_MONGODB_URI) and each test a fresh
// database on it.
package testutil

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clustervision/luna-go/internal/embeddb"
	"github.com/clustervision/luna-go/internal/store"
)

var (
	uri     string
	counter atomic.Int64
)

// M is what TestMain receives.
type M interface{ Run() int }

type withDB struct{ m M }

// WithDB wraps a test package's M so that Run starts the shared server
// first and stops it afterwards:
//
//	func TestMain(m *testing.M) { os.Exit(testutil.WithDB(m).Run()) }
func WithDB(m M) M { return withDB{m} }

func (w withDB) Run() int {
	if u := os.Getenv("LUNA_TEST_MONGODB_URI"); u != "" {
		uri = u
		return w.m.Run()
	}
	dir, err := os.MkdirTemp("", "luna-test-db-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testutil:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	dataDir = dir
	srv, err := embeddb.Start(context.Background(), embeddb.Config{Listen: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, "testutil: start embedded FerretDB:", err)
		return 1
	}
	uri = srv.URI()
	code := w.m.Run()
	_ = srv.Stop()
	return code
}

// dataDir holds the embedded server's SQLite files ("" with
// LUNA_TEST_MONGODB_URI).
var dataDir string

// DataDir is the directory of the embedded server's SQLite files, one
// <database>.sqlite per database; "" when the tests run against the server
// LUNA_TEST_MONGODB_URI names.
func DataDir() string { return dataDir }

// URI is the address of the shared server.
func URI() string {
	if uri == "" {
		panic("testutil: the package's TestMain must run testutil.WithDB(m).Run()")
	}
	return uri
}

// NewDatabase returns a database name no other test of this run uses.
func NewDatabase() string {
	return fmt.Sprintf("t%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6, counter.Add(1))
}

// Store opens a fresh database for one test and closes it at the end.
func Store(t testing.TB) (*store.Store, string) {
	t.Helper()
	db := NewDatabase()
	st, err := store.Open(context.Background(), URI(), db, "test server", 10*time.Second)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		_ = st.DropDatabase(context.Background())
		_ = st.Close(context.Background())
	})
	return st, db
}
