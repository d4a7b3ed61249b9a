package demo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

//go:embed scripts/*.sh
var scripts embed.FS

// node is one simulated node.
type node struct {
	i       int
	name    string
	ns      string // its network namespace
	mac     string
	root    string // its root directory: /luna, /sysroot, /etc
	proc    *proc
	started time.Time
	ended   time.Time
	step    string   // last status lweb stored
	pct     *float64 // download percentage while downloading
}

func (nd *node) elapsed(now time.Time) time.Duration {
	if nd.started.IsZero() {
		return 0
	}
	if !nd.ended.IsZero() {
		return nd.ended.Sub(nd.started)
	}
	return now.Sub(nd.started)
}

func script(name string) []byte {
	b, err := scripts.ReadFile("scripts/" + name)
	if err != nil {
		panic(err) // embedded at build time
	}
	return b
}

// installer is the dracut module's luna-installer.sh with its two library
// paths pointing into /luna (the node's root has the host's read-only /lib).
func (r *run) installer() ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(r.initrd, "luna-installer.sh"))
	if err != nil {
		return nil, err
	}
	s := string(b)
	for _, lib := range []string{"dracut-lib.sh", "luna-lib.sh"} {
		from, to := ". /lib/"+lib, ". /luna/"+lib
		if strings.Count(s, from) != 1 {
			return nil, fmt.Errorf("%s: expected one line %q", filepath.Join(r.initrd, "luna-installer.sh"), from)
		}
		s = strings.Replace(s, from, to, 1)
	}
	return []byte(s), nil
}

// setupNodes creates each node's namespace, its veth to the server's
// bridge with the node's MAC, and its root directory.
func (r *run) setupNodes(ctx context.Context) error {
	client, err := os.ReadFile(filepath.Join(r.bin, "ltorrent-client"))
	if err != nil {
		return err
	}
	lib, err := os.ReadFile(filepath.Join(r.initrd, "luna-lib.sh"))
	if err != nil {
		return err
	}
	inst, err := r.installer()
	if err != nil {
		return err
	}
	luna := map[string][]byte{"ltorrent-client": client, "luna-lib.sh": lib, "luna-installer": inst,
		"dracut-lib.sh": script("dracut-lib.sh"), "node.sh": script("node.sh"), "sums.sh": script("sums.sh")}
	for i := 1; i <= r.cfg.Nodes; i++ {
		nd := &node{i: i, name: nodeName(i), mac: nodeMAC(i), ns: r.prefix + nodeName(i),
			root: filepath.Join(r.work, "nodes", nodeName(i))}
		r.nodes = append(r.nodes, nd)
		veth := "v" + nd.name
		for _, c := range [][]string{
			{"netns", "add", nd.ns},
			{"link", "add", "name", veth, "type", "veth", "peer", "name", "eth0", "netns", nd.ns},
			{"link", "set", veth, "master", "br0", "up"},
			{"-n", nd.ns, "link", "set", "eth0", "address", nd.mac},
		} {
			if err := sh(ctx, "ip", c...); err != nil {
				return err
			}
		}
		for _, d := range []string{"etc", "luna", "sysroot", "proc", "sys", "dev", "tmp", "run", "root"} {
			if err := os.MkdirAll(filepath.Join(nd.root, d), 0o755); err != nil {
				return err
			}
		}
		// An initramfs's /etc: root only; the install script puts the
		// image's passwd and group there while it unpacks.
		etc := map[string][]byte{"passwd": []byte("root:x:0:0:root:/root:/bin/bash\n"), "group": []byte("root:x:0:\n")}
		for _, f := range []string{"nsswitch.conf", "hosts", "ld.so.cache"} {
			if b, err := os.ReadFile(filepath.Join("/etc", f)); err == nil {
				etc[f] = b
			}
		}
		for f, b := range etc {
			if err := os.WriteFile(filepath.Join(nd.root, "etc", f), b, 0o644); err != nil {
				return err
			}
		}
		for f, b := range luna {
			if err := os.WriteFile(filepath.Join(nd.root, "luna", f), b, 0o755); err != nil {
				return err
			}
		}
	}
	if err := r.staticNeighbours(ctx); err != nil {
		return err
	}
	r.say("\nnodes: %d network namespaces %snode001... on br0, each with eth0 at the MAC luna knows, a root with /luna (installer, ltorrent-client) and /sysroot",
		r.cfg.Nodes, r.prefix)
	return nil
}

// staticNeighbours gives the server and every node a permanent ARP entry
// for every other address of the cluster network. Learned entries count
// against the kernel's neighbour table limit (gc_thresh3), which is shared
// by all namespaces of the machine: when other network tests fill it, new
// connections stall until entries expire. Permanent entries do not count.
func (r *run) staticNeighbours(ctx context.Context) error {
	type host struct{ ns, dev, ip, mac string }
	all := []host{{"", "br0", serverIP, serverMAC}}
	for _, nd := range r.nodes {
		all = append(all, host{nd.ns, "eth0", fmt.Sprintf("192.0.2.%d", nd.i), nd.mac})
	}
	for _, h := range all {
		var b strings.Builder
		for _, o := range all {
			if o.ip != h.ip {
				fmt.Fprintf(&b, "neigh replace %s lladdr %s dev %s nud permanent\n", o.ip, o.mac, h.dev)
			}
		}
		args := []string{"-batch", "-"}
		if h.ns != "" {
			args = append([]string{"-n", h.ns}, args...)
		}
		cmd := exec.CommandContext(ctx, "ip", args...)
		cmd.Stdin = strings.NewReader(b.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("static neighbours in %s: %s", h.ns, firstLine(string(out), err))
		}
	}
	return nil
}

// nodeJSON is what `luna node list -o json` says of a node's status.
type nodeJSON struct {
	Name   string `json:"name"`
	Status *struct {
		Step     string   `json:"step"`
		Download *float64 `json:"download_percent"`
	} `json:"status"`
}

// poll reads the nodes' statuses with `luna node list -o json`.
func (r *run) poll(ctx context.Context) error {
	out, err := r.lunaOut(ctx, "", "node", "list", "-o", "json")
	if err != nil {
		return err
	}
	var list []nodeJSON
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return fmt.Errorf("luna node list -o json: %w", err)
	}
	by := map[string]nodeJSON{}
	for _, n := range list {
		by[n.Name] = n
	}
	for _, nd := range r.nodes {
		if n, ok := by[nd.name]; ok && n.Status != nil {
			nd.step, nd.pct = n.Status.Step, n.Status.Download
		}
	}
	return nil
}

// provision boots every node at once, shows the live table until all are
// done, then checks and reports.
func (r *run) provision(ctx context.Context) error {
	imageSums, err := sums(ctx, filepath.Join(r.work, "image"))
	if err != nil {
		return err
	}
	r.say("\nprovisioning %d nodes: firmware discovery by MAC, kernel and initrd from lweb, the Luna installer, the install script, BitTorrent", r.cfg.Nodes)
	r.say("(phase: the last status lweb stored, from `luna node list -o json` every 0.5 s; Ctrl-C stops and cleans up)\n")
	enter := string(script("enter.sh"))
	t0 := time.Now()
	for _, nd := range r.nodes {
		env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LUNA_RETRY=2",
			fmt.Sprintf("DEMO_URL=http://%s:%d", serverIP, lwebPort), fmt.Sprintf("DEMO_DHCP_IP=192.0.2.%d/24", nd.i)}
		p, err := r.startProc(nd.name, filepath.Join("nodes", nd.name+".console"), env, "ip", "netns", "exec", nd.ns,
			"unshare", "--mount", "--uts", "--fork", "--kill-child", "--propagation", "private", "bash", "-c", enter, "enter", nd.root)
		if err != nil {
			return err
		}
		nd.proc, nd.started = p, time.Now()
	}
	tbl := newLiveTable(r.out, r.nodes)
	deadline := time.After(r.cfg.Timeout)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		running := 0
		for _, nd := range r.nodes {
			select {
			case <-nd.proc.done:
				nd.ended = nd.proc.ended
			default:
				running++
			}
		}
		if err := r.poll(ctx); err != nil && ctx.Err() == nil {
			r.say("demo: %v", err)
		}
		tbl.draw(time.Now())
		if running == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return r.failure(fmt.Sprintf("not every node installed within %s", r.cfg.Timeout))
		case <-tick.C:
		}
	}
	var wall time.Duration
	for _, nd := range r.nodes {
		wall = max(wall, nd.ended.Sub(t0))
	}
	// lweb stores statuses in batches: the last install.success of a
	// node that just ended may take a moment to show.
	for settle := time.Now().Add(15 * time.Second); !r.allSucceeded() && time.Now().Before(settle); {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		if err := r.poll(ctx); err != nil && ctx.Err() == nil {
			r.say("demo: %v", err)
		}
		tbl.draw(time.Now())
	}
	return r.report(ctx, imageSums, wall)
}

func (r *run) allSucceeded() bool {
	for _, nd := range r.nodes {
		if nd.step != "install.success" || nd.proc.err != nil {
			return false
		}
	}
	return true
}

// failure names each node that did not finish, with the end of its console.
func (r *run) failure(why string) error {
	r.say("\ndemo: FAILED: %s", why)
	for _, nd := range r.nodes {
		if nd.step == "install.success" && nd.proc.err == nil {
			continue
		}
		b, _ := os.ReadFile(nd.proc.log)
		r.say("--- %s (status %q, exit %v), console %s:\n%s", nd.name, nd.step, nd.proc.err, nd.proc.log, lastLines(b, 8))
	}
	return errReported
}

// report checks every node and prints the timeline.
func (r *run) report(ctx context.Context, imageSums map[string][]string, wall time.Duration) error {
	var bad []string
	for _, nd := range r.nodes {
		if nd.proc.err != nil {
			bad = append(bad, fmt.Sprintf("%s: exit %v", nd.name, nd.proc.err))
			continue
		}
		if nd.step != "install.success" {
			bad = append(bad, fmt.Sprintf("%s: status %q", nd.name, nd.step))
			continue
		}
		if err := r.checkTree(nd, imageSums); err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", nd.name, err))
		}
	}
	if len(bad) > 0 {
		return r.failure(strings.Join(bad, "; "))
	}
	if err := r.timeline(wall); err != nil {
		return err
	}
	r.say("")
	if err := r.luna(ctx, "", "node", "list"); err != nil {
		return err
	}
	r.say("\ndemo: %d/%d nodes reached install.success; each installed tree equals the image (%d entries: type, mode, owner, links, SHA-256, devices, xattrs with capabilities and ACLs), plus its hostname and network files",
		len(r.nodes), len(r.nodes), len(imageSums))
	return nil
}

// sums runs sums.sh on a directory of this host.
func sums(ctx context.Context, dir string) (map[string][]string, error) {
	out, err := exec.CommandContext(ctx, "bash", "-c", string(script("sums.sh")), "sums.sh", dir).Output()
	if err != nil {
		return nil, fmt.Errorf("checksums of %s: %w", dir, err)
	}
	return parseSums(out), nil
}

func parseSums(b []byte) map[string][]string {
	m := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		path, fact, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		m[path] = append(m[path], fact)
	}
	for _, f := range m {
		sort.Strings(f)
	}
	return m
}

// written are the entries the install adds to the image: the hostname,
// the network files (setnet) and the group's postscript's fstab.
var written = []string{"./etc/hostname", "./etc/fstab", "./etc/sysconfig", "./etc/sysconfig/network",
	"./etc/sysconfig/network-scripts", "./etc/sysconfig/network-scripts/ifcfg-eth0"}

// checkTree compares a node's checksum list (made in the node after the
// install) with the image's.
func (r *run) checkTree(nd *node, image map[string][]string) error {
	b, err := os.ReadFile(filepath.Join(nd.root, "luna/sums"))
	if err != nil {
		return errors.New("no checksum list of its /sysroot")
	}
	got := parseSums(b)
	var diffs []string
	for p, want := range image {
		if g := got[p]; strings.Join(g, ";") != strings.Join(want, ";") {
			diffs = append(diffs, fmt.Sprintf("%s: %v, image %v", p, g, want))
		}
	}
	for p := range got {
		if _, ok := image[p]; !ok && !contains(written, p) {
			diffs = append(diffs, p+": not in the image")
		}
	}
	host := nd.name + ".cluster"
	sum := sha256.Sum256([]byte(host + "\n"))
	if want := "sha256 " + hex.EncodeToString(sum[:]); !contains(got["./etc/hostname"], want) {
		diffs = append(diffs, fmt.Sprintf("./etc/hostname is not %q", host))
	}
	if h, _ := os.ReadFile(filepath.Join(nd.root, "luna/hostname")); strings.TrimSpace(string(h)) != host {
		diffs = append(diffs, fmt.Sprintf("the installer set hostname %q, want %q", bytes.TrimSpace(h), host))
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		if len(diffs) > 5 {
			diffs = append(diffs[:5], fmt.Sprintf("and %d more", len(diffs)-5))
		}
		return fmt.Errorf("installed tree differs from the image: %s", strings.Join(diffs, "; "))
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
