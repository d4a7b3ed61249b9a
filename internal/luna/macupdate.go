package luna

import (
	"context"

	"github.com/clustervision/luna-go/internal/store"
)

// SwitchTarget is what the MAC updater needs to read one switch's
// forwarding table over SNMP.
type SwitchTarget struct {
	ID        store.ID
	Name      string
	IP        string // address text; empty when the switch has no usable address
	Community string // SNMP v2c read community
	OID       string // the forwarding table's port column, as stored
}

// SwitchTargets returns every switch, sorted by name, with its address
// taken from its claim in its network.
func (s *Service) SwitchTargets(ctx context.Context) ([]SwitchTarget, error) {
	var sws []store.Switch
	if err := s.st.List(ctx, store.Switches, &sws); err != nil {
		return nil, err
	}
	if len(sws) == 0 {
		return nil, nil
	}
	nets, err := s.networksByID(ctx)
	if err != nil {
		return nil, err
	}
	ipOf, err := s.switchAddresses(ctx, nets)
	if err != nil {
		return nil, err
	}
	out := make([]SwitchTarget, 0, len(sws))
	for _, sw := range sws {
		ip := ipOf[sw.ID]
		if ip == "?" {
			ip = "" // an address that does not fit its network: not usable
		}
		out = append(out, SwitchTarget{ID: sw.ID, Name: sw.Name, IP: ip, Community: sw.Read, OID: sw.OID})
	}
	return out, nil
}

// IsActive reports whether this machine is the active master: always
// without HA (cluster_ips or frontend_address empty), otherwise when it
// holds the floating frontend address. Daemons ask it before each round of
// work; Guard applies the same rule to changes.
func (s *Service) IsActive(ctx context.Context) (bool, error) {
	c, err := s.Cluster(ctx)
	if err != nil {
		return false, err
	}
	return c.ClusterIPs == "" || c.FrontendAddress == "" || s.IsLocalIP(c.FrontendAddress), nil
}
