package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
)

// Network is an IPv4 or IPv6 network: a base address whose host bits are all
// zero and a prefix length. IPv4 prefixes are limited to 1..30 and IPv6
// prefixes to 1..126 so that every network has at least two usable
// addresses. Networks are values and are safe to copy and compare with ==.
//
// The zero Network is not a valid network; obtain one from [NewNetwork].
// Methods on the zero Network do not panic but report nothing contained and
// return errors where they can.
type Network struct {
	base   netip.Addr
	prefix int
}

var errIPVersion = errors.New("IP version should be 4 or 6")

// checkPrefix validates prefix for an address family (ipv4 or IPv6). The
// messages are fixed text that administrators search for.
func checkPrefix(ipv4 bool, prefix int) error {
	if ipv4 {
		if prefix < 1 || prefix > 30 {
			return errors.New("Prefix should be in the range [1..30]")
		}
		return nil
	}
	if prefix < 1 || prefix > 126 {
		return errors.New("Prefix should be in the range [1..126]")
	}
	return nil
}

// NewNetwork returns the network addr/prefix. The address family is detected
// from addr with [ParseAddr]; if addr is neither IPv4 nor IPv6 the error is
// exactly "IP version should be 4 or 6". The prefix must be in 1..30 for IPv4
// (error "Prefix should be in the range [1..30]") and in 1..126 for IPv6
// (error "Prefix should be in the range [1..126]"). Host bits of addr are
// cleared, so NewNetwork("10.30.4.1", 16) is 10.30.0.0/16.
func NewNetwork(addr string, prefix int) (Network, error) {
	a, err := ParseAddr(addr)
	if err != nil {
		return Network{}, errIPVersion
	}
	return newNetwork(a, prefix)
}

func newNetwork(a netip.Addr, prefix int) (Network, error) {
	if err := checkPrefix(a.Is4(), prefix); err != nil {
		return Network{}, err
	}
	n := Network{prefix: prefix}
	n.base = offsetAddr(addrOffset(a).and(hostMask(a.Is4(), prefix).not()), a.Is4())
	return n, nil
}

// hostMask returns the mask of the host bits of a network of the given
// family and prefix length.
func hostMask(ipv4 bool, prefix int) Offset {
	if ipv4 {
		return lowMask(32 - prefix)
	}
	return lowMask(128 - prefix)
}

func (n Network) valid() bool { return n.base.IsValid() }

func (n Network) hostMask() Offset { return hostMask(n.base.Is4(), n.prefix) }

// Base returns the network address (all host bits zero).
func (n Network) Base() netip.Addr { return n.base }

// Prefix returns the prefix length in bits.
func (n Network) Prefix() int { return n.prefix }

// Version returns 4 for an IPv4 network, 6 for an IPv6 network and 0 for
// the zero Network.
func (n Network) Version() int {
	switch {
	case n.base.Is4():
		return 4
	case n.base.Is6():
		return 6
	}
	return 0
}

// String returns the network in CIDR notation with the base formatted by
// [FormatAddr], for example "10.30.0.0/16" or "2001:db8::/32".
func (n Network) String() string {
	return FormatAddr(n.base) + "/" + strconv.Itoa(n.prefix)
}

// Netmask returns the network mask in address notation, for example
// "255.255.0.0" for an IPv4 /16 or "ffff:ffff:ffff:ffff::" for an IPv6 /64.
// It returns "" for the zero Network.
func (n Network) Netmask() string {
	if !n.valid() {
		return ""
	}
	return FormatAddr(offsetAddr(n.hostMask().not(), n.base.Is4()))
}

// MaxOffset returns the last usable offset, 2^(bits-prefix) - 2: the network
// address (offset 0) and the all-ones host address (the IPv4 broadcast
// address; Luna reserves it for IPv6 as well) are not usable. For example a
// /16 gives 65534, an IPv4 /30 gives 2 and an IPv6 /64 gives 2^64-2.
// The zero Network returns 0.
func (n Network) MaxOffset() Offset {
	if !n.valid() {
		return Offset{}
	}
	return n.hostMask().Sub(1)
}

// Contains reports whether a is in n: a must be of the same family (an
// IPv4-mapped IPv6 address is IPv6) and have the same leading prefix bits.
// Addresses with a zone are never contained, as with netip.Prefix.
func (n Network) Contains(a netip.Addr) bool {
	if !n.valid() || a.Zone() != "" || a.Is4() != n.base.Is4() || a.Is6() != n.base.Is6() {
		return false
	}
	return addrOffset(a).and(n.hostMask().not()) == addrOffset(n.base)
}

// OffsetOf returns the offset of a from the network base, a - base. Offsets 0
// (network address) and the all-ones host are returned too; see
// [Network.UsableOffsetOf]. If n does not contain a the error message is
// exactly "Network '<base>/<prefix>' does not contain '<a>'", for example
// "Network '10.30.0.0/16' does not contain '10.31.0.1'".
func (n Network) OffsetOf(a netip.Addr) (Offset, error) {
	if !n.Contains(a) {
		return Offset{}, fmt.Errorf("Network '%s' does not contain '%s'", n, addrText(a))
	}
	return addrOffset(a).and(n.hostMask()), nil
}

// UsableOffsetOf is like [Network.OffsetOf] but also refuses the two
// addresses that cannot be assigned to a host: the network address (offset
// 0), with an error such as "'10.30.0.0' is the network address of
// 10.30.0.0/16", and the all-ones host address (offsets above
// [Network.MaxOffset]), with an error such as "'10.30.255.255' is the
// broadcast address of 10.30.0.0/16" (the same wording is used for IPv6).
func (n Network) UsableOffsetOf(a netip.Addr) (Offset, error) {
	o, err := n.OffsetOf(a)
	if err != nil {
		return Offset{}, err
	}
	if o.IsZero() {
		return Offset{}, fmt.Errorf("'%s' is the network address of %s", addrText(a), n)
	}
	if o.Cmp(n.MaxOffset()) > 0 {
		return Offset{}, fmt.Errorf("'%s' is the broadcast address of %s", addrText(a), n)
	}
	return o, nil
}

// ParseUsable parses s with [ParseAddr] and returns its usable offset in n as
// [Network.UsableOffsetOf] does. Text that is not an address gives the
// "Cannot convert IP" error; an address of the other family gives the
// "does not contain" error.
func (n Network) ParseUsable(s string) (Offset, error) {
	a, err := ParseAddr(s)
	if err != nil {
		return Offset{}, err
	}
	return n.UsableOffsetOf(a)
}

// AddrAt returns the address at offset o, base + o. Every offset from 0 to
// the all-ones host (MaxOffset()+1) is accepted; larger offsets are beyond
// the network and give an error.
func (n Network) AddrAt(o Offset) (netip.Addr, error) {
	if !n.valid() {
		return netip.Addr{}, errors.New("invalid network")
	}
	hm := n.hostMask()
	if !o.and(hm.not()).IsZero() {
		return netip.Addr{}, fmt.Errorf("offset %s is beyond network %s", o, n)
	}
	return offsetAddr(addrOffset(n.base).or(o), n.base.Is4()), nil
}

// Overlaps reports whether n and m are of the same family and share at least
// one address. Since both are aligned prefixes, this means one contains the
// other.
func (n Network) Overlaps(m Network) bool {
	if !n.valid() || !m.valid() || n.base.Is4() != m.base.Is4() {
		return false
	}
	nFirst, mFirst := addrOffset(n.base), addrOffset(m.base)
	nLast, mLast := nFirst.or(n.hostMask()), mFirst.or(m.hostMask())
	return nFirst.Cmp(mLast) <= 0 && mFirst.Cmp(nLast) <= 0
}

// WithBase returns a network with the same prefix and a new base: addr with
// its host bits cleared. addr must parse with [ParseAddr] and be of the same
// family as n; otherwise the error is
// "Cannot convert IP '<addr>' to C format".
func (n Network) WithBase(addr string) (Network, error) {
	a, err := ParseAddr(addr)
	if err != nil {
		return Network{}, err
	}
	if !n.valid() || a.Is4() != n.base.Is4() {
		return Network{}, convertError(addr)
	}
	return newNetwork(a, n.prefix)
}

// WithPrefix returns a network with prefix p and the current base with the
// host bits for p cleared. p is validated as in [NewNetwork].
func (n Network) WithPrefix(p int) (Network, error) {
	if !n.valid() {
		return Network{}, errIPVersion
	}
	return newNetwork(n.base, p)
}
