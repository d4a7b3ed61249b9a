package luna

import (
	"context"
	"errors"
	"fmt"

	"github.com/clustervision/luna-go/internal/ipam"
	"github.com/clustervision/luna-go/internal/store"
)

// DefaultSwitchOID is the Q-BRIDGE forwarding table (dot1qTpFdbPort).
const DefaultSwitchOID = ".1.3.6.1.2.1.17.7.1.2.2.1.2"

// SwitchOpts are the options of `luna switch add|change`; nil = not given.
type SwitchOpts struct {
	Network *string
	IP      *string
	Read    *string
	RW      *string
	OID     *string
	Comment *string
}

func (o SwitchOpts) fields() (map[string]any, error) {
	set := map[string]any{}
	if o.Read != nil {
		if err := ValidateWord("SNMP read community", *o.Read); err != nil {
			return nil, err
		}
		set["read"] = *o.Read
	}
	if o.RW != nil {
		if err := ValidateWord("SNMP write community", *o.RW); err != nil {
			return nil, err
		}
		set["rw"] = *o.RW
	}
	if o.OID != nil {
		if err := ValidateOID(*o.OID); err != nil {
			return nil, err
		}
		set["oid"] = *o.OID
	}
	if o.Comment != nil {
		set["comment"] = *o.Comment
	}
	return set, nil
}

// AddSwitches creates switches. Every name gets its own address, so a
// hostlist with one --ip is refused before anything is stored.
func (s *Service) AddSwitches(ctx context.Context, names []string, o SwitchOpts) error {
	for _, n := range names {
		if err := ValidateName(HostName, n); err != nil {
			return err
		}
	}
	if len(names) > 1 && o.IP != nil {
		return Errorf("One --ip cannot be given to %d switches: add them one by one", len(names))
	}
	set, err := o.fields()
	if err != nil {
		return err
	}
	if o.Network == nil || o.IP == nil {
		return Errorf("Network and IP need to be specified")
	}
	if err := s.Guard(ctx); err != nil {
		return err
	}
	net, err := s.Network(ctx, *o.Network)
	if err != nil {
		return err
	}
	off, err := parseIn(net, *o.IP)
	if err != nil {
		return err
	}
	sw := store.Switch{ID: store.NewID(), Name: names[0], Network: net.ID, Offset: off.Key(), Read: "public", RW: "private", OID: DefaultSwitchOID}
	if v, ok := set["read"]; ok {
		sw.Read = v.(string)
	}
	if v, ok := set["rw"]; ok {
		sw.RW = v.(string)
	}
	if v, ok := set["oid"]; ok {
		sw.OID = v.(string)
	}
	if err := s.insert(ctx, store.Switches, sw.Name, sw); err != nil {
		return err
	}
	if err := s.claimAt(ctx, net, off, store.KindSwitch, sw.ID, ""); err != nil {
		var taken *AddressError
		if !errors.As(err, &taken) {
			err = Errorf("Could not acquire ip for switch: %s", err.Error())
		}
		return s.undo(ctx, err, "switch '"+sw.Name+"'",
			func(ctx context.Context) error { return s.st.Delete(ctx, store.Switches, sw.ID) })
	}
	return nil
}

// Switch loads a switch by name.
func (s *Service) Switch(ctx context.Context, name string) (*store.Switch, error) {
	var sw store.Switch
	if err := s.load(ctx, store.Switches, name, &sw); err != nil {
		return nil, err
	}
	return &sw, nil
}

// ChangeSwitch applies the options: the network first, then the address in
// it. The new address is claimed before the old one is released, so a
// failure leaves the switch as it was.
// It holds the object's lock while it works (see locked).
func (s *Service) ChangeSwitch(ctx context.Context, name string, o SwitchOpts) error {
	return s.locked(ctx, store.Switches, name, func(ctx context.Context, id store.ID) error { return s.changeSwitch(ctx, id, name, o) })
}

func (s *Service) changeSwitch(ctx context.Context, id store.ID, name string, o SwitchOpts) error {
	set, err := o.fields()
	if err != nil {
		return err
	}
	if err := s.Guard(ctx); err != nil {
		return err
	}
	sw := &store.Switch{}
	if err := s.byID(ctx, store.Switches, id, name, sw); err != nil {
		return err
	}
	var old []store.Address
	var undo undoList
	if o.Network != nil || o.IP != nil {
		if old, err = s.st.FindAddresses(ctx, store.AddressFilter{Owner: &sw.ID, Kind: store.KindSwitch}); err != nil {
			return err
		}
		var oldNet store.Network
		if err := s.st.GetByID(ctx, store.Networks, sw.Network, &oldNet); err != nil {
			return err
		}
		net := &oldNet
		if o.Network != nil {
			if net, err = s.Network(ctx, *o.Network); err != nil {
				return err
			}
		}
		var off ipam.Offset
		switch {
		case o.IP != nil:
			if off, err = parseIn(net, *o.IP); err != nil {
				return err
			}
		case len(old) == 1:
			// Same offset in the new network, as 1.2 did.
			if off, err = ipam.ParseKey(old[0].Offset); err != nil {
				return err
			}
			if sub, _ := subnet(net); off.Cmp(sub.MaxOffset()) > 0 {
				return Failf("Network '%s' is too small for the offset of the switch's address", net.Name)
			}
		}
		if len(old) == 1 && old[0].Network == net.ID && old[0].Offset == off.Key() {
			old = nil // unchanged
		} else {
			if err := s.claimAt(ctx, net, off, store.KindSwitch, sw.ID, ""); err != nil {
				return err
			}
			set["network"] = net.ID
			set["offset"] = off.Key() // the copy (store.DevAddrs)
			undo.add("the new address of switch '"+sw.Name+"'", func(ctx context.Context) error { return s.unclaim(ctx, net, off, sw.ID) })
		}
	}
	if err := s.st.Set(ctx, store.Switches, sw.ID, set); err != nil {
		return undo.run(ctx, s, err)
	}
	for _, a := range old {
		if err := s.st.DeleteAddress(ctx, a.ID); err != nil {
			return fmt.Errorf("switch '%s' changed, but its old address could not be released: %w", sw.Name, err)
		}
	}
	return nil
}

// DeleteSwitch removes a switch no node refers to and releases its address.
func (s *Service) DeleteSwitch(ctx context.Context, name string) error {
	if err := s.Guard(ctx); err != nil {
		return err
	}
	sw, err := s.Switch(ctx, name)
	if err != nil {
		return err
	}
	if err := s.deleteUnused(ctx, store.Switches, sw.Name, sw.ID, sw); err != nil {
		return err
	}
	_, err = s.st.DeleteAddresses(ctx, store.AddressFilter{Owner: &sw.ID})
	return err
}

// SwitchView is a switch as shown (and in -o json).
type SwitchView struct {
	Name    string `json:"name"`
	IP      string `json:"ip"`
	Network string `json:"network"`
	OID     string `json:"oid"`
	Read    string `json:"read"`
	RW      string `json:"rw"`
	Comment string `json:"comment"`
}

// SwitchViews returns the named switches (all when names is empty).
func (s *Service) SwitchViews(ctx context.Context, names ...string) ([]SwitchView, error) {
	var sws []store.Switch
	if len(names) == 0 {
		if err := s.st.List(ctx, store.Switches, &sws); err != nil {
			return nil, err
		}
	} else {
		for _, n := range names {
			sw, err := s.Switch(ctx, n)
			if err != nil {
				return nil, err
			}
			sws = append(sws, *sw)
		}
	}
	nets, err := s.networksByID(ctx)
	if err != nil {
		return nil, err
	}
	ipOf, err := s.switchAddresses(ctx, nets)
	if err != nil {
		return nil, err
	}
	out := make([]SwitchView, 0, len(sws))
	for _, sw := range sws {
		v := SwitchView{Name: sw.Name, IP: ipOf[sw.ID], OID: sw.OID, Read: sw.Read, RW: sw.RW, Comment: sw.Comment}
		if n, ok := nets[sw.Network]; ok {
			v.Network = n.Name
		}
		out = append(out, v)
	}
	return out, nil
}

// networksByID loads every network, keyed by id.
func (s *Service) networksByID(ctx context.Context) (map[store.ID]*store.Network, error) {
	var nets []store.Network
	if err := s.st.List(ctx, store.Networks, &nets); err != nil {
		return nil, err
	}
	m := make(map[store.ID]*store.Network, len(nets))
	for i := range nets {
		m[nets[i].ID] = &nets[i]
	}
	return m, nil
}
