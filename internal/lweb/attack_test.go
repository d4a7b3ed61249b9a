package lweb

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clustervision/luna-go/internal/store"
)

const (
	bmcSecret   = "Bmc-S3cret-7f3a"
	node1MAC    = "52:54:00:00:00:01"
	node1Addr   = "127.1.0.1" // node001's BOOTIF address
	attackerIP  = "127.0.0.2"
	learnedMAC1 = "52:54:00:00:00:0b" // learned on node001's switch port
	attackerMAC = "52:54:00:66:66:66"
)

var tokenRe = regexp.MustCompile(`luna\.token=([0-9a-f]{32})`)

// from returns a client whose connections leave from the loopback address ip.
func from(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type reply struct {
	code int
	body string
}

func fetch(t *testing.T, c *http.Client, url string, header map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(b)}
}

// bootState is what an attacker must not change: node001's MAC and stored
// status (step, time, token and where it went), and node002's MAC.
type bootState struct {
	node1MAC, node2MAC string
	node1              store.NodeState
}

func (f *fixture) bootState() bootState {
	f.t.Helper()
	ctx := context.Background()
	var bs bootState
	mac := func(name string) string {
		var nd store.Node
		if err := f.st.GetByName(ctx, store.Nodes, name, &nd); err != nil {
			f.t.Fatal(err)
		}
		ms, err := f.st.MACsOf(ctx, []store.ID{nd.ID})
		if err != nil {
			f.t.Fatal(err)
		}
		if name == "node001" {
			if err := f.st.GetByID(ctx, store.States, nd.ID, &bs.node1); err != nil {
				f.t.Fatal(err)
			}
		}
		if len(ms) == 0 {
			return ""
		}
		return ms[0].MAC
	}
	bs.node1MAC, bs.node2MAC = mac("node001"), mac("node002")
	return bs
}

// TestAttackerOnTheProvisioningNetwork plays an attacker on the
// provisioning network against node001, which has a MAC, an address of its
// own (127.1.0.1) and a BMC password, and has just booted: every URL and
// parameter combination lweb serves is tried from another address
// (127.0.0.2) without node001's token. None returns the BMC password or
// node001's token, or changes node001's MAC or status, or moves its MAC to
// another node. Then the real node still boots and installs. lweb is
// reached over real sockets; each request's effect is stored before the
// answer (no Start), so the state is checked after every one.
func TestAttackerOnTheProvisioningNetwork(t *testing.T) {
	f := newFixtureOn(t, "127.1.0.0", "16")
	f.luna("bmcsetup", "change", "base", "--password", bmcSecret)
	f.luna("node", "change", "node001", "-s", "switch01", "-p", "Gi1/0/9")
	ctx := context.Background()
	var sw store.Switch
	if err := f.st.GetByName(ctx, store.Switches, "switch01", &sw); err != nil {
		t.Fatal(err)
	}
	if err := f.st.Insert(ctx, store.SwitchMAC, store.LearnedMAC{ID: store.NewID(), Switch: sw.ID, MAC: learnedMAC1,
		Port: "9", PortName: "Gi1/0/9", Updated: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.path, "torrents", "6d3e0ad6.torrent"), []byte("d8:announce0:e"), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: f.h}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	base := "http://" + ln.Addr().String()
	node, attacker := from(node1Addr), from(attackerIP)

	// node001 boots: its discovery comes from its own address.
	r := fetch(t, node, base+"/luna?step=discovery&hwdata=|"+node1MAC+"|", nil)
	m := tokenRe.FindStringSubmatch(r.body)
	if r.code != 200 || m == nil {
		t.Fatalf("the node's own discovery: %d, no token?\n%s", r.code, r.body)
	}
	token := m[1]
	before := f.bootState()
	if before.node1MAC != node1MAC || before.node1.Step != "boot.request" || before.node1.Token != token || before.node1.TokenAddr != node1Addr {
		t.Fatalf("after the node's discovery: %+v", before)
	}

	q := func(s string) string { return base + "/luna?" + s }
	mac := func(ms ...string) string {
		return "hwdata=" + strings.Join(append(append([]string{""}, ms...), ""), "|")
	}
	for _, a := range []struct {
		name   string
		url    string
		header map[string]string
		codes  []int // acceptable answers
	}{
		{"boot menu", q("step=boot"), nil, []int{200}},
		{"discovery by MAC", q("step=discovery&" + mac(node1MAC)), nil, []int{200}},
		{"discovery by MAC, upper case", q("step=discovery&" + mac(strings.ToUpper(node1MAC))), nil, []int{200}},
		{"discovery by MAC, syslinux", q("step=discovery&type=syslinux&" + mac(node1MAC)), nil, []int{200}},
		{"discovery by MAC with the asset tag and net0", q("step=discovery&hwdata=asset|" + node1MAC + "|" + node1MAC + "|"), nil, []int{200}},
		{"discovery by MAC claiming the node's address (no proxy)", q("step=discovery&" + mac(node1MAC)), map[string]string{"X-Real-IP": node1Addr, "X-Forwarded-For": node1Addr}, []int{200}},
		{"discovery by name with another MAC", q("step=discovery&node=node001&" + mac(attackerMAC)), nil, []int{403}},
		{"discovery by name with its own MAC", q("step=discovery&node=node001&" + mac(node1MAC)), nil, []int{200}},
		{"discovery by name, no MAC", q("step=discovery&node=node001&hwdata=asset"), nil, []int{200}},
		{"discovery by name of a node without a MAC, no MAC", q("step=discovery&node=node002&hwdata=asset|"), nil, []int{200}},
		{"discovery by name, syslinux", q("step=discovery&type=syslinux&node=node001&" + mac(attackerMAC)), nil, []int{403}},
		{"discovery by name, repeated node", q("step=discovery&node=node002&node=node001&" + mac(attackerMAC)), nil, []int{403}},
		{"discovery giving node001's MAC to node002", q("step=discovery&node=node002&" + mac(node1MAC)), nil, []int{403}},
		{"discovery by switch port", q("step=discovery&" + mac(learnedMAC1)), nil, []int{403}},
		{"discovery by switch port, with other MACs", q("step=discovery&" + mac(attackerMAC, learnedMAC1)), nil, []int{403}},
		{"install", q("step=install&node=node001"), nil, []int{403}},
		{"install, empty token", q("step=install&node=node001&token="), nil, []int{403}},
		{"install, wrong token", q("step=install&node=node001&token=00000000000000000000000000000000"), nil, []int{403}},
		{"install, token prefix", q("step=install&node=node001&token=" + token[:16]), nil, []int{403}},
		{"install, token then empty", q("step=install&node=node001&token=" + strings.Repeat("f", 32) + "&token="), nil, []int{403}},
		{"install claiming the node's address (no proxy)", q("step=install&node=node001"), map[string]string{"X-Real-IP": node1Addr}, []int{403}},
		{"status", q("step=install&node=node001&status=install.success"), nil, []int{403}},
		{"status, wrong token", q("step=install&node=node001&status=boot.request&token=" + strings.Repeat("0", 32)), nil, []int{403}},
		{"status, invalid value", q("step=install&node=node001&status=x%3By"), nil, []int{403, 400}},
		{"torrent", base + "/torrents/6d3e0ad6.torrent", nil, []int{200}},
		{"boot files", base + "/boot/compute-vmlinuz-5.10.0-9-amd64", nil, []int{404}},
		{"announce as the node", base + "/announce?info_hash=" + strings.Repeat("%ab", 20) + "&peer_id=" + "%20%20%20%20%20node001.cluster" + "&port=6881&left=0&event=started&ip=" + node1Addr, nil, []int{200}},
		{"scrape", base + "/scrape", nil, []int{200}},
		{"healthz", base + "/healthz", nil, []int{200}},
		{"metrics", base + "/metrics", nil, []int{200}},
	} {
		t.Run(a.name, func(t *testing.T) {
			r := fetch(t, attacker, a.url, a.header)
			ok := false
			for _, c := range a.codes {
				ok = ok || r.code == c
			}
			if !ok {
				t.Errorf("HTTP %d, want one of %v:\n%s", r.code, a.codes, r.body)
			}
			if strings.Contains(r.body, bmcSecret) {
				t.Errorf("the answer carries the BMC password:\n%s", r.body)
			}
			if strings.Contains(r.body, token) {
				t.Errorf("the answer carries node001's boot token:\n%s", r.body)
			}
			if m := tokenRe.FindStringSubmatch(r.body); m != nil {
				t.Errorf("the answer hands out a boot token %s:\n%s", m[1], r.body)
			}
			if now := f.bootState(); now != before {
				t.Errorf("the boot state changed:\nbefore %+v\nafter  %+v", before, now)
			}
		})
	}

	// A token handed to another node's boot does not open node001: the
	// attacker takes node002, which has no MAC yet (its first boot is
	// trust on first use), and tries node002's token on node001.
	r = fetch(t, attacker, q("step=discovery&node=node002&"+mac(attackerMAC)), nil)
	m2 := tokenRe.FindStringSubmatch(r.body)
	if r.code != 200 || m2 == nil {
		t.Fatalf("first discovery of node002 (no MAC yet): %d\n%s", r.code, r.body)
	}
	for _, u := range []string{"step=install&node=node001&token=" + m2[1], "step=install&node=node001&status=install.success&token=" + m2[1]} {
		if r := fetch(t, attacker, q(u), nil); r.code != 403 || strings.Contains(r.body, bmcSecret) {
			t.Errorf("%s with node002's token: %d\n%s", u, r.code, r.body)
		}
	}
	if now := f.bootState(); now.node1 != before.node1 || now.node1MAC != before.node1MAC {
		t.Errorf("node001 changed: %+v", now)
	}

	// The real node still boots and installs: from its own address without
	// a token (a Luna 1.2 initrd), and with its token from anywhere.
	r = fetch(t, node, q("step=discovery&"+mac(node1MAC)), nil)
	m = tokenRe.FindStringSubmatch(r.body)
	if r.code != 200 || m == nil || m[1] == token {
		t.Fatalf("the node's next discovery: %d, want 200 and a fresh token\n%s", r.code, r.body)
	}
	token = m[1]
	r = fetch(t, node, q("step=install&node=node001"), nil)
	if r.code != 200 || !strings.Contains(r.body, bmcSecret) || !strings.Contains(r.body, "LUNA_TOKEN='"+token+"'") {
		t.Fatalf("install from the node's address: %d\n%s", r.code, r.body)
	}
	if r := fetch(t, from("127.0.0.9"), q("step=install&node=node001&token="+token), nil); r.code != 200 || !strings.Contains(r.body, bmcSecret) {
		t.Fatalf("install with the node's token: %d", r.code)
	}
	if r := fetch(t, from("127.0.0.9"), q("step=install&node=node001&status=install.download&token="+token), nil); r.code != 200 {
		t.Fatalf("status with the node's token: %d", r.code)
	}
	if r := fetch(t, node, q("step=install&node=node001&status=install.success"), nil); r.code != 200 {
		t.Fatalf("status from the node's address: %d", r.code)
	}
	if st := f.status("node001"); st != "install.success" {
		t.Fatalf("node001's status %q, want install.success", st)
	}
	if !strings.Contains(f.log.String(), "token=%28hidden%29") || strings.Contains(f.log.String(), token) {
		t.Errorf("the access log must hide tokens:\n%s", f.log.String())
	}
}

// A Luna 1.2 initrd sends no token: with a static BOOTIF address it asks
// from the node's address (above); a node identified at its first boot from
// some other address (DHCP) may ask from that address, and only from there.
func TestNoTokenFromTheDiscoveryAddress(t *testing.T) {
	f := newFixtureOn(t, "127.1.0.0", "16")
	ctx := context.Background()
	var sw store.Switch
	if err := f.st.GetByName(ctx, store.Switches, "switch01", &sw); err != nil {
		t.Fatal(err)
	}
	// node003 has no MAC; a MAC learned on its port identifies it.
	if err := f.st.Insert(ctx, store.SwitchMAC, store.LearnedMAC{ID: store.NewID(), Switch: sw.ID, MAC: "52:54:00:00:00:03",
		Port: "5", PortName: "Gi1/0/5", Updated: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: f.h}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	base := "http://" + ln.Addr().String() + "/luna?"
	dhcp := from("127.0.0.5")
	r := fetch(t, dhcp, base+"step=discovery&hwdata=|52:54:00:00:00:03|", nil)
	if r.code != 200 || !tokenRe.MatchString(r.body) || !strings.Contains(r.body, "luna.node=node003") {
		t.Fatalf("first discovery of node003: %d\n%s", r.code, r.body)
	}
	if r := fetch(t, dhcp, base+"step=install&node=node003", nil); r.code != 200 || !strings.Contains(r.body, "ipmitool user set password") {
		t.Fatalf("install from the address its token went to: %d\n%s", r.code, r.body)
	}
	if r := fetch(t, from("127.0.0.6"), base+"step=install&node=node003", nil); r.code != 403 {
		t.Fatalf("install from another address: %d", r.code)
	}
	// The node reboots from the same address: it is still itself.
	if r := fetch(t, dhcp, base+"step=discovery&hwdata=|52:54:00:00:00:03|", nil); r.code != 200 || !tokenRe.MatchString(r.body) {
		t.Fatalf("next discovery from the same address: %d\n%s", r.code, r.body)
	}
}

// allow_rebind (off by default) lets a discovery from anywhere bind a node
// that has a MAC, as Luna 1.2 did.
func TestAllowRebind(t *testing.T) {
	f := newFixture(t)
	url := fmt.Sprintf("/luna?step=discovery&node=node001&hwdata=|%s|", attackerMAC)
	f.expectFrom(url, attackerIP, http.StatusForbidden)
	if !strings.Contains(f.log.String(), "node node001 already has MAC "+node1MAC) {
		t.Errorf("the refusal is not logged:\n%s", f.log.String())
	}
	f.luna("cluster", "change", "--allow_rebind", "y")
	f.clock.Advance(clusterTTL)
	body := f.expectFrom(url, attackerIP, http.StatusOK)
	if !tokenRe.MatchString(body) || !strings.Contains(body, "luna.mac="+attackerMAC) {
		t.Fatalf("rebind allowed: no token or MAC\n%s", body)
	}
	if out := f.luna("node", "show", "node001", "-o", "json"); !strings.Contains(out, `"mac": "`+attackerMAC+`"`) {
		t.Fatalf("MAC not rebound: %s", out)
	}
}
