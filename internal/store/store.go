// Package store keeps Luna's objects in MongoDB (or the embedded FerretDB).
// It is the only package that imports the MongoDB driver.
//
// Rules that hold for every collection, so that the same code is correct on
// MongoDB and on FerretDB 1.24:
//   - every invariant is a unique index: object names, MACs, one claim per
//     address per network; allocation inserts a claim and retries the next
//     candidate on a duplicate key;
//   - references are ObjectIDs, never DBRefs, and no key starts with '$';
//   - nothing is read, modified and written back: which objects use another
//     and which addresses are free are derived by queries;
//   - no TTL indexes and no multi-document transactions.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
)

// SchemaVersion is the layout of the documents written by this code:
// 1 the first; 2 adds each node's copy of its address claims (Node.Addrs),
// built from the claims when a version 1 database is opened; 3 moves each
// node's status and boot token out of the node document (NodeState); 4 adds
// the copies of the claims of switches, other devices and name servers on
// their own documents (Switch.Offset, OtherDev.Addrs, Network.NSOffset).
const SchemaVersion = 4

// Sentinel errors callers branch on.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrInUse    = errors.New("in use")
)

// ID identifies a document; references between objects are IDs.
type ID = bson.ObjectID

// NewID returns a fresh unique ID.
func NewID() ID { return bson.NewObjectID() }

// IDFromHex parses the 24-hex-digit form of an ID.
func IDFromHex(s string) (ID, error) { return bson.ObjectIDFromHex(s) }

// Collection names.
const (
	Clusters  = "cluster"
	Networks  = "network"
	OSImages  = "osimage"
	BMCSetups = "bmcsetup"
	Groups    = "group"
	Nodes     = "node"
	Switches  = "switch"
	OtherDevs = "otherdev"
	Addresses = "ipaddr"
	MACs      = "mac"
	SwitchMAC = "switch_mac"
	Tracker   = "tracker"
	Meta      = "luna_meta"
	States    = "nodestatus"
)

// Store is an open connection to Luna's database.
type Store struct {
	client *mongo.Client
	db     *mongo.Database
}

// withPort is host as the driver dials it: MongoDB's port 27017 when the
// URI names none (a Unix socket path is left as it is).
func withPort(host string) string {
	if strings.HasPrefix(host, "/") || strings.HasSuffix(host, ".sock") {
		return host
	}
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), "27017")
}

// Open connects to uri and checks that a server answers within timeout; a
// failure is one line naming the servers tried (the URI's hosts; target
// when it has none), or saying at once that the URI could not be parsed. It then makes sure the
// indexes and the schema version document exist.
func Open(ctx context.Context, uri, database, target string, timeout time.Duration, opt ...Option) (*Store, error) {
	cs, err := connstring.ParseAndValidate(uri)
	if err != nil {
		return nil, fmt.Errorf("Unable to connect to MongoDB: the URI could not be parsed: %s", strings.TrimPrefix(firstLine(err), "error parsing uri: "))
	}
	if len(cs.Hosts) > 0 {
		hosts := make([]string, len(cs.Hosts))
		for i, h := range cs.Hosts {
			hosts[i] = withPort(h)
		}
		target = strings.Join(hosts, ",")
	}
	opts := options.Client().ApplyURI(uri).
		SetServerSelectionTimeout(timeout).
		SetConnectTimeout(timeout).
		SetAppName("luna")
	for _, o := range opt {
		o(opts)
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("Unable to connect to MongoDB at %s: %s", target, firstLine(err))
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := client.Ping(pctx, readpref.Primary()); err != nil {
		_ = client.Disconnect(context.Background())
		reason := "no server answered within " + timeout.String()
		if !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "server selection") {
			reason = firstLine(err)
		} else if msg := err.Error(); strings.Contains(msg, "Last error: ") {
			reason = strings.TrimRight(strings.SplitN(strings.SplitN(msg, "Last error: ", 2)[1], " }", 2)[0], " ,")
		}
		return nil, fmt.Errorf("Unable to connect to MongoDB at %s: %s", target, reason)
	}
	s := &Store{client: client, db: client.Database(database)}
	if err := s.ensureSchema(ctx); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	return s, nil
}

// Option changes how Open connects.
type Option func(*options.ClientOptions)

// WithCommandLog logs every database command at debug level on log once it
// has finished: its name, collection, duration and, when it failed, why.
// `luna --debug` uses it.
func WithCommandLog(log *slog.Logger) Option {
	return func(o *options.ClientOptions) {
		var started sync.Map // request id -> collection
		done := func(ctx context.Context, e *event.CommandFinishedEvent, failure error) {
			coll, _ := started.LoadAndDelete(e.RequestID)
			attrs := []any{"db", e.DatabaseName, "collection", coll, "took", e.Duration}
			if failure != nil {
				attrs = append(attrs, "err", firstLine(failure))
			}
			log.DebugContext(ctx, "db "+e.CommandName, attrs...)
		}
		o.SetMonitor(&event.CommandMonitor{
			Started: func(_ context.Context, e *event.CommandStartedEvent) {
				coll := ""
				if el, err := e.Command.IndexErr(0); err == nil {
					coll, _ = el.Value().StringValueOK()
				}
				started.Store(e.RequestID, coll)
			},
			Succeeded: func(ctx context.Context, e *event.CommandSucceededEvent) { done(ctx, &e.CommandFinishedEvent, nil) },
			Failed:    func(ctx context.Context, e *event.CommandFailedEvent) { done(ctx, &e.CommandFinishedEvent, e.Failure) },
		})
	}
}

func firstLine(err error) string {
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return msg
}

// Close disconnects.
func (s *Store) Close(ctx context.Context) error { return s.client.Disconnect(ctx) }

type metaDoc struct {
	ID      string `bson:"_id"`
	Version int    `bson:"version"`
}

type index struct {
	coll   string
	keys   bson.D
	unique bool
}

var indexes = []index{
	{Clusters, bson.D{{Key: "name", Value: 1}}, true},
	{Networks, bson.D{{Key: "name", Value: 1}}, true},
	{Networks, bson.D{{Key: "network", Value: 1}}, true},
	{OSImages, bson.D{{Key: "name", Value: 1}}, true},
	{OSImages, bson.D{{Key: "path", Value: 1}}, true},
	{BMCSetups, bson.D{{Key: "name", Value: 1}}, true},
	{Groups, bson.D{{Key: "name", Value: 1}}, true},
	{Nodes, bson.D{{Key: "name", Value: 1}}, true},
	{Nodes, bson.D{{Key: "group", Value: 1}}, false},
	{Switches, bson.D{{Key: "name", Value: 1}}, true},
	{OtherDevs, bson.D{{Key: "name", Value: 1}}, true},
	{Addresses, bson.D{{Key: "network", Value: 1}, {Key: "offset", Value: 1}}, true},
	{Addresses, bson.D{{Key: "owner", Value: 1}}, false},
	{MACs, bson.D{{Key: "mac", Value: 1}}, true},
	{MACs, bson.D{{Key: "node", Value: 1}}, true},
	{SwitchMAC, bson.D{{Key: "switch_id", Value: 1}, {Key: "mac", Value: 1}, {Key: "port", Value: 1}, {Key: "portname", Value: 1}}, true},
	{SwitchMAC, bson.D{{Key: "mac", Value: 1}}, false},
	{Tracker, bson.D{{Key: "info_hash", Value: 1}, {Key: "ip", Value: 1}, {Key: "port", Value: 1}}, true},
	{Tracker, bson.D{{Key: "peer_id", Value: 1}}, false},
}

// ensureSchema creates the indexes and the schema version document on a new
// database and refuses a database written by a newer Luna.
func (s *Store) ensureSchema(ctx context.Context) error {
	var m metaDoc
	err := s.db.Collection(Meta).FindOne(ctx, bson.M{"_id": "schema"}).Decode(&m)
	switch {
	case err == nil:
		if m.Version > SchemaVersion {
			return fmt.Errorf("database schema version %d is newer than this luna understands (%d)", m.Version, SchemaVersion)
		}
		if m.Version == SchemaVersion {
			return nil
		}
		if m.Version < 2 {
			if err := s.rebuildNodeAddrs(ctx); err != nil {
				return fmt.Errorf("upgrade the schema to version 2: %w", err)
			}
		}
		if m.Version < 3 {
			if err := s.moveNodeStates(ctx); err != nil {
				return fmt.Errorf("upgrade the schema to version 3: %w", err)
			}
		}
		if m.Version < 4 {
			if err := s.rebuildDevAddrs(ctx); err != nil {
				return fmt.Errorf("upgrade the schema to version 4: %w", err)
			}
		}
	case !errors.Is(err, mongo.ErrNoDocuments):
		return fmt.Errorf("read schema version: %w", err)
	}
	for _, ix := range indexes {
		model := mongo.IndexModel{Keys: ix.keys, Options: options.Index().SetUnique(ix.unique)}
		if _, err := s.db.Collection(ix.coll).Indexes().CreateOne(ctx, model); err != nil {
			return fmt.Errorf("create index on %s: %w", ix.coll, err)
		}
	}
	_, err = s.db.Collection(Meta).UpdateOne(ctx, bson.M{"_id": "schema"},
		bson.M{"$set": bson.M{"version": SchemaVersion}}, options.UpdateOne().SetUpsert(true))
	if isDup(err) {
		// Another client opening the new database at the same moment
		// inserted the document first (an upsert is no more atomic than a
		// read followed by an insert). Accept what it wrote unless newer.
		if err := s.db.Collection(Meta).FindOne(ctx, bson.M{"_id": "schema"}).Decode(&m); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if m.Version > SchemaVersion {
			return fmt.Errorf("database schema version %d is newer than this luna understands (%d)", m.Version, SchemaVersion)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("write schema version: %w", err)
	}
	return nil
}

// DropDatabase removes every Luna object (cluster delete --force).
func (s *Store) DropDatabase(ctx context.Context) error { return s.db.Drop(ctx) }

// isDup reports a unique-index conflict. FerretDB 1.24 reports one found by
// an update (not an insert) as an InternalError carrying SQLite's message.
func isDup(err error) bool {
	return mongo.IsDuplicateKeyError(err) || (err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed"))
}

// Insert stores a new document; a unique-index conflict is ErrExists.
func (s *Store) Insert(ctx context.Context, coll string, doc any) error {
	ctx, done, err := writing(ctx)
	if err != nil {
		return err
	}
	defer done()
	_, err = s.db.Collection(coll).InsertOne(ctx, doc)
	if isDup(err) {
		return ErrExists
	}
	if err != nil {
		return fmt.Errorf("insert into %s: %w", coll, err)
	}
	return s.touch(ctx, coll)
}

// InsertMany stores documents in order and stops at the first failure; it
// returns how many were stored. A unique-index conflict is ErrExists.
func (s *Store) InsertMany(ctx context.Context, coll string, docs []any) (int, error) {
	if len(docs) == 0 {
		return 0, nil
	}
	ctx, done, err := writing(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	res, err := s.db.Collection(coll).InsertMany(ctx, docs, options.InsertMany().SetOrdered(true))
	n := 0
	if res != nil {
		n = len(res.InsertedIDs)
	}
	if err != nil {
		var bwe mongo.BulkWriteException
		if errors.As(err, &bwe) && len(bwe.WriteErrors) > 0 {
			n = bwe.WriteErrors[0].Index
		}
		if isDup(err) {
			err = ErrExists
		} else {
			err = fmt.Errorf("insert into %s: %w", coll, err)
		}
	}
	if n > 0 {
		if terr := s.touch(ctx, coll); terr != nil {
			return n, errors.Join(err, terr)
		}
	}
	return n, err
}

// GetByName decodes the document called name into out.
func (s *Store) GetByName(ctx context.Context, coll, name string, out any) error {
	return s.findOne(ctx, coll, bson.M{"name": name}, out)
}

// GetByID decodes the document with id into out.
func (s *Store) GetByID(ctx context.Context, coll string, id ID, out any) error {
	return s.findOne(ctx, coll, bson.M{"_id": id}, out)
}

func (s *Store) findOne(ctx context.Context, coll string, filter bson.M, out any) error {
	err := s.db.Collection(coll).FindOne(ctx, filter).Decode(out)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", coll, err)
	}
	return nil
}

// List decodes every document of coll, sorted by name, into out (a pointer to a slice).
func (s *Store) List(ctx context.Context, coll string, out any) error {
	return s.find(ctx, coll, bson.M{}, bson.D{{Key: "name", Value: 1}}, out)
}

// ListIDs decodes the documents with the given ids into out.
func (s *Store) ListIDs(ctx context.Context, coll string, ids []ID, out any) error {
	return s.find(ctx, coll, bson.M{"_id": bson.M{"$in": ids}}, bson.D{{Key: "name", Value: 1}}, out)
}

func (s *Store) find(ctx context.Context, coll string, filter any, sortBy bson.D, out any) error {
	opts := options.Find()
	if sortBy != nil {
		opts.SetSort(sortBy)
	}
	cur, err := s.db.Collection(coll).Find(ctx, filter, opts)
	if err != nil {
		return fmt.Errorf("read %s: %w", coll, err)
	}
	if err := cur.All(ctx, out); err != nil {
		return fmt.Errorf("read %s: %w", coll, err)
	}
	return nil
}

// Set changes fields of one document; unset names fields to remove.
// A unique-index conflict is ErrExists; a missing document ErrNotFound.
func (s *Store) Set(ctx context.Context, coll string, id ID, set map[string]any, unset ...string) error {
	upd := bson.M{}
	if len(set) > 0 {
		upd["$set"] = bson.M(set)
	}
	if len(unset) > 0 {
		u := bson.M{}
		for _, k := range unset {
			u[k] = ""
		}
		upd["$unset"] = u
	}
	if len(upd) == 0 {
		return nil
	}
	ctx, done, err := writing(ctx)
	if err != nil {
		return err
	}
	defer done()
	res, err := s.db.Collection(coll).UpdateOne(ctx, bson.M{"_id": id}, upd)
	if isDup(err) {
		return ErrExists
	}
	if err != nil {
		return fmt.Errorf("update %s: %w", coll, err)
	}
	if res.MatchedCount == 0 {
		return ErrNotFound
	}
	return s.touch(ctx, coll)
}

// Delete removes one document.
func (s *Store) Delete(ctx context.Context, coll string, id ID) error {
	ctx, done, err := writing(ctx)
	if err != nil {
		return err
	}
	defer done()
	res, err := s.db.Collection(coll).DeleteOne(ctx, bson.M{"_id": id})
	if err != nil {
		return fmt.Errorf("delete from %s: %w", coll, err)
	}
	if res.DeletedCount == 0 {
		return ErrNotFound
	}
	return s.touch(ctx, coll)
}

// Raw returns the stored document as indented extended JSON with sorted keys (for --raw).
func (s *Store) Raw(ctx context.Context, coll string, id ID) (string, error) {
	var doc bson.D
	if err := s.GetByID(ctx, coll, id, &doc); err != nil {
		return "", err
	}
	b, err := bson.MarshalExtJSONIndent(sortedKeys(doc), false, false, "", "    ")
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// sortedKeys orders the keys of every document inside v bytewise, as 1.2's
// --raw (json.dumps with sort_keys=True) did.
func sortedKeys(v any) any {
	switch t := v.(type) {
	case bson.D:
		out := make(bson.D, len(t))
		for i, e := range t {
			out[i] = bson.E{Key: e.Key, Value: sortedKeys(e.Value)}
		}
		sort.SliceStable(out, func(i, j int) bool { return out[i].Key < out[j].Key })
		return out
	case bson.A:
		out := make(bson.A, len(t))
		for i, e := range t {
			out[i] = sortedKeys(e)
		}
		return out
	}
	return v
}

// Dump returns every document of every collection as canonical extended
// JSON, collections and documents in a fixed order. Tests compare dumps to
// prove that a failed command changed nothing.
func (s *Store) Dump(ctx context.Context) (string, error) {
	names, err := s.db.ListCollectionNames(ctx, bson.M{})
	if err != nil {
		return "", err
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		if n == Locks {
			continue // empty between commands; may exist or not
		}
		fmt.Fprintf(&b, "== %s\n", n)
		cur, err := s.db.Collection(n).Find(ctx, bson.M{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
		if err != nil {
			return "", err
		}
		for cur.Next(ctx) {
			if n == Meta && cur.Current.Lookup("_id").StringValue() == changesID {
				continue // changes on every write, even one rolled back
			}
			j, err := bson.MarshalExtJSON(cur.Current, true, false)
			if err != nil {
				return "", err
			}
			b.Write(j)
			b.WriteByte('\n')
		}
		if err := cur.Err(); err != nil {
			return "", err
		}
		_ = cur.Close(ctx)
		ixs, err := s.db.Collection(n).Indexes().ListSpecifications(ctx)
		if err != nil {
			return "", err
		}
		for _, ix := range ixs {
			fmt.Fprintf(&b, "index %s %s unique=%v\n", ix.Name, ix.KeysDocument, ix.Unique != nil && *ix.Unique)
		}
	}
	return b.String(), nil
}
