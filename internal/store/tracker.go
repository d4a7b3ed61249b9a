package store

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// ServerPeerIDHex is the stored (hex) form of the peer id "lunalunalunaluna"
// + "luna" that ltorrent, the master's seeder, announces with.
const ServerPeerIDHex = "6c756e616c756e616c756e616c756e616c756e61"

// PeerDocID is the _id of the document of peer (ip, port) of a torrent:
// the first 12 bytes of the SHA-1 of the three, so that a peer's document
// is written and deleted by _id, one at a time or many at once
// (ReplacePeers). FerretDB's SQLite backend passes only an _id equality
// down to SQLite (which still scans the table: its WHERE does not match
// the index expression); any other filter decodes every document in Go,
// several times the cost.
func PeerDocID(infoHash, ip string, port int) ID {
	sum := sha1.Sum([]byte(infoHash + "\x00" + ip + "\x00" + strconv.Itoa(port)))
	var id ID
	copy(id[:], sum[:len(id)])
	return id
}

// UpsertPeer records an announce: the document keyed by (info_hash, ip,
// port) gets p's peer id, counters and update time, and p.Status when it is
// not empty (an announce without an event keeps the last one). p.ID is
// ignored: a new document gets PeerDocID.
//
// The write goes to the document with _id PeerDocID. It falls back to the
// (info_hash, ip, port) filter when that conflicts with the unique index:
// the peer's document has another _id (written by Luna 1.2 or by a tracker
// before ids were derived), or a concurrent first announce of the same
// peer inserted it first (an upsert is not atomic on FerretDB 1.24).
func (s *Store) UpsertPeer(ctx context.Context, p TrackerPeer) error {
	filter := bson.D{{Key: "info_hash", Value: p.InfoHash}, {Key: "ip", Value: p.IP}, {Key: "port", Value: p.Port}}
	set := bson.D{
		{Key: "info_hash", Value: p.InfoHash},
		{Key: "ip", Value: p.IP},
		{Key: "port", Value: p.Port},
		{Key: "peer_id", Value: p.PeerID},
		{Key: "updated", Value: p.Updated.UTC()},
		{Key: "uploaded", Value: p.Uploaded},
		{Key: "downloaded", Value: p.Downloaded},
		{Key: "left", Value: p.Left},
	}
	if p.Status != "" {
		set = append(set, bson.E{Key: "status", Value: p.Status})
	}
	update := bson.D{{Key: "$set", Value: set}}
	coll := s.db.Collection(Tracker)
	byID := bson.D{{Key: "_id", Value: PeerDocID(p.InfoHash, p.IP, p.Port)}}
	_, err := coll.UpdateOne(ctx, byID, update, options.UpdateOne().SetUpsert(true))
	if isDup(err) {
		_, err = coll.UpdateOne(ctx, filter, update)
	}
	if err != nil {
		return fmt.Errorf("record peer %s:%d of %s: %w", p.IP, p.Port, p.InfoHash, err)
	}
	return nil
}

// ReplacePeers deletes the tracker documents with the given _ids and then
// inserts docs, each with its ID set (PeerDocID): the batched form of
// UpsertPeer and DeletePeer for many peers, in two round trips whatever
// their number (on FerretDB's SQLite backend one scan of the collection
// instead of one per peer). Readers may see the peers missing between the
// two. A document that conflicts with one of the same peer inserted
// meanwhile (by another tracker) is stored with UpsertPeer instead.
func (s *Store) ReplacePeers(ctx context.Context, ids []ID, docs []TrackerPeer) error {
	coll := s.db.Collection(Tracker)
	if len(ids) > 0 {
		if _, err := coll.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}); err != nil {
			return fmt.Errorf("store %d peers: %w", len(docs), err)
		}
	}
	if len(docs) == 0 {
		return nil
	}
	batch := make([]any, len(docs))
	for i := range docs {
		d := docs[i]
		d.Updated = d.Updated.UTC()
		batch[i] = d
	}
	_, err := coll.InsertMany(ctx, batch, options.InsertMany().SetOrdered(false))
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) && bwe.WriteConcernError == nil {
		for _, we := range bwe.WriteErrors {
			if we.Index < 0 || we.Index >= len(docs) || !isDup(we) {
				return fmt.Errorf("store %d peers: %w", len(docs), err)
			}
			if err := s.UpsertPeer(ctx, docs[we.Index]); err != nil {
				return err
			}
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("store %d peers: %w", len(docs), err)
	}
	return nil
}

// PeersOf returns the peers of a torrent announced at or after since.
func (s *Store) PeersOf(ctx context.Context, infoHash string, since time.Time) ([]TrackerPeer, error) {
	var out []TrackerPeer
	err := s.find(ctx, Tracker, bson.D{
		{Key: "info_hash", Value: infoHash},
		{Key: "updated", Value: bson.D{{Key: "$gte", Value: since.UTC()}}},
	}, nil, &out)
	return out, err
}

// ServerPeers returns the peers of a torrent that announced with the server
// peer id (ServerPeerIDHex) and a port at or after since.
func (s *Store) ServerPeers(ctx context.Context, infoHash string, since time.Time) ([]TrackerPeer, error) {
	var out []TrackerPeer
	err := s.find(ctx, Tracker, bson.D{
		{Key: "info_hash", Value: infoHash},
		{Key: "peer_id", Value: ServerPeerIDHex},
		{Key: "port", Value: bson.D{{Key: "$ne", Value: 0}}},
		{Key: "updated", Value: bson.D{{Key: "$gte", Value: since.UTC()}}},
	}, nil, &out)
	return out, err
}

// DeletePeer forgets one peer of a torrent (it announced "stopped");
// forgetting a peer that is not recorded is not an error. The document is
// looked for by PeerDocID first, then by (info_hash, ip, port).
func (s *Store) DeletePeer(ctx context.Context, infoHash, ip string, port int) error {
	coll := s.db.Collection(Tracker)
	res, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: PeerDocID(infoHash, ip, port)}})
	if err == nil && res.DeletedCount == 0 {
		_, err = coll.DeleteOne(ctx, bson.D{
			{Key: "info_hash", Value: infoHash}, {Key: "ip", Value: ip}, {Key: "port", Value: port},
		})
	}
	if err != nil {
		return fmt.Errorf("forget peer %s:%d of %s: %w", ip, port, infoHash, err)
	}
	return nil
}

// ExpirePeers deletes every peer last updated before the given time and
// says how many went. It replaces 1.2's TTL index, which FerretDB lacks.
func (s *Store) ExpirePeers(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.Collection(Tracker).DeleteMany(ctx, bson.D{
		{Key: "updated", Value: bson.D{{Key: "$lt", Value: before.UTC()}}},
	})
	if err != nil {
		return 0, fmt.Errorf("expire tracker peers: %w", err)
	}
	return res.DeletedCount, nil
}

// LatestPeerByPeerID returns the most recently updated tracker document of
// a peer id (hex), for the download progress of `node show`; ErrNotFound
// when that peer never announced (or expired).
func (s *Store) LatestPeerByPeerID(ctx context.Context, peerIDHex string) (*TrackerPeer, error) {
	var p TrackerPeer
	opts := options.FindOne().SetSort(bson.D{{Key: "updated", Value: -1}})
	err := s.db.Collection(Tracker).FindOne(ctx, bson.D{{Key: "peer_id", Value: peerIDHex}}, opts).Decode(&p)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read tracker: %w", err)
	}
	return &p, nil
}

// ScrapeCount is what a scrape reports for one torrent.
type ScrapeCount struct {
	// Complete counts the seeders (left == 0) announced at or after since.
	Complete int
	// Incomplete counts the other peers announced at or after since.
	Incomplete int
	// Downloaded counts the recorded peers, of any age up to expiry,
	// whose last event was "completed". The tracker keeps no history, so
	// completions of peers that left or expired are not counted.
	Downloaded int
}

// ScrapeCounts returns the counts of the given torrents (hex info hashes),
// or of every torrent with a recorded peer when infoHashes is empty.
// Torrents asked for without any peer are absent from the result.
func (s *Store) ScrapeCounts(ctx context.Context, infoHashes []string, since time.Time) (map[string]ScrapeCount, error) {
	filter := bson.D{}
	if len(infoHashes) > 0 {
		filter = bson.D{{Key: "info_hash", Value: bson.D{{Key: "$in", Value: infoHashes}}}}
	}
	opts := options.Find().SetProjection(bson.D{
		{Key: "info_hash", Value: 1}, {Key: "updated", Value: 1}, {Key: "left", Value: 1}, {Key: "status", Value: 1},
	})
	cur, err := s.db.Collection(Tracker).Find(ctx, filter, opts)
	if err != nil {
		return nil, fmt.Errorf("read tracker: %w", err)
	}
	var docs []TrackerPeer
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("read tracker: %w", err)
	}
	out := map[string]ScrapeCount{}
	for _, d := range docs {
		c := out[d.InfoHash]
		if !d.Updated.Before(since) {
			if d.Left == 0 {
				c.Complete++
			} else {
				c.Incomplete++
			}
		}
		if d.Status == "completed" {
			c.Downloaded++
		}
		out[d.InfoHash] = c
	}
	return out, nil
}
