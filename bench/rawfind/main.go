// Command rawfind is the baseline of the node benchmark (bench/nodes): one
// process that connects with the MongoDB driver and reads the documents of a
// collection with a single Find (or one document with FindOne by name),
// decoding them into bson.M and printing nothing. It pays what an exec'd
// `luna` pays to start and connect, and nothing of Luna itself.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:]))
}

func run(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("rawfind", flag.ContinueOnError)
	uri := fs.String("uri", "", "MongoDB URI")
	db := fs.String("db", "luna", "database")
	coll := fs.String("coll", "node", "collection")
	name := fs.String("name", "", "FindOne {name: NAME} instead of reading the whole collection")
	count := fs.Bool("count", false, "print how many documents were read (for checking, not for timing)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	n, err := find(ctx, *uri, *db, *coll, *name)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rawfind:", err)
		return 1
	}
	if *count {
		fmt.Println(n)
	}
	return 0
}

func find(ctx context.Context, uri, db, coll, name string) (int, error) {
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(10 * time.Second))
	if err != nil {
		return 0, err
	}
	defer func() { _ = client.Disconnect(context.Background()) }()
	c := client.Database(db).Collection(coll)
	if name != "" {
		var doc bson.M
		if err := c.FindOne(ctx, bson.M{"name": name}).Decode(&doc); err != nil {
			if errors.Is(err, mongo.ErrNoDocuments) {
				return 0, fmt.Errorf("no %s named %q", coll, name)
			}
			return 0, err
		}
		return 1, nil
	}
	cur, err := c.Find(ctx, bson.M{})
	if err != nil {
		return 0, err
	}
	var docs []bson.M
	if err := cur.All(ctx, &docs); err != nil {
		return 0, err
	}
	return len(docs), nil
}
