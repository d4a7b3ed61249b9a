package luna

import (
	"context"
	"errors"
	"sort"

	"github.com/clustervision/luna-go/internal/store"
)

// AddOtherDevs creates other devices attached to one network with one address.
func (s *Service) AddOtherDevs(ctx context.Context, names []string, network, ip string) error {
	for _, n := range names {
		if err := ValidateName(HostName, n); err != nil {
			return err
		}
	}
	if ip == "" {
		return Errorf("IP needs to be specified")
	}
	if len(names) > 1 {
		return Errorf("One --ip cannot be given to %d devices: add them one by one", len(names))
	}
	if err := s.Guard(ctx); err != nil {
		return err
	}
	net, err := s.Network(ctx, network)
	if err != nil {
		return err
	}
	off, err := parseIn(net, ip)
	if err != nil {
		return err
	}
	d := store.OtherDev{ID: store.NewID(), Name: names[0]}
	d.Addrs = store.EncodeDevAddrs([]store.Address{{Network: net.ID, Offset: off.Key()}})
	if err := s.insert(ctx, store.OtherDevs, d.Name, d); err != nil {
		return err
	}
	if err := s.claimAt(ctx, net, off, store.KindOtherDev, d.ID, ""); err != nil {
		var taken *AddressError
		if !errors.As(err, &taken) {
			err = Errorf("Unable to allocate IP in network: %s", err.Error())
		}
		return s.undo(ctx, err, "otherdev '"+d.Name+"'",
			func(ctx context.Context) error { return s.st.Delete(ctx, store.OtherDevs, d.ID) })
	}
	return nil
}

// OtherDev loads an other device by name.
func (s *Service) OtherDev(ctx context.Context, name string) (*store.OtherDev, error) {
	var d store.OtherDev
	if err := s.load(ctx, store.OtherDevs, name, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// ChangeOtherDev attaches the device to a network with an address, moves its
// address in a network it is attached to, or (ip "") detaches it.
// It holds the object's lock while it works (see locked).
func (s *Service) ChangeOtherDev(ctx context.Context, name string, network, ip, comment *string) error {
	return s.locked(ctx, store.OtherDevs, name, func(ctx context.Context, id store.ID) error {
		return s.changeOtherDev(ctx, id, name, network, ip, comment)
	})
}

func (s *Service) changeOtherDev(ctx context.Context, id store.ID, name string, network, ip, comment *string) error {
	if ip != nil && network == nil {
		return Failf("Network needs to be specified")
	}
	if err := s.Guard(ctx); err != nil {
		return err
	}
	d := &store.OtherDev{}
	if err := s.byID(ctx, store.OtherDevs, id, name, d); err != nil {
		return err
	}
	if ip != nil {
		net, err := s.Network(ctx, *network)
		if err != nil {
			return err
		}
		old, err := s.st.FindAddresses(ctx, store.AddressFilter{Owner: &d.ID, Network: &net.ID, Kind: store.KindOtherDev})
		if err != nil {
			return err
		}
		var undo undoList
		// The copy of the device's claims: those in other networks as
		// stored, the one in this network as it will be.
		var keep []store.Address
		for _, a := range store.OtherDevAddrs(d) {
			if a.Network != net.ID {
				keep = append(keep, a)
			}
		}
		if *ip == "" {
			if len(old) == 0 {
				return Failf("Device '%s' is not attached to network '%s'", d.Name, net.Name)
			}
		} else {
			off, err := parseIn(net, *ip)
			if err != nil {
				return err
			}
			keep = append(keep, store.Address{Network: net.ID, Offset: off.Key()})
			if len(old) == 1 && old[0].Offset == off.Key() {
				old = nil
			} else {
				if err := s.claimAt(ctx, net, off, store.KindOtherDev, d.ID, ""); err != nil {
					return err
				}
				undo.add("the new address of device '"+d.Name+"'", func(ctx context.Context) error { return s.unclaim(ctx, net, off, d.ID) })
			}
		}
		// Written before the old claim goes, as a node's copy is.
		if err := s.st.Set(ctx, store.OtherDevs, d.ID, map[string]any{"addrs": store.EncodeDevAddrs(keep)}); err != nil {
			return undo.run(ctx, s, err)
		}
		for _, a := range old {
			if err := s.st.DeleteAddress(ctx, a.ID); err != nil {
				return err
			}
		}
	}
	if comment != nil {
		return s.st.Set(ctx, store.OtherDevs, d.ID, map[string]any{"comment": *comment})
	}
	return nil
}

// DeleteOtherDev removes a device and releases its addresses.
func (s *Service) DeleteOtherDev(ctx context.Context, name string) error {
	if err := s.Guard(ctx); err != nil {
		return err
	}
	d, err := s.OtherDev(ctx, name)
	if err != nil {
		return err
	}
	if err := s.st.Delete(ctx, store.OtherDevs, d.ID); err != nil {
		return err
	}
	_, err = s.st.DeleteAddresses(ctx, store.AddressFilter{Owner: &d.ID})
	return err
}

// Connection is one network an other device is attached to.
type Connection struct {
	Network string `json:"network"`
	IP      string `json:"ip"`
}

// OtherDevView is an other device as shown (and in -o json).
type OtherDevView struct {
	Name      string       `json:"name"`
	Connected []Connection `json:"connected"`
	Comment   string       `json:"comment"`
}

// OtherDevViews returns the named devices (all when names is empty).
func (s *Service) OtherDevViews(ctx context.Context, names ...string) ([]OtherDevView, error) {
	var devs []store.OtherDev
	if len(names) == 0 {
		if err := s.st.List(ctx, store.OtherDevs, &devs); err != nil {
			return nil, err
		}
	} else {
		for _, n := range names {
			d, err := s.OtherDev(ctx, n)
			if err != nil {
				return nil, err
			}
			devs = append(devs, *d)
		}
	}
	nets, err := s.networksByID(ctx)
	if err != nil {
		return nil, err
	}
	addrs, err := s.st.FindAddresses(ctx, store.AddressFilter{Kind: store.KindOtherDev})
	if err != nil {
		return nil, err
	}
	conns := map[store.ID][]Connection{}
	for _, a := range addrs {
		if n, ok := nets[a.Network]; ok {
			conns[a.Owner] = append(conns[a.Owner], Connection{Network: n.Name, IP: addressText(n, a.Offset)})
		}
	}
	out := make([]OtherDevView, 0, len(devs))
	for _, d := range devs {
		c := conns[d.ID]
		if c == nil {
			c = []Connection{}
		}
		sort.Slice(c, func(i, j int) bool { return c[i].Network < c[j].Network })
		out = append(out, OtherDevView{Name: d.Name, Connected: c, Comment: d.Comment})
	}
	return out, nil
}
