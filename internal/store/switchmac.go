package store

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// UpsertLearnedMAC records that m.MAC was seen on port m.Port (m.PortName)
// of switch m.Switch at m.Updated (now when zero). The key is the four
// fields switch_id, mac, port and portname, unique in the index: the same MAC
// on another port or switch (an uplink) is a document of its own. created
// says whether the document is new.
//
// An upsert is not atomic on FerretDB: two writers may both miss and both
// insert, and the unique index turns the second insert into a duplicate-key
// error. The document then exists, so the update is tried once more.
func (s *Store) UpsertLearnedMAC(ctx context.Context, m LearnedMAC) (created bool, err error) {
	if m.Updated.IsZero() {
		m.Updated = time.Now()
	}
	filter := bson.D{
		{Key: "switch_id", Value: m.Switch},
		{Key: "mac", Value: m.MAC},
		{Key: "port", Value: m.Port},
		{Key: "portname", Value: m.PortName},
	}
	update := bson.M{
		"$set":         bson.M{"updated": m.Updated.UTC()},
		"$setOnInsert": bson.M{"_id": NewID()},
	}
	coll := s.db.Collection(SwitchMAC)
	for attempt := 0; ; attempt++ {
		res, err := coll.UpdateOne(ctx, filter, update, options.UpdateOne().SetUpsert(true))
		if isDup(err) && attempt == 0 {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("record learned MAC %s: %w", m.MAC, err)
		}
		return res.UpsertedCount > 0, nil
	}
}

// ExpireLearnedMACs removes the learned MACs not seen since before and says
// how many went. It stands in for 1.2's TTL index (300 s on updated), which
// FerretDB does not have: the MAC updater calls it on every pass.
func (s *Store) ExpireLearnedMACs(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.Collection(SwitchMAC).DeleteMany(ctx, bson.M{"updated": bson.M{"$lt": before.UTC()}})
	if err != nil {
		return 0, fmt.Errorf("expire learned MACs: %w", err)
	}
	return res.DeletedCount, nil
}

// LearnedMACsByMAC returns every switch port on which one of macs (lower
// case, as the updater stores them) was seen, newest sighting first. It is
// the switch-port step of boot discovery: when none of the MACs a booting
// machine reports is bound to a node, each entry names a switch and a port
// (number and name), and the node whose switch is that switch and whose
// port equals the entry's portname (first) or port (second) is the machine.
func (s *Store) LearnedMACsByMAC(ctx context.Context, macs []string) ([]LearnedMAC, error) {
	if len(macs) == 0 {
		return nil, nil
	}
	var out []LearnedMAC
	err := s.find(ctx, SwitchMAC, bson.M{"mac": bson.M{"$in": macs}},
		bson.D{{Key: "updated", Value: -1}, {Key: "switch_id", Value: 1}, {Key: "port", Value: 1}, {Key: "mac", Value: 1}}, &out)
	return out, err
}
