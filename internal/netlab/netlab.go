// Package netlab builds a small virtual network on one machine for tests
// and benchmarks: a hub network namespace with a bridge, and hosts, each
// a network namespace joined to the bridge by a veth pair, optionally
// with its link rate-limited in both directions (tc htb). Nothing is
// created in the caller's namespace, and everything is removed by Close.
// It needs root and iproute2 (ip, tc).
package netlab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Lab is one virtual network.
type Lab struct {
	Prefix string       // of every namespace name
	Hub    string       // the hub namespace
	HubIP  netip.Addr   // the bridge's address, .1 of the subnet
	Subnet netip.Prefix // a /24 to /29
	Hosts  []*Host
}

// Host is one namespace on the lab's bridge.
type Host struct {
	lab  *Lab
	NS   string
	Name string // host name its commands see (own UTS namespace)
	IP   netip.Addr
}

func run(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// New creates the hub namespace <prefix>-hub with a bridge on subnet (an
// IPv4 /24 to /29 of TEST-NET), whose address is the subnet's first.
// Namespaces left over from an earlier run with the same prefix are removed first.
func New(ctx context.Context, prefix string, subnet netip.Prefix) (*Lab, error) {
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("ip not found (apt-get install iproute2): %w", err)
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("network namespaces need root")
	}
	if subnet.Bits() < 24 || subnet.Bits() > 29 || !subnet.Addr().Is4() {
		return nil, fmt.Errorf("subnet %s: want an IPv4 /24 to /29", subnet)
	}
	removeStale(prefix)
	l := &Lab{Prefix: prefix, Hub: prefix + "-hub", Subnet: subnet.Masked(), HubIP: subnet.Masked().Addr().Next()}
	steps := [][]string{
		{"ip", "netns", "add", l.Hub},
		{"ip", "-n", l.Hub, "link", "set", "lo", "up"},
		{"ip", "-n", l.Hub, "link", "add", "br0", "address", mac(l.HubIP), "type", "bridge"},
		{"ip", "-n", l.Hub, "addr", "add", netip.PrefixFrom(l.HubIP, subnet.Bits()).String(), "dev", "br0"},
		{"ip", "-n", l.Hub, "link", "set", "br0", "up"},
	}
	for _, s := range steps {
		if err := run(ctx, s...); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}

// removeStale deletes namespaces named <prefix>-* (a crashed run's).
func removeStale(prefix string) {
	entries, _ := os.ReadDir("/var/run/netns")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix+"-") {
			_ = run(context.Background(), "ip", "netns", "del", e.Name())
		}
	}
}

// AddHost adds host number len(Hosts)+1 with the subnet's address n+1
// (.2, .3, ... of a /24) and host name name; rateMbit > 0 limits its link
// to that many Mbit/s each way.
func (l *Lab) AddHost(ctx context.Context, name string, rateMbit int) (*Host, error) {
	n := len(l.Hosts) + 1
	size := 1 << (32 - l.Subnet.Bits())
	if n > 250 || n+1 >= size-1 {
		return nil, fmt.Errorf("at most %d hosts in %s", min(250, size-3), l.Subnet)
	}
	a := l.Subnet.Addr().As4()
	a[3] += byte(n + 1)
	h := &Host{lab: l, NS: fmt.Sprintf("%s-h%d", l.Prefix, n), Name: name, IP: netip.AddrFrom4(a)}
	veth := fmt.Sprintf("v%d", n)
	steps := [][]string{
		{"ip", "netns", "add", h.NS},
		{"ip", "-n", h.NS, "link", "set", "lo", "up"},
		{"ip", "-n", l.Hub, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", h.NS},
		{"ip", "-n", l.Hub, "link", "set", veth, "master", "br0", "up"},
		{"ip", "-n", h.NS, "link", "set", "eth0", "address", mac(h.IP)},
		{"ip", "-n", h.NS, "addr", "add", netip.PrefixFrom(h.IP, l.Subnet.Bits()).String(), "dev", "eth0"},
		{"ip", "-n", h.NS, "link", "set", "eth0", "up"},
	}
	if rateMbit > 0 {
		for _, side := range [][2]string{{h.NS, "eth0"}, {l.Hub, veth}} {
			rate := fmt.Sprintf("%dmbit", rateMbit)
			steps = append(steps,
				[]string{"ip", "netns", "exec", side[0], "tc", "qdisc", "add", "dev", side[1], "root", "handle", "1:", "htb", "default", "10"},
				[]string{"ip", "netns", "exec", side[0], "tc", "class", "add", "dev", side[1], "parent", "1:", "classid", "1:10", "htb", "rate", rate, "ceil", rate},
			)
		}
	}
	l.Hosts = append(l.Hosts, h) // so that Close removes it even half made
	for _, s := range steps {
		if err := run(ctx, s...); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// mac is the Ethernet address of an IPv4 address in a lab: locally
// administered, 02:00 and the four bytes.
func mac(a netip.Addr) string {
	b := a.As4()
	return fmt.Sprintf("02:00:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3])
}

// StaticNeighbours gives every host and the hub a permanent ARP entry for
// every other address of the lab. With many hosts talking to each other,
// learned entries would exceed the kernel's neighbour table limit
// (gc_thresh3, counted over all namespaces of the machine) and new
// connections would fail; permanent entries are not counted.
func (l *Lab) StaticNeighbours(ctx context.Context) error {
	all := append([]netip.Addr{l.HubIP}, func() []netip.Addr {
		var a []netip.Addr
		for _, h := range l.Hosts {
			a = append(a, h.IP)
		}
		return a
	}()...)
	batch := func(ns, dev string, self netip.Addr) error {
		var b strings.Builder
		for _, a := range all {
			if a != self {
				fmt.Fprintf(&b, "neigh replace %s lladdr %s dev %s nud permanent\n", a, mac(a), dev)
			}
		}
		cmd := exec.CommandContext(ctx, "ip", "-n", ns, "-batch", "-")
		cmd.Stdin = strings.NewReader(b.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("static neighbours in %s: %v: %s", ns, err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	if err := batch(l.Hub, "br0", l.HubIP); err != nil {
		return err
	}
	for _, h := range l.Hosts {
		if err := batch(h.NS, "eth0", h.IP); err != nil {
			return err
		}
	}
	return nil
}

// Command is name with args run in the host's namespace, with the host
// name set in a UTS namespace of its own.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	all := append([]string{"netns", "exec", h.NS, "unshare", "--uts", "sh", "-c", `hostname "$0" && exec "$@"`, h.Name, name}, args...)
	return exec.CommandContext(ctx, "ip", all...)
}

// Listen opens a TCP listener in the hub namespace (on HubIP:port).
func (l *Lab) Listen(port int) (net.Listener, error) {
	var ln net.Listener
	err := l.inHub(func() error {
		var err error
		ln, err = net.Listen("tcp", netip.AddrPortFrom(l.HubIP, uint16(port)).String())
		return err
	})
	return ln, err
}

// inHub runs f on a thread that is in the hub's network namespace.
func (l *Lab) inHub(f func() error) error {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	target, err := os.Open("/var/run/netns/" + l.Hub)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter %s: %w", l.Hub, err)
	}
	ferr := f()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread stays locked, so it ends with its goroutine.
		return fmt.Errorf("leave %s: %w", l.Hub, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// Close deletes every namespace of the lab (the veths and qdiscs go with
// them).
func (l *Lab) Close() {
	for _, h := range l.Hosts {
		_ = run(context.Background(), "ip", "netns", "del", h.NS)
	}
	_ = run(context.Background(), "ip", "netns", "del", l.Hub)
}
