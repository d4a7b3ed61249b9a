package embeddb

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Every collection gets the index SQLite can use for FerretDB's _id
// lookups, and SQLite's plan for such a lookup uses it.
func TestIDIndex(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv, err := Start(ctx, Config{Listen: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	cl, err := mongo.Connect(options.Client().ApplyURI(srv.URI()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Disconnect(ctx)
	var ids []bson.ObjectID
	for _, coll := range []string{"node", "group"} {
		for i := 0; i < 20; i++ {
			id := bson.NewObjectID()
			ids = append(ids, id)
			if _, err := cl.Database("luna").Collection(coll).InsertOne(ctx, bson.M{"_id": id, "name": fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "luna.sqlite")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(20 * time.Second)
	var tables []string
	for {
		rows, err := db.Query(`SELECT tbl_name FROM sqlite_master WHERE type = 'index' AND name LIKE '%` + idIndexSuffix + `'`)
		if err != nil {
			t.Fatal(err)
		}
		tables = tables[:0]
		for rows.Next() {
			var n string
			_ = rows.Scan(&n)
			tables = append(tables, n)
		}
		rows.Close()
		if len(tables) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("id indexes on %v after 20 s, want the node and group tables", tables)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, tb := range tables {
		var a, b, c int
		var plan string
		if err := db.QueryRow(`EXPLAIN QUERY PLAN SELECT _ferretdb_sjson FROM "`+tb+`" WHERE _ferretdb_sjson->'$._id' = ?`, "x").Scan(&a, &b, &c, &plan); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan, tb+idIndexSuffix) {
			t.Errorf("%s: plan %q does not use the index", tb, plan)
		}
	}
	// FerretDB still finds, updates and lists as before.
	res, err := cl.Database("luna").Collection("node").UpdateOne(ctx, bson.M{"_id": ids[3]}, bson.M{"$set": bson.M{"x": 1}})
	if err != nil || res.MatchedCount != 1 {
		t.Fatalf("update by id: %+v %v", res, err)
	}
	var got bson.M
	if err := cl.Database("luna").Collection("node").FindOne(ctx, bson.M{"_id": ids[3]}).Decode(&got); err != nil || got["x"] != int32(1) {
		t.Fatalf("find by id: %v %v", got, err)
	}
	specs, err := cl.Database("luna").Collection("node").Indexes().ListSpecifications(ctx)
	if err != nil || len(specs) != 1 {
		t.Fatalf("FerretDB lists indexes %v, %v; want only _id_", specs, err)
	}
	// A dropped and recreated collection is indexed again.
	if err := cl.Database("luna").Collection("group").Drop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Database("luna").Collection("group").InsertOne(ctx, bson.M{"name": "again"}); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name LIKE 'group%` + idIndexSuffix + `'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the recreated collection got no id index within 20 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
