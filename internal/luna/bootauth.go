package luna

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"

	"github.com/clustervision/luna-go/internal/store"
)

// Who may act for a node during its boot (docs/lweb.md, "Boot identity").
//
// A node's boot identity is its MAC (bound by the administrator, or by the
// first discovery that names or finds it), its own addresses (every address
// it holds in the database; its BOOTIF address is the one its initrd uses),
// and the token lweb puts on the kernel command line of its current boot,
// with the address that token was handed to. Anyone on the provisioning
// network can claim a MAC, so a MAC alone never hands out a token:
//
//   - a discovery gets a boot token (and sets the node's status) only when
//     it comes from the node itself (one of its addresses, or the address
//     its current token went to), or it bound the node's first MAC (its
//     first boot: trust on first use), or the cluster allows rebinding
//     (allow_rebind) or runs open (insecure_install); otherwise it gets the
//     boot script without a token and the status stays;
//   - the install script (it carries the BMC password) and status reports
//     are accepted only from the node itself or with its current token;
//   - a discovery never moves a MAC from one node to another, or gives a
//     node that has a MAC another one, unless it comes from that node or
//     the cluster allows rebinding.
//
// A Luna 1.2 initrd sends no token: with a static BOOTIF address it asks
// from the node's own address, and with DHCP from the address its
// discovery came from, which is where its token went.

// BootIdentity is what identifies a node's boot to lweb.
type BootIdentity struct {
	Addrs     []string // the node's own addresses, as text
	Token     string   // the token of its current boot ("" = none)
	TokenAddr string   // the address that token was handed to
}

// FromNode says whether a request from client comes from the node: from
// one of its addresses or from the address its current token went to.
func (b *BootIdentity) FromNode(client string) bool {
	return client != "" && (slices.Contains(b.Addrs, client) || (b.Token != "" && client == b.TokenAddr))
}

// MayAct says whether a request may fetch the node's install script or
// report its status: it comes from the node or carries its current token.
func (b *BootIdentity) MayAct(client, token string) bool {
	if b.FromNode(client) {
		return true
	}
	return token != "" && b.Token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(b.Token)) == 1
}

// MayHandToken says whether a discovery of the node from client gets a
// boot token and sets the node's status; firstBinding says that the
// discovery bound the node's first MAC.
func (b *BootIdentity) MayHandToken(c *store.Cluster, client string, firstBinding bool) bool {
	return firstBinding || c.AllowRebind || c.InsecureInstall || b.FromNode(client)
}

// ErrRebindRefused is returned by Discover when a discovery would give a
// node that has a MAC another one, or take a MAC from another node, and
// neither comes from that node nor is allowed by the cluster (allow_rebind).
var ErrRebindRefused = errors.New("rebinding refused")

// BootState returns the token of a node's current boot and the address it
// was handed to ("" when none was).
func (s *Service) BootState(ctx context.Context, id store.ID) (token, addr string, err error) {
	var st store.NodeState
	err = s.st.GetByID(ctx, store.States, id, &st)
	if errors.Is(err, store.ErrNotFound) {
		return "", "", nil
	}
	return st.Token, st.TokenAddr, err
}

// bootIdentity reads a node's boot identity from the store.
func (s *Service) bootIdentity(ctx context.Context, nd *store.Node) (*BootIdentity, error) {
	nets, err := s.networksByID(ctx)
	if err != nil {
		return nil, err
	}
	b := &BootIdentity{Addrs: addressTexts(nets, store.NodeAddrs(nd))}
	if b.Token, b.TokenAddr, err = s.BootState(ctx, nd.ID); err != nil {
		return nil, err
	}
	return b, nil
}

// mayBind checks that a discovery from client may bind mac to nd: binding
// is free for a node without a MAC and a MAC nobody holds; a change of
// either needs the request to come from nd or the cluster's allow_rebind.
// It says whether nd had a MAC before.
func (s *Service) mayBind(ctx context.Context, c *store.Cluster, nd *store.Node, mac, client string) (hadMAC bool, err error) {
	cur, err := s.st.MACsOf(ctx, []store.ID{nd.ID})
	if err != nil {
		return false, err
	}
	hadMAC = len(cur) > 0
	if hadMAC && cur[0].MAC == mac {
		return true, nil
	}
	owners, err := s.st.MACsByAddress(ctx, []string{mac})
	if err != nil {
		return hadMAC, err
	}
	if (!hadMAC && len(owners) == 0) || c.AllowRebind {
		return hadMAC, nil
	}
	id, err := s.bootIdentity(ctx, nd)
	if err != nil {
		return hadMAC, err
	}
	if id.FromNode(client) {
		return hadMAC, nil
	}
	if hadMAC {
		return true, fmt.Errorf("%w: node %s already has MAC %s, and the discovery claiming %s for it comes from %s, not from the node (luna node change %s --mac %s, or luna cluster change --allow_rebind y)",
			ErrRebindRefused, nd.Name, cur[0].MAC, mac, client, nd.Name, mac)
	}
	other := owners[0].Node.Hex()
	var o store.Node
	if s.st.GetByID(ctx, store.Nodes, owners[0].Node, &o) == nil {
		other = o.Name
	}
	return false, fmt.Errorf("%w: MAC %s belongs to node %s; a discovery from %s cannot give it to node %s (luna node change %s --mac %s, or luna cluster change --allow_rebind y)",
		ErrRebindRefused, mac, other, client, nd.Name, nd.Name, mac)
}
