// Package embeddb runs FerretDB 1.24 with its SQLite backend inside the current
// process. It serves the MongoDB wire protocol so that every other part of Luna
// can talk to it exactly as it talks to a real MongoDB. Only lunadb and tests
// import this package: it pulls in the whole of FerretDB.
package embeddb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// IndexInterval is how often the data directory is checked for collections
// that lack the _id expression index (see idindex.go).
var IndexInterval = time.Second

// Server is a running embedded FerretDB.
type Server struct {
	uri    string
	cancel context.CancelFunc
	done   chan error
}

// Config says where the embedded server listens and keeps its data.
type Config struct {
	Listen  string // TCP address, e.g. 127.0.0.1:27017; port 0 picks a free one
	DataDir string // directory of the SQLite files; created if missing
	Logger  *slog.Logger
}

// Start creates the data directory, starts FerretDB and returns once the
// listener is bound. Stop (or cancelling ctx) shuts it down.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Listen == "" {
		return nil, errors.New("embedded store: no listen address")
	}
	if cfg.DataDir == "" {
		return nil, errors.New("embedded store: no data directory")
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("embedded store: data directory %q: %w", cfg.DataDir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded store: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(os_discard{}, nil))
	}
	logger = slog.New(quietResponses{logger.Handler()})
	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: cfg.Listen},
		Logger:   logger,
		Handler:  "sqlite",
		// WAL with synchronous=NORMAL: a commit is not flushed to disk
		// until the next checkpoint, so a power loss can lose the last
		// writes (never corrupt the database) - the same promise as
		// MongoDB's default write concern, whose journal is flushed every
		// 100 ms. It halves the cost of each write.
		SQLiteURL: "file:" + dir + "/?_pragma=synchronous(normal)",
	})
	if err != nil {
		return nil, fmt.Errorf("embedded store: %w", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	s := &Server{cancel: cancel, done: make(chan error, 1)}
	indexed := make(chan struct{})
	go func() {
		err := f.Run(runCtx)
		cancel()
		<-indexed // the indexer has stopped touching the files
		s.done <- err
	}()
	go func() {
		defer close(indexed)
		(&idIndexer{dir: dir, log: logger, seen: map[string]fileStamp{}}).run(runCtx, IndexInterval)
	}()

	// MongoDBURI blocks until the listener is bound; bound it ourselves so a
	// port that cannot be bound is an error, not a hang.
	uriCh := make(chan string, 1)
	go func() { uriCh <- f.MongoDBURI() }()
	select {
	case s.uri = <-uriCh:
	case err := <-s.done:
		cancel()
		if err == nil {
			err = errors.New("stopped before listening")
		}
		return nil, fmt.Errorf("embedded store on %s: %w", cfg.Listen, err)
	case <-time.After(30 * time.Second):
		cancel()
		return nil, fmt.Errorf("embedded store on %s: did not start listening within 30s", cfg.Listen)
	}
	return s, nil
}

// URI is the mongodb:// address clients use.
func (s *Server) URI() string { return s.uri }

// Stop closes the listener and all connections and waits for the backend to close.
func (s *Server) Stop() error {
	s.cancel()
	return <-s.done
}

type os_discard struct{}

func (os_discard) Write(p []byte) (int, error) { return len(p), nil }
