package store

import (
	"bytes"
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

// The claims of switches, other devices and name servers are copied the
// same way onto their own documents, so that makedns finds them without
// reading the claims of every node (on FerretDB a query on kind reads every
// claim): a switch's offset in its network (Switch.Offset), a network's
// name server offset (Network.NSOffset) and an other device's addresses
// (OtherDev.Addrs, space-separated NETWORK/OFFSET tokens). luna writes them
// with the change that claims the address, before the old claim is
// released; DevAddrs reads them.

// EncodeDevAddrs is the OtherDev.Addrs copy of a device's claims, in a
// canonical order.
func EncodeDevAddrs(addrs []Address) string {
	toks := make([]string, len(addrs))
	for i, a := range addrs {
		toks[i] = a.Network.Hex() + "/" + a.Offset
	}
	sort.Strings(toks)
	return strings.Join(toks, " ")
}

// OtherDevAddrs returns the addresses of an other device's addrs copy, as
// claims of kind otherdev owned by the device (without claim ids).
func OtherDevAddrs(d *OtherDev) []Address {
	toks := strings.Fields(d.Addrs)
	out := make([]Address, 0, len(toks))
	for _, t := range toks {
		netHex, off, ok := strings.Cut(t, "/")
		if !ok {
			continue
		}
		net, err := bson.ObjectIDFromHex(netHex)
		if err != nil {
			continue
		}
		out = append(out, Address{Network: net, Offset: off, Kind: KindOtherDev, Owner: d.ID})
	}
	return out
}

// DevAddrs returns the claims of switches, other devices and name servers
// from the copies on their documents, ordered by network and offset (what
// FindAddresses with those kinds returns, without the claim ids), and the
// names of the switches and devices by id.
func (s *Store) DevAddrs(ctx context.Context) ([]Address, map[ID]string, error) {
	var (
		nets []Network
		sws  []Switch
		devs []OtherDev
	)
	for _, l := range []struct {
		coll string
		out  any
	}{{Networks, &nets}, {Switches, &sws}, {OtherDevs, &devs}} {
		if err := s.List(ctx, l.coll, l.out); err != nil {
			return nil, nil, err
		}
	}
	names := make(map[ID]string, len(sws)+len(devs))
	var out []Address
	for _, n := range nets {
		if n.NSOffset != "" {
			out = append(out, Address{Network: n.ID, Offset: n.NSOffset, Kind: KindNameServer, Owner: n.ID})
		}
	}
	for _, sw := range sws {
		names[sw.ID] = sw.Name
		if sw.Offset != "" {
			out = append(out, Address{Network: sw.Network, Offset: sw.Offset, Kind: KindSwitch, Owner: sw.ID})
		}
	}
	for i := range devs {
		names[devs[i].ID] = devs[i].Name
		out = append(out, OtherDevAddrs(&devs[i])...)
	}
	sort.Slice(out, func(i, j int) bool {
		if c := bytes.Compare(out[i].Network[:], out[j].Network[:]); c != 0 {
			return c < 0
		}
		return out[i].Offset < out[j].Offset
	})
	return out, names, nil
}

// rebuildDevAddrs writes the copies of the claims of every switch, other
// device and name server (the upgrade from schema version 3, which had none).
func (s *Store) rebuildDevAddrs(ctx context.Context) error {
	claims, err := s.FindAddresses(ctx, AddressFilter{Kinds: []string{KindSwitch, KindOtherDev, KindNameServer}})
	if err != nil {
		return err
	}
	var sws []Switch
	if err := s.List(ctx, Switches, &sws); err != nil {
		return err
	}
	swNet := map[ID]ID{}
	for _, sw := range sws {
		swNet[sw.ID] = sw.Network
	}
	devs := map[ID][]Address{}
	var nsModels, swModels, devModels []mongo.WriteModel
	set := func(id ID, field, v string) mongo.WriteModel {
		return mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": id}).SetUpdate(bson.M{"$set": bson.M{field: v}})
	}
	for _, a := range claims {
		switch a.Kind {
		case KindNameServer:
			nsModels = append(nsModels, set(a.Owner, "ns_offset", a.Offset))
		case KindSwitch:
			if n, ok := swNet[a.Owner]; ok && n == a.Network {
				swModels = append(swModels, set(a.Owner, "offset", a.Offset))
			}
		case KindOtherDev:
			devs[a.Owner] = append(devs[a.Owner], a)
		}
	}
	for id, addrs := range devs {
		devModels = append(devModels, set(id, "addrs", EncodeDevAddrs(addrs)))
	}
	for _, u := range []struct {
		coll   string
		models []mongo.WriteModel
	}{{Networks, nsModels}, {Switches, swModels}, {OtherDevs, devModels}} {
		if len(u.models) == 0 {
			continue
		}
		if err := s.bulkUpdate(ctx, u.coll, u.models); err != nil {
			return err
		}
		if err := s.touch(ctx, u.coll); err != nil {
			return err
		}
	}
	return nil
}
