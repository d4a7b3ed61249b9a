package store

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// A node's addresses are claims in the ipaddr collection: the unique index
// there is what keeps two owners off one address, and allocation works on
// them alone. Each node document also carries a copy of its own claims in
// the field addrs, written by luna when a change of claims has settled
// (luna's syncNodeClaims), so that reading nodes (node list, node show,
// lweb's boot snapshot) does not read the claims of every node. The copy is
// one string of space-separated IFACE/NETWORK/OFFSET tokens (interface id,
// network id in hex, offset key) rather than an array of subdocuments:
// FerretDB reads 10,000 such nodes in half the time (docs/BENCHMARKS.md).

// EncodeNodeAddrs is the addrs copy of a node's claims, in a canonical order.
func EncodeNodeAddrs(addrs []Address) string {
	toks := make([]string, len(addrs))
	for i, a := range addrs {
		toks[i] = a.Iface + "/" + a.Network.Hex() + "/" + a.Offset
	}
	sort.Strings(toks)
	return strings.Join(toks, " ")
}

// NodeAddrs returns the addresses of a node document's addrs copy, as
// claims of kind node owned by the node (without claim ids).
func NodeAddrs(nd *Node) []Address {
	if nd.Addrs == "" {
		return nil
	}
	toks := strings.Fields(nd.Addrs)
	out := make([]Address, 0, len(toks))
	for _, t := range toks {
		parts := strings.Split(t, "/")
		if len(parts) != 3 {
			continue
		}
		net, err := bson.ObjectIDFromHex(parts[1])
		if err != nil {
			continue
		}
		out = append(out, Address{Network: net, Offset: parts[2], Kind: KindNode, Owner: nd.ID, Iface: parts[0]})
	}
	return out
}

// SetNodeAddrs writes the addrs copies of many nodes in one round trip ("" removes it).
func (s *Store) SetNodeAddrs(ctx context.Context, copies map[ID]string) error {
	if len(copies) == 0 {
		return nil
	}
	models := make([]mongo.WriteModel, 0, len(copies))
	for id, v := range copies {
		upd := bson.M{"$set": bson.M{"addrs": v}}
		if v == "" {
			upd = bson.M{"$unset": bson.M{"addrs": ""}}
		}
		models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": id}).SetUpdate(upd))
	}
	if err := s.bulkUpdate(ctx, Nodes, models); err != nil {
		return fmt.Errorf("store node addresses: %w", err)
	}
	return s.touch(ctx, Nodes)
}

// rebuildNodeAddrs writes every node's addrs copy from the claims (the
// upgrade from schema version 1, which had no copies).
func (s *Store) rebuildNodeAddrs(ctx context.Context) error {
	claims, err := s.FindAddresses(ctx, AddressFilter{Kind: KindNode})
	if err != nil {
		return err
	}
	var nodes []Node
	if err := s.List(ctx, Nodes, &nodes); err != nil {
		return err
	}
	of := map[ID][]Address{}
	for _, a := range claims {
		of[a.Owner] = append(of[a.Owner], a)
	}
	copies := map[ID]string{}
	for _, nd := range nodes {
		if v := EncodeNodeAddrs(of[nd.ID]); v != nd.Addrs {
			copies[nd.ID] = v
		}
	}
	return s.SetNodeAddrs(ctx, copies)
}
