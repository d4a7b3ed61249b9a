package embeddb

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the driver FerretDB uses; registers "sqlite"
)

// FerretDB 1.24 stores each collection in an SQLite table of JSON documents
// and finds a document by _id with the expression _ferretdb_sjson->'$._id',
// but the unique index it creates for _id is on _ferretdb_sjson->"_id". The
// two are equal in value but not in text, so SQLite cannot use the index:
// every lookup, update and delete by _id reads and parses every row. At
// 10,000 nodes one update by _id took 18 ms; with an index on the expression
// FerretDB queries, 0.34 ms (docs/BENCHMARKS.md).
//
// The indexer adds that index, named <table>_luna_id, to every collection
// table of every database in the data directory, when the database file
// changes. FerretDB does not know about it and does not need to: it lists
// indexes from its own metadata, and dropping a collection drops the table
// with its indexes.

// idIndexSuffix names the indexes the indexer creates.
const idIndexSuffix = "_luna_id"

type fileStamp struct {
	db, wal time.Time
}

type idIndexer struct {
	dir  string
	log  *slog.Logger
	seen map[string]fileStamp // database file -> modification times when last indexed
}

// run indexes the data directory every interval until ctx ends.
func (x *idIndexer) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		x.scan(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// scan indexes every database file that changed since it was last indexed.
func (x *idIndexer) scan(ctx context.Context) {
	files, err := filepath.Glob(filepath.Join(x.dir, "*.sqlite"))
	if err != nil {
		return
	}
	present := map[string]bool{}
	for _, f := range files {
		present[f] = true
		st := stamp(f)
		if old, ok := x.seen[f]; ok && old == st {
			continue
		}
		if err := indexFile(ctx, f); err != nil {
			if ctx.Err() == nil {
				x.log.Debug("id index", "file", f, "err", err)
			}
			continue // try again at the next scan
		}
		x.seen[f] = st
	}
	for f := range x.seen {
		if !present[f] {
			delete(x.seen, f)
		}
	}
}

func stamp(f string) fileStamp {
	var s fileStamp
	if fi, err := os.Stat(f); err == nil {
		s.db = fi.ModTime()
	}
	if fi, err := os.Stat(f + "-wal"); err == nil {
		s.wal = fi.ModTime()
	}
	return s
}

// indexFile creates the missing _id expression indexes of one database file.
func indexFile(ctx context.Context, f string) error {
	db, err := sql.Open("sqlite", "file:"+f+"?mode=rw&_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_ferretdb_collections'`).Scan(&n); err != nil || n == 0 {
		return err // not (yet) a FerretDB database
	}
	rows, err := db.QueryContext(ctx, `SELECT c.table_name FROM _ferretdb_collections c
		WHERE EXISTS (SELECT 1 FROM sqlite_master t WHERE t.type = 'table' AND t.name = c.table_name)
		AND NOT EXISTS (SELECT 1 FROM sqlite_master i WHERE i.type = 'index' AND i.name = c.table_name || '`+idIndexSuffix+`')`)
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, t := range tables {
		if strings.ContainsAny(t, `"`+"\x00") {
			continue // FerretDB's table names are letters, digits and _
		}
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS "%s%s" ON "%s" (_ferretdb_sjson->'$._id')`, t, idIndexSuffix, t)
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
	}
	return nil
}
