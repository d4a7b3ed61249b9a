// Package dhcpconf writes the DHCP server configuration of `luna cluster
// makedhcp`: an ISC dhcpd.conf (text/template, as Luna 1.2's) or a Kea
// DHCPv4 JSON configuration with the same behaviour.
package dhcpconf

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"text/template"

	"github.com/clustervision/luna-go/internal/luna"
)

//go:embed templates/dhcpd.conf.tmpl
var dhcpdText string

var dhcpdTmpl = template.Must(template.New("dhcpd.conf").Option("missingkey=error").Parse(dhcpdText))

// view is what the dhcpd.conf template sees: the configuration and the
// failover side of the file being written (nil without failover).
type view struct {
	*luna.DHCPConfig
	Peer *luna.DHCPPeer
}

var (
	hostRe = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	macRe  = regexp.MustCompile(`^[0-9a-f]{2}(:[0-9a-f]{2}){5}$`)
	urlRe  = regexp.MustCompile(`^https?://[A-Za-z0-9.:\[\]-]+/[A-Za-z0-9._/?=-]*$`)
)

// Check refuses a configuration with a value that could break out of its
// place in a configuration file; package luna validates them all already,
// this keeps a stored value edited by hand from reaching dhcpd.
func Check(c *luna.DHCPConfig) error {
	ipv4 := func(what, v string) error {
		a, err := netip.ParseAddr(v)
		if err != nil || !a.Is4() {
			return fmt.Errorf("%s %q is not an IPv4 address", what, v)
		}
		return nil
	}
	for what, v := range map[string]string{"network": c.Network, "netmask": c.Netmask, "range start": c.RangeStart,
		"range end": c.RangeEnd, "frontend address": c.FrontendIP} {
		if err := ipv4(what, v); err != nil {
			return err
		}
	}
	for _, u := range []string{c.BootURL, c.HTTPBootURL} {
		if !urlRe.MatchString(u) {
			return fmt.Errorf("boot URL %q has characters a configuration file cannot hold", u)
		}
	}
	if k, err := base64.StdEncoding.DecodeString(c.OMAPIKey); err != nil || len(k) < 16 {
		return fmt.Errorf("the stored OMAPI key is not base64 of at least 16 bytes")
	}
	for _, p := range c.Peers {
		if err := ipv4("failover address", p.Address); err != nil {
			return err
		}
		if err := ipv4("failover peer address", p.PeerAddress); err != nil {
			return err
		}
	}
	for _, h := range c.Hosts {
		if !hostRe.MatchString(h.Name) {
			return fmt.Errorf("node name %q is not a host name", h.Name)
		}
		if !macRe.MatchString(h.MAC) {
			return fmt.Errorf("MAC %q of node %s is not a MAC address", h.MAC, h.Name)
		}
		if err := ipv4("address of node "+h.Name, h.IP); err != nil {
			return err
		}
	}
	return nil
}

// Files are the configurations of the masters: the local one, and with HA
// the other master's (Secondary, nil without HA).
type Files struct {
	Primary, Secondary []byte
}

// TemplateName is the file in <cluster path>/templates that replaces the
// built-in dhcpd.conf template (text/template; the fields of
// luna.DHCPConfig and .Peer, see templates/dhcpd.conf.tmpl).
const TemplateName = "dhcpd.conf.tmpl"

// ISC renders dhcpd.conf with the built-in template, or with override when
// it is not empty. With failover peers the secondary file is the peer's
// side; with HA but no failover it is the same as the primary.
func ISC(c *luna.DHCPConfig, override []byte) (Files, error) {
	if err := Check(c); err != nil {
		return Files{}, err
	}
	tmpl := dhcpdTmpl
	if len(override) > 0 {
		var err error
		if tmpl, err = template.New(TemplateName).Option("missingkey=error").Parse(string(override)); err != nil {
			return Files{}, fmt.Errorf("template %s: %w", TemplateName, err)
		}
	}
	render := func(peer *luna.DHCPPeer) ([]byte, error) {
		var b bytes.Buffer
		if err := tmpl.Execute(&b, view{c, peer}); err != nil {
			return nil, fmt.Errorf("render dhcpd.conf: %w", err)
		}
		return b.Bytes(), nil
	}
	var f Files
	var err error
	switch {
	case len(c.Peers) == 2:
		if f.Primary, err = render(&c.Peers[0]); err != nil {
			return f, err
		}
		f.Secondary, err = render(&c.Peers[1])
	default:
		if f.Primary, err = render(nil); err == nil && c.HA {
			f.Secondary = f.Primary
		}
	}
	return f, err
}

// KeaOptions are where Kea's pieces are on this system.
type KeaOptions struct {
	HooksDir      string // holds libdhcp_ha.so and libdhcp_lease_cmds.so (failover only)
	ControlSocket string // default /run/kea/kea4-ctrl-socket
	HAPort        int    // the peers' Kea control agent port, default 8000
}

type kv = map[string]any

func optionData(pairs ...string) []kv {
	out := make([]kv, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, kv{"name": pairs[i], "data": pairs[i+1]})
	}
	return out
}

// Kea renders a Kea DHCPv4 configuration that behaves as the dhcpd.conf:
// the same options, client classes for the iPXE chain and UEFI HTTP boot,
// the range and one reservation per node; failover peers become Kea's
// high-availability hook in hot-standby mode (primary and standby).
func Kea(c *luna.DHCPConfig, o KeaOptions) (Files, error) {
	if err := Check(c); err != nil {
		return Files{}, err
	}
	if o.ControlSocket == "" {
		o.ControlSocket = "/run/kea/kea4-ctrl-socket"
	}
	if o.HAPort == 0 {
		o.HAPort = 8000
	}
	reservations := make([]kv, 0, len(c.Hosts))
	for _, h := range c.Hosts {
		reservations = append(reservations, kv{"hostname": h.Name, "hw-address": h.MAC, "ip-address": h.IP})
	}
	notChained := "not member('luna-ipxe') and not member('luna-httpclient')"
	classes := []kv{
		{"name": "luna-ipxe", "test": "option[77].hex == 'iPXE'", "boot-file-name": c.BootURL},
		{"name": "luna-httpclient", "test": "not member('luna-ipxe') and substring(option[60].hex, 0, 10) == 'HTTPClient'",
			"boot-file-name": c.HTTPBootURL, "option-data": optionData("vendor-class-identifier", "HTTPClient")},
		{"name": "luna-uefi", "test": notChained + " and (option[93].hex == 0x0007 or option[93].hex == 0x0009)",
			"boot-file-name": "luna_ipxe.efi"},
		{"name": "luna-openpower", "test": notChained + " and option[93].hex == 0x000e"},
		{"name": "luna-bios", "test": notChained + " and not member('luna-uefi') and not member('luna-openpower')",
			"boot-file-name": "luna_undionly.kpxe"},
	}
	render := func(peer *luna.DHCPPeer) ([]byte, error) {
		d := kv{
			"interfaces-config":  kv{"interfaces": []string{"*"}},
			"control-socket":     kv{"socket-type": "unix", "socket-name": o.ControlSocket},
			"lease-database":     kv{"type": "memfile", "persist": true, "lfc-interval": 3600},
			"valid-lifetime":     28800,
			"max-valid-lifetime": 28800,
			"option-def":         []kv{{"name": "luna-id", "code": 129, "type": "string", "space": "dhcp4"}},
			"option-data":        optionData("domain-name", "lunacluster", "domain-name-servers", c.FrontendIP),
			"client-classes":     classes,
			"subnet4": []kv{{
				"id": 1, "subnet": fmt.Sprintf("%s/%d", c.Network, c.Prefix), "next-server": c.FrontendIP,
				"pools":        []kv{{"pool": c.RangeStart + " - " + c.RangeEnd}},
				"option-data":  optionData("routers", c.FrontendIP, "luna-id", "lunaclient"),
				"reservations": reservations,
			}},
		}
		if peer != nil {
			if o.HooksDir == "" {
				return nil, fmt.Errorf("Kea failover needs the directory of its hook libraries (libdhcp_ha.so)")
			}
			primary, standby := peer.Address, peer.PeerAddress
			if !peer.Primary {
				primary, standby = standby, primary
			}
			url := func(ip string) string { return fmt.Sprintf("http://%s:%d/", ip, o.HAPort) }
			d["hooks-libraries"] = []kv{
				{"library": strings.TrimSuffix(o.HooksDir, "/") + "/libdhcp_lease_cmds.so"},
				{"library": strings.TrimSuffix(o.HooksDir, "/") + "/libdhcp_ha.so", "parameters": kv{
					"high-availability": []kv{{
						"this-server-name": peer.Address, "mode": "hot-standby",
						"heartbeat-delay": 10000, "max-response-delay": 60000, "max-ack-delay": 5000, "max-unacked-clients": 5,
						"peers": []kv{
							{"name": primary, "url": url(primary), "role": "primary", "auto-failover": true},
							{"name": standby, "url": url(standby), "role": "standby", "auto-failover": true},
						},
					}},
				}},
			}
		}
		out, err := json.MarshalIndent(kv{"Dhcp4": d}, "", "  ")
		if err != nil {
			return nil, err
		}
		return append(out, '\n'), nil
	}
	var f Files
	var err error
	switch {
	case len(c.Peers) == 2:
		if f.Primary, err = render(&c.Peers[0]); err != nil {
			return f, err
		}
		f.Secondary, err = render(&c.Peers[1])
	default:
		if f.Primary, err = render(nil); err == nil && c.HA {
			f.Secondary = f.Primary
		}
	}
	return f, err
}
