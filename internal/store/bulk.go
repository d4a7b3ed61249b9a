package store

import (
	"context"
	"fmt"
	"regexp"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// ListWhere decodes the documents of coll whose field equals value, sorted
// by name, into out.
func (s *Store) ListWhere(ctx context.Context, coll, field string, value any, out any) error {
	return s.find(ctx, coll, bson.M{field: value}, bson.D{{Key: "name", Value: 1}}, out)
}

// NamesMatching returns the names in coll that match the regular expression.
func (s *Store) NamesMatching(ctx context.Context, coll string, re *regexp.Regexp) ([]string, error) {
	opts := options.Find().SetProjection(bson.M{"name": 1, "_id": 0})
	cur, err := s.db.Collection(coll).Find(ctx, bson.M{"name": bson.M{"$regex": re.String()}}, opts)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", coll, err)
	}
	var docs []struct {
		Name string `bson:"name"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("read %s: %w", coll, err)
	}
	out := make([]string, 0, len(docs))
	for _, d := range docs {
		if re.MatchString(d.Name) { // never trust a server's regex dialect alone
			out = append(out, d.Name)
		}
	}
	return out, nil
}

// ExistingNames returns which of names are taken in coll.
func (s *Store) ExistingNames(ctx context.Context, coll string, names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	refs, err := s.refs(ctx, coll, bson.M{"name": bson.M{"$in": names}})
	if err != nil {
		return nil, err
	}
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = r.Name
	}
	return out, nil
}

// DeleteIDs removes the documents of coll with the given ids.
func (s *Store) DeleteIDs(ctx context.Context, coll string, ids []ID) error {
	if len(ids) == 0 {
		return nil
	}
	ctx, done, err := writing(ctx)
	if err != nil {
		return err
	}
	defer done()
	if _, err := s.db.Collection(coll).DeleteMany(ctx, bson.M{"_id": bson.M{"$in": ids}}); err != nil {
		return fmt.Errorf("delete from %s: %w", coll, err)
	}
	return s.touch(ctx, coll)
}

// DeleteWhere removes the documents of coll whose field is one of values.
func (s *Store) DeleteWhere(ctx context.Context, coll, field string, values any) error {
	ctx, done, err := writing(ctx)
	if err != nil {
		return err
	}
	defer done()
	if _, err := s.db.Collection(coll).DeleteMany(ctx, bson.M{field: bson.M{"$in": values}}); err != nil {
		return fmt.Errorf("delete from %s: %w", coll, err)
	}
	return s.touch(ctx, coll)
}

// SetAddressIface moves claims to another interface id (group change keeps addresses).
func (s *Store) SetAddressIface(ctx context.Context, ids []ID, iface string) error {
	if len(ids) == 0 {
		return nil
	}
	ctx, done, err := writing(ctx)
	if err != nil {
		return err
	}
	defer done()
	_, err = s.db.Collection(Addresses).UpdateMany(ctx, bson.M{"_id": bson.M{"$in": ids}}, bson.M{"$set": bson.M{"iface": iface}})
	if err != nil {
		return fmt.Errorf("update addresses: %w", err)
	}
	return s.touch(ctx, Addresses)
}

// maxBulkUpdates bounds the update statements sent in one command: FerretDB
// 1.24 on SQLite keeps a database connection per statement until the whole
// command ends, and a command of 100 statements (its pool size) never ends.
const maxBulkUpdates = 50

// bulkUpdate sends unordered update models in commands of maxBulkUpdates.
func (s *Store) bulkUpdate(ctx context.Context, coll string, models []mongo.WriteModel) error {
	ctx, done, err := writing(ctx)
	if err != nil {
		return err
	}
	defer done()
	for len(models) > 0 {
		n := min(len(models), maxBulkUpdates)
		if _, err := s.db.Collection(coll).BulkWrite(ctx, models[:n], options.BulkWrite().SetOrdered(false)); err != nil {
			return err
		}
		models = models[n:]
	}
	return nil
}
