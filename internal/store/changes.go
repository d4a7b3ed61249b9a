package store

import (
	"context"
	"errors"
	"fmt"
	"time"

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

// writeTimeout bounds one write once it is sent.
const writeTimeout = time.Minute

// writing is the context of one write of an object: a cancelled ctx
// (SIGINT, SIGTERM) stops the command before the write is sent, but a write
// already sent is not cut off: its outcome would be unknown and a rollback
// could run before the server finishes it.
func writing(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if err := ctx.Err(); err != nil {
		return ctx, func() {}, context.Cause(ctx)
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	return wctx, cancel, nil
}

// touch records that objects of coll changed. It runs even when ctx was
// cancelled once the write it follows is done (a stored change must not go
// unannounced); its error fails the caller's command, because lweb would
// otherwise serve stale boot data with no trace.
func (s *Store) touch(ctx context.Context, coll string) error {
	if volatile[coll] {
		return nil
	}
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, err := s.db.Collection(Meta).UpdateOne(tctx, bson.M{"_id": changesID},
		bson.M{"$set": bson.M{"value": NewID().Hex()}}, options.UpdateOne().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("%s changed, but the change marker could not be written (lweb may serve stale data until it is): %w", coll, err)
	}
	return nil
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
	NodeID ID
	Node   string // for messages
	Status NodeStatus
	Token  string
	// TokenAddr is the address Token was handed to (kept with it).
	TokenAddr string
}

// SetNodeStatuses stores many node statuses (NodeState documents) in few
// round trips. These writes do not touch the change marker: they are what
// booting nodes report.
func (s *Store) SetNodeStatuses(ctx context.Context, ups []StatusUpdate) error {
	if len(ups) == 0 {
		return nil
	}
	models := make([]mongo.WriteModel, 0, len(ups))
	for _, u := range ups {
		if u.NodeID.IsZero() {
			return fmt.Errorf("store node statuses: node %s has no id", u.Node)
		}
		set := bson.M{"step": u.Status.Step, "time": u.Status.Time}
		if u.Token != "" {
			set["token"], set["token_addr"] = u.Token, u.TokenAddr
		}
		models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": u.NodeID}).
			SetUpdate(bson.M{"$set": set}).SetUpsert(true))
	}
	if err := s.bulkUpdate(ctx, States, models); err != nil {
		return fmt.Errorf("store node statuses: %w", err)
	}
	return nil
}

// NodeStates returns the states of the nodes ids (of every node when ids is nil), by node id.
func (s *Store) NodeStates(ctx context.Context, ids []ID) (map[ID]NodeState, error) {
	var filter bson.M
	switch {
	case ids == nil:
		filter = bson.M{}
	case len(ids) == 1: // an equality FerretDB answers from an index, not a scan
		filter = bson.M{"_id": ids[0]}
	default:
		filter = bson.M{"_id": bson.M{"$in": ids}}
	}
	var states []NodeState
	if err := s.find(ctx, States, filter, nil, &states); err != nil {
		return nil, err
	}
	out := make(map[ID]NodeState, len(states))
	for _, st := range states {
		out[st.ID] = st
	}
	return out, nil
}

// moveNodeStates moves statuses and boot tokens from node documents (schema
// version 2 and before) to NodeState documents.
func (s *Store) moveNodeStates(ctx context.Context) error {
	var nodes []struct {
		ID        ID          `bson:"_id"`
		Status    *NodeStatus `bson:"status"`
		BootToken string      `bson:"boot_token"`
	}
	if err := s.find(ctx, Nodes, bson.M{"status": bson.M{"$exists": true}}, nil, &nodes); err != nil {
		return err
	}
	var ups []StatusUpdate
	for _, n := range nodes {
		if n.Status != nil {
			ups = append(ups, StatusUpdate{NodeID: n.ID, Status: *n.Status, Token: n.BootToken})
		}
	}
	if err := s.SetNodeStatuses(ctx, ups); err != nil {
		return err
	}
	_, err := s.db.Collection(Nodes).UpdateMany(ctx, bson.M{"$or": bson.A{bson.M{"status": bson.M{"$exists": true}}, bson.M{"boot_token": bson.M{"$exists": true}}}},
		bson.M{"$unset": bson.M{"status": "", "boot_token": ""}})
	return err
}
