package store

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The change marker is a document whose value changes after every change of
// an object (not of tracker peers, learned MACs or node statuses). lweb
// polls it to know when its caches of boot data are stale.
const changesID = "changes"

// volatile are collections whose writes do not touch the change marker.
var volatile = map[string]bool{Tracker: true, SwitchMAC: true, Meta: true}

// touch records that objects of coll changed.
func (s *Store) touch(ctx context.Context, coll string) {
	if volatile[coll] {
		return
	}
	_, _ = s.db.Collection(Meta).UpdateOne(ctx, bson.M{"_id": changesID},
		bson.M{"$set": bson.M{"value": NewID().Hex()}}, options.UpdateOne().SetUpsert(true))
}

// ChangeMarker returns the current value of the change marker.
func (s *Store) ChangeMarker(ctx context.Context) (string, error) {
	var d struct {
		Value string `bson:"value"`
	}
	err := s.db.Collection(Meta).FindOne(ctx, bson.M{"_id": changesID}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the change marker: %w", err)
	}
	return d.Value, nil
}

// StatusUpdate is a node's last boot step and, when not empty, the token of
// its current boot.
type StatusUpdate struct {
	NodeID ID // when set, the node is found by id (cheap on every store); else by name
	Node   string
	Status NodeStatus
	Token  string
}

// SetNodeStatuses stores many node statuses in one round trip. These writes
// do not touch the change marker: they are what booting nodes report.
func (s *Store) SetNodeStatuses(ctx context.Context, ups []StatusUpdate) error {
	if len(ups) == 0 {
		return nil
	}
	models := make([]mongo.WriteModel, 0, len(ups))
	for _, u := range ups {
		set := bson.M{"status": u.Status}
		if u.Token != "" {
			set["boot_token"] = u.Token
		}
		filter := bson.M{"name": u.Node}
		if !u.NodeID.IsZero() {
			filter = bson.M{"_id": u.NodeID}
		}
		models = append(models, mongo.NewUpdateOneModel().SetFilter(filter).SetUpdate(bson.M{"$set": set}))
	}
	if err := s.bulkUpdate(ctx, Nodes, models); err != nil {
		return fmt.Errorf("store node statuses: %w", err)
	}
	return nil
}
