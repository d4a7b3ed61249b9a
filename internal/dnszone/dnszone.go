// Package dnszone builds the BIND zone files and the named include file of
// `luna cluster makedns` with github.com/miekg/dns: a forward zone per
// network and the reverse zones that cover each network exactly.
//
// Reverse zones are delegated on octet (IPv4) or nibble (IPv6) boundaries.
// A network whose prefix is not such a boundary is covered by every zone of
// the next longer boundary inside it (a /19 by 32 /24 zones, a /62 by 4 /64
// zones), so no zone claims addresses of a neighbouring network; a network
// smaller than the longest zone (an IPv4 /25, an IPv6 /126) gets the zone
// of its /24 (/124), shared with the networks next to it. Zones of the
// same name from several networks are merged.
package dnszone

import (
	"bytes"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"sort"
	"strings"

	"github.com/miekg/dns"

	"github.com/clustervision/luna-go/internal/luna"
)

// TTL and the SOA timers, as Luna 1.2's zones.
const (
	TTL     = 604800
	Refresh = 86400
	Retry   = 14400
	Expire  = 3628800
	MinTTL  = 604800
)

// FileSuffix ends the name of every zone file makedns writes; files with it
// in the zone directory that no zone needs any more are removed.
const FileSuffix = ".luna.zone"

// Zone is one zone file.
type Zone struct {
	Name    string // without the trailing dot
	File    string // <name>.luna.zone
	Reverse bool
	ns      string // the name server, FQDN
	records []dns.RR
	include string
	ptrs    []ptrAt // reverse records while building, sorted into records

	underscore bool
	body       []byte // the records after the SOA, rendered once
}

// Underscore reports whether a name in the zone has a '_' (a network named
// tight_net, as 1.2 allowed): named's default check-names refuses such host
// names, so the include file relaxes it for this zone.
func (z *Zone) Underscore() bool { return z.underscore }

type ptrAt struct {
	ip netip.Addr
	rr dns.RR
}

// Records are the zone's records after the SOA (a copy).
func (z *Zone) Records() []dns.RR { return append([]dns.RR(nil), z.records...) }

// Text is the zone file with the given SOA serial.
func (z *Zone) Text(serial uint32) []byte {
	origin := dns.Fqdn(z.Name)
	var b bytes.Buffer
	fmt.Fprintf(&b, "; zone %s, written by `luna cluster makedns`: changes are lost at the next run\n", z.Name)
	fmt.Fprintf(&b, "$TTL %d\n$ORIGIN %s\n", TTL, origin)
	soa := &dns.SOA{Hdr: dns.RR_Header{Name: origin, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: TTL},
		Ns: z.ns, Mbox: "root." + z.ns, Serial: serial, Refresh: Refresh, Retry: Retry, Expire: Expire, Minttl: MinTTL}
	b.WriteString(soa.String())
	b.WriteByte('\n')
	if z.body == nil {
		var body bytes.Buffer
		for _, rr := range z.records {
			body.WriteString(rr.String())
			body.WriteByte('\n')
		}
		body.WriteString("; custom include:\n")
		if z.include != "" {
			body.WriteString(strings.TrimRight(z.include, "\n"))
			body.WriteByte('\n')
		}
		z.body = body.Bytes()
	}
	b.Write(z.body)
	return b.Bytes()
}

// check parses the include text (the administrator's, it may be anything;
// the other records are built as records) and refuses records outside the
// zone.
func (z *Zone) check() error {
	origin := dns.Fqdn(z.Name)
	text := fmt.Sprintf("$TTL %d\n$ORIGIN %s\n%s\n", TTL, origin, z.include)
	zp := dns.NewZoneParser(strings.NewReader(text), origin, z.File)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		if !dns.IsSubDomain(origin, rr.Header().Name) {
			return fmt.Errorf("zone %s: record %s is outside the zone", z.Name, rr.Header().Name)
		}
	}
	if err := zp.Err(); err != nil {
		return fmt.Errorf("zone %s (check the network's include or rev_include): %w", z.Name, err)
	}
	return nil
}

func header(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: TTL}
}

func addrRR(name string, ip netip.Addr) dns.RR {
	if ip.Is4() {
		return &dns.A{Hdr: header(name, dns.TypeA), A: ip.AsSlice()}
	}
	return &dns.AAAA{Hdr: header(name, dns.TypeAAAA), AAAA: ip.AsSlice()}
}

// Build makes the forward zones (IPv4 networks first, then IPv6, by name)
// and the reverse zones (in-addr.arpa, then ip6.arpa, by address).
func Build(cfg *luna.DNSConfig) ([]*Zone, error) {
	var fwd4, fwd6 []*Zone
	rev := map[string]*Zone{}
	var revKeys []revKey
	for i := range cfg.Networks {
		n := &cfg.Networks[i]
		origin := dns.Fqdn(n.Name)
		if _, ok := dns.IsDomainName(origin); !ok {
			return nil, fmt.Errorf("network name %q is not a domain name", n.Name)
		}
		ns := dns.Fqdn(n.NSHostname + "." + n.Name)
		if _, ok := dns.IsDomainName(ns); !ok || n.NSHostname == "" {
			return nil, fmt.Errorf("network %s: name server host name %q is not a host name", n.Name, n.NSHostname)
		}
		z := &Zone{Name: n.Name, File: n.Name + FileSuffix, ns: ns, include: n.Include}
		z.records = append(z.records, &dns.NS{Hdr: header(origin, dns.TypeNS), Ns: ns})
		if n.NSIP.IsValid() {
			z.records = append(z.records, addrRR(origin, n.NSIP))
		}
		for _, h := range n.Hosts {
			z.records = append(z.records, addrRR(dns.Fqdn(h.Name+"."+n.Name), h.IP))
		}
		if n.Base.Is4() {
			fwd4 = append(fwd4, z)
		} else {
			fwd6 = append(fwd6, z)
		}
		zones, longest := reverseZones(n.Base, n.Prefix)
		for _, zk := range zones {
			rz, ok := rev[zk.name]
			if !ok {
				rz = &Zone{Name: zk.name, File: zk.name + FileSuffix, Reverse: true, ns: ns}
				rz.records = append(rz.records, &dns.NS{Hdr: header(dns.Fqdn(zk.name), dns.TypeNS), Ns: ns})
				rev[zk.name] = rz
				revKeys = append(revKeys, zk)
			}
			if n.RevInclude != "" {
				if rz.include != "" {
					rz.include += "\n"
				}
				rz.include += strings.TrimRight(n.RevInclude, "\n")
			}
		}
		for _, h := range n.Hosts {
			name := reverseZoneName(h.IP, longest)
			rz, ok := rev[name]
			if !ok {
				return nil, fmt.Errorf("network %s: %s is outside its reverse zones", n.Name, h.IP)
			}
			ptr, err := dns.ReverseAddr(h.IP.String())
			if err != nil {
				return nil, err
			}
			rz.ptrs = append(rz.ptrs, ptrAt{h.IP, &dns.PTR{Hdr: header(ptr, dns.TypePTR), Ptr: dns.Fqdn(h.Name + "." + n.Name)}})
		}
	}
	sort.SliceStable(revKeys, func(i, j int) bool {
		a, b := revKeys[i], revKeys[j]
		if a.base.Is4() != b.base.Is4() {
			return a.base.Is4()
		}
		return a.base.Less(b.base)
	})
	out := append(fwd4, fwd6...)
	for _, k := range revKeys {
		rz := rev[k.name]
		sort.Slice(rz.ptrs, func(i, j int) bool { return rz.ptrs[i].ip.Less(rz.ptrs[j].ip) })
		for _, p := range rz.ptrs {
			rz.records = append(rz.records, p.rr)
		}
		rz.ptrs = nil
		out = append(out, rz)
	}
	seen := map[string]bool{}
	for _, z := range out {
		if seen[strings.ToLower(z.Name)] {
			return nil, fmt.Errorf("zone %s would be written twice (a network named like a reverse zone?)", z.Name)
		}
		seen[strings.ToLower(z.Name)] = true
		if err := z.check(); err != nil {
			return nil, err
		}
		z.underscore = strings.Contains(z.ns, "_") || strings.Contains(z.include, "_")
		for _, rr := range z.records {
			if strings.Contains(rr.Header().Name, "_") {
				z.underscore = true
			} else if p, ok := rr.(*dns.PTR); ok && strings.Contains(p.Ptr, "_") {
				z.underscore = true
			} else if ns, ok := rr.(*dns.NS); ok && strings.Contains(ns.Ns, "_") {
				z.underscore = true
			}
		}
	}
	return out, nil
}

type revKey struct {
	name string
	base netip.Addr
}

// unit is the bits of one label of a reverse name: an octet or a nibble.
func unit(a netip.Addr) int {
	if a.Is4() {
		return 8
	}
	return 4
}

// reverseZones are the zones covering base/prefix and their prefix length.
func reverseZones(base netip.Addr, prefix int) ([]revKey, int) {
	u, bits := unit(base), base.BitLen()
	zp := (prefix + u - 1) / u * u
	if zp < u {
		zp = u
	}
	if zp > bits-u {
		zp = bits - u // the longest zone: /24, /124
	}
	if zp <= prefix {
		p, _ := base.Prefix(zp)
		return []revKey{{reverseZoneName(p.Addr(), zp), p.Addr()}}, zp
	}
	count := 1 << (zp - prefix)
	out := make([]revKey, 0, count)
	step := new(big.Int).Lsh(big.NewInt(1), uint(bits-zp))
	cur := new(big.Int).SetBytes(base.AsSlice())
	for i := 0; i < count; i++ {
		b := cur.FillBytes(make([]byte, bits/8))
		a, _ := netip.AddrFromSlice(b)
		out = append(out, revKey{reverseZoneName(a, zp), a})
		cur.Add(cur, step)
	}
	return out, zp
}

// reverseZoneName is the name of the reverse zone of prefix length zp
// (a multiple of the label unit) holding ip.
func reverseZoneName(ip netip.Addr, zp int) string {
	full, _ := dns.ReverseAddr(ip.String()) // "4.3.2.1.in-addr.arpa."
	labels := dns.SplitDomainName(full)
	hostLabels := (ip.BitLen() - zp) / unit(ip)
	return strings.Join(labels[hostLabels:], ".")
}

// IncludeFile is the named configuration that declares every zone, with
// its file in dir.
func IncludeFile(zones []*Zone, dir string) []byte {
	var b bytes.Buffer
	b.WriteString("// Zones written by `luna cluster makedns`: changes are lost at the next run.\n")
	for _, z := range zones {
		fmt.Fprintf(&b, "zone %q IN {\n    type master;\n    file %q;\n", z.Name, strings.TrimSuffix(dir, "/")+"/"+z.File)
		if z.Underscore() {
			b.WriteString("    check-names ignore; // '_' in host names\n")
		}
		b.WriteString("    allow-update { none; };\n    allow-transfer { none; };\n};\n")
	}
	return b.Bytes()
}

// ReadSerial returns the SOA serial of an existing zone file.
func ReadSerial(path, zone string) (uint32, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	zp := dns.NewZoneParser(f, dns.Fqdn(zone), path)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa.Serial, true
		}
	}
	return 0, false
}

// NextSerial is the serial of a changed zone: the time in seconds since
// 1970, or one more than the old serial when that is not below it (two
// changes in one second, or an older YYYYMMDDnn serial).
func NextSerial(old uint32, hasOld bool, unix int64) uint32 {
	s := uint32(unix)
	if hasOld && old >= s {
		return old + 1
	}
	return s
}
