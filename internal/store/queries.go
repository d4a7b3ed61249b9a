package store

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Ref names an object of some collection, for "in use by" messages.
type Ref struct {
	Collection string
	ID         ID
	Name       string
}

// String is the 1.2 form [collection/name].
func (r Ref) String() string { return "[" + r.Collection + "/" + r.Name + "]" }

type named struct {
	ID   ID     `bson:"_id"`
	Name string `bson:"name"`
}

func (s *Store) refs(ctx context.Context, coll string, filter any) ([]Ref, error) {
	var docs []named
	opts := options.Find().SetProjection(bson.M{"name": 1}).SetSort(bson.D{{Key: "name", Value: 1}})
	cur, err := s.db.Collection(coll).Find(ctx, filter, opts)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", coll, err)
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("read %s: %w", coll, err)
	}
	out := make([]Ref, len(docs))
	for i, d := range docs {
		out[i] = Ref{Collection: coll, ID: d.ID, Name: d.Name}
	}
	return out, nil
}

// Users lists the objects that refer to the object id of collection coll:
// whatever would be left dangling if it were deleted.
func (s *Store) Users(ctx context.Context, coll string, id ID) ([]Ref, error) {
	var out []Ref
	add := func(c string, filter any) error {
		r, err := s.refs(ctx, c, filter)
		out = append(out, r...)
		return err
	}
	var err error
	switch coll {
	case Networks:
		if err = add(Groups, bson.M{"$or": bson.A{
			bson.M{"interfaces.network4": id}, bson.M{"interfaces.network6": id}, bson.M{"domain": id},
		}}); err != nil {
			return nil, err
		}
		if err = add(Switches, bson.M{"network": id}); err != nil {
			return nil, err
		}
		owners, err := s.ownersIn(ctx, id, KindOtherDev)
		if err != nil {
			return nil, err
		}
		if len(owners) > 0 {
			if err = add(OtherDevs, bson.M{"_id": bson.M{"$in": owners}}); err != nil {
				return nil, err
			}
		}
		if err = add(Clusters, bson.M{"dhcp_net": id}); err != nil {
			return nil, err
		}
	case OSImages:
		err = add(Groups, bson.M{"osimage": id})
	case BMCSetups:
		err = add(Groups, bson.M{"bmcsetup": id})
	case Groups:
		err = add(Nodes, bson.M{"group": id})
	case Switches:
		err = add(Nodes, bson.M{"switch": id})
	}
	return out, err
}

func (s *Store) ownersIn(ctx context.Context, network ID, kind string) ([]ID, error) {
	var addrs []Address
	if err := s.find(ctx, Addresses, bson.M{"network": network, "kind": kind}, nil, &addrs); err != nil {
		return nil, err
	}
	ids := make([]ID, 0, len(addrs))
	for _, a := range addrs {
		ids = append(ids, a.Owner)
	}
	return ids, nil
}

// Count is the number of documents in coll.
func (s *Store) Count(ctx context.Context, coll string) (int64, error) {
	return s.db.Collection(coll).CountDocuments(ctx, bson.M{})
}

// UsedOffsets returns the offset keys of every claimed address of a network.
func (s *Store) UsedOffsets(ctx context.Context, network ID) ([]string, error) {
	opts := options.Find().SetProjection(bson.M{"offset": 1, "_id": 0})
	cur, err := s.db.Collection(Addresses).Find(ctx, bson.M{"network": network}, opts)
	if err != nil {
		return nil, fmt.Errorf("read addresses: %w", err)
	}
	var docs []struct {
		Offset string `bson:"offset"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("read addresses: %w", err)
	}
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.Offset
	}
	return out, nil
}

// AddressFilter selects claims; zero fields match anything.
type AddressFilter struct {
	Network *ID
	Kind    string
	Kinds   []string // any of these kinds
	Owner   *ID
	Owners  []ID
	Iface   string
	Offset  string
}

func (f AddressFilter) bson() bson.M {
	m := bson.M{}
	if f.Network != nil {
		m["network"] = *f.Network
	}
	if f.Kind != "" {
		m["kind"] = f.Kind
	}
	if f.Kinds != nil {
		m["kind"] = bson.M{"$in": f.Kinds}
	}
	if f.Owner != nil {
		m["owner"] = *f.Owner
	}
	if f.Owners != nil {
		m["owner"] = bson.M{"$in": f.Owners}
	}
	if f.Iface != "" {
		m["iface"] = f.Iface
	}
	if f.Offset != "" {
		m["offset"] = f.Offset
	}
	return m
}

// FindAddresses returns matching claims sorted by network and offset.
func (s *Store) FindAddresses(ctx context.Context, f AddressFilter) ([]Address, error) {
	var out []Address
	err := s.find(ctx, Addresses, f.bson(), bson.D{{Key: "network", Value: 1}, {Key: "offset", Value: 1}}, &out)
	return out, err
}

// DeleteAddresses removes matching claims and says how many went.
func (s *Store) DeleteAddresses(ctx context.Context, f AddressFilter) (int64, error) {
	m := f.bson()
	if len(m) == 0 {
		return 0, errors.New("refusing to delete every address")
	}
	ctx, done, err := writing(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	res, err := s.db.Collection(Addresses).DeleteMany(ctx, m)
	if err != nil {
		return 0, fmt.Errorf("release addresses: %w", err)
	}
	if res.DeletedCount > 0 {
		return res.DeletedCount, s.touch(ctx, Addresses)
	}
	return res.DeletedCount, nil
}

// DeleteAddress removes one claim by id.
func (s *Store) DeleteAddress(ctx context.Context, id ID) error { return s.Delete(ctx, Addresses, id) }

// CountWhere counts the documents of coll whose field equals value.
func (s *Store) CountWhere(ctx context.Context, coll, field string, value any) (int64, error) {
	return s.db.Collection(coll).CountDocuments(ctx, bson.M{field: value})
}

// LearnedMACs lists what the SNMP updater saw, oldest switch first.
func (s *Store) LearnedMACs(ctx context.Context) ([]LearnedMAC, error) {
	var out []LearnedMAC
	err := s.find(ctx, SwitchMAC, bson.M{}, bson.D{{Key: "switch_id", Value: 1}, {Key: "port", Value: 1}, {Key: "mac", Value: 1}}, &out)
	return out, err
}

// MACsOf returns the MAC bindings of the given nodes (all when nodes is nil).
func (s *Store) MACsOf(ctx context.Context, nodes []ID) ([]MAC, error) {
	filter := bson.M{}
	if nodes != nil {
		filter["node"] = bson.M{"$in": nodes}
	}
	var out []MAC
	err := s.find(ctx, MACs, filter, nil, &out)
	return out, err
}

// MACsByAddress returns the bindings of the given MAC addresses.
func (s *Store) MACsByAddress(ctx context.Context, macs []string) ([]MAC, error) {
	var out []MAC
	err := s.find(ctx, MACs, bson.M{"mac": bson.M{"$in": macs}}, nil, &out)
	return out, err
}

// ErrNoDocuments reports whether err means nothing matched.
func isNoDocs(err error) bool { return errors.Is(err, mongo.ErrNoDocuments) }
