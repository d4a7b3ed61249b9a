package demo

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"
)

// liveTable shows one line per node. On a terminal it is redrawn in place;
// otherwise a line is printed whenever a node's phase changes.
type liveTable struct {
	w     io.Writer
	nodes []*node
	tty   bool
	drawn int
	last  map[string]string
	t0    time.Time
}

func newLiveTable(w io.Writer, nodes []*node) *liveTable {
	t := &liveTable{w: w, nodes: nodes, last: map[string]string{}, t0: time.Now()}
	// Redrawn in place only when the whole table fits on the terminal.
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb" {
		if _, rows, err := term.GetSize(int(f.Fd())); err == nil && rows >= len(nodes)+3 {
			t.tty = true
		}
	}
	return t
}

func phaseText(nd *node) string {
	step := nd.step
	if step == "" {
		step = "firmware (DHCP, iPXE)"
	}
	if nd.proc != nil && !nd.ended.IsZero() && nd.proc.err != nil {
		step += " (node exited: " + nd.proc.err.Error() + ")"
	}
	return step
}

func pctText(nd *node) string {
	switch {
	case nd.pct != nil:
		return fmt.Sprintf("%5.1f%%", *nd.pct)
	case nd.step == "install.unpack" || nd.step == "install.setnet" || nd.step == "install.postscript" || nd.step == "install.success":
		return "100.0%"
	}
	return "     -"
}

func (t *liveTable) draw(now time.Time) {
	if !t.tty {
		for _, nd := range t.nodes {
			key := phaseText(nd) + pctText(nd)
			if t.last[nd.name] == key {
				continue
			}
			t.last[nd.name] = key
			fmt.Fprintf(t.w, "%7.1fs  %-8s %-28s %s\n", now.Sub(t.t0).Seconds(), nd.name, phaseText(nd), strings.TrimSpace(pctText(nd)))
		}
		return
	}
	var b strings.Builder
	if t.drawn > 0 {
		fmt.Fprintf(&b, "\033[%dA", t.drawn)
	}
	line := func(s string) { b.WriteString("\r\033[2K" + s + "\n") }
	line(fmt.Sprintf("%-8s  %-30s %8s %9s", "NODE", "PHASE", "DOWNLOAD", "ELAPSED"))
	done := 0
	for _, nd := range t.nodes {
		if nd.step == "install.success" {
			done++
		}
		line(fmt.Sprintf("%-8s  %-30s %8s %8.1fs", nd.name, phaseText(nd), pctText(nd), nd.elapsed(now).Seconds()))
	}
	line(fmt.Sprintf("%d/%d installed, %.1fs", done, len(t.nodes), now.Sub(t.t0).Seconds()))
	t.drawn = len(t.nodes) + 2
	fmt.Fprint(t.w, b.String())
}

// Phases of a node's timeline, from lweb's request log: each starts at an
// event and ends at the next one.
var phases = []struct{ name, from, to string }{
	{"boot", "discovery", "script"},                    // kernel and initrd, installer network, install script fetched
	{"prepare", "script", "install.download"},          // prescript, partscript
	{"download", "install.download", "install.unpack"}, // torrent, ltorrent-client until SIGUSR1
	{"unpack", "install.unpack", "install.setnet"},     // tar into /sysroot
	{"finish", "install.setnet", "install.success"},    // hostname, network files, postscript
}

var (
	logTime   = regexp.MustCompile(`^time=(\S+)`)
	logURI    = regexp.MustCompile(` uri=("(?:[^"\\]|\\.)*"|\S+)`)
	logStatus = regexp.MustCompile(` status=(\d+)`)
)

// events reads lweb's request log: when each node was discovered, fetched
// its install script, reported each status, announced to the tracker.
func (r *run) events() (map[string]map[string]time.Time, error) {
	f, err := os.Open(r.lweb.log)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	byMAC := map[string]string{}
	for _, nd := range r.nodes {
		byMAC[nd.mac] = nd.name
	}
	ev := map[string]map[string]time.Time{}
	add := func(node, what string, t time.Time) {
		if ev[node] == nil {
			ev[node] = map[string]time.Time{}
		}
		if _, ok := ev[node][what]; !ok { // the first of each
			ev[node][what] = t
		}
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, "msg=request") {
			continue
		}
		tm, um, sm := logTime.FindStringSubmatch(line), logURI.FindStringSubmatch(line), logStatus.FindStringSubmatch(line)
		if tm == nil || um == nil || sm == nil || sm[1] != "200" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, tm[1])
		if err != nil {
			continue
		}
		raw := um[1]
		if strings.HasPrefix(raw, `"`) {
			if raw, err = strconv.Unquote(raw); err != nil {
				continue
			}
		}
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		q := u.Query()
		switch {
		case u.Path == "/luna" && q.Get("step") == "discovery":
			for _, tok := range strings.Split(q.Get("hwdata"), "|") {
				if n, ok := byMAC[strings.ToLower(tok)]; ok {
					add(n, "discovery", t)
				}
			}
		case u.Path == "/luna" && q.Get("step") == "install" && q.Get("status") == "":
			add(q.Get("node"), "script", t)
		case u.Path == "/luna" && q.Get("step") == "install":
			add(q.Get("node"), q.Get("status"), t)
		case u.Path == "/announce":
			host := strings.TrimSpace(q.Get("peer_id"))
			node, _, _ := strings.Cut(host, ".")
			add(node, "announce", t)
		}
	}
	return ev, sc.Err()
}

// timeline prints each node's phases (seconds) and a bar per node.
func (r *run) timeline(wall time.Duration) error {
	ev, err := r.events()
	if err != nil {
		return err
	}
	var t0, tEnd time.Time
	for _, nd := range r.nodes {
		e := ev[nd.name]
		if d, ok := e["discovery"]; ok && (t0.IsZero() || d.Before(t0)) {
			t0 = d
		}
		if s, ok := e["install.success"]; ok && s.After(tEnd) {
			tEnd = s
		}
	}
	if t0.IsZero() || tEnd.IsZero() {
		return fmt.Errorf("lweb's log %s has no discovery or no install.success", r.lweb.log)
	}
	span := tEnd.Sub(t0).Seconds()
	const width = 40
	r.say("\ntimeline from lweb's request log (seconds; start = after the first discovery; bar: b boot, p prepare, D download, u unpack, f finish)")
	head := fmt.Sprintf("%-8s %6s", "node", "start")
	for _, p := range phases {
		head += fmt.Sprintf(" %8s", p.name)
	}
	r.say("%s %7s  %s", head, "total", "0"+strings.Repeat(" ", width-1)+fmt.Sprintf("%.1fs", span))
	var sum [5]float64
	for _, nd := range r.nodes {
		e := ev[nd.name]
		row := fmt.Sprintf("%-8s %6.2f", nd.name, e["discovery"].Sub(t0).Seconds())
		bar := []byte(strings.Repeat(" ", width+1))
		for k, p := range phases {
			from, ok1 := e[p.from]
			to, ok2 := e[p.to]
			if !ok1 || !ok2 {
				row += fmt.Sprintf(" %8s", "?")
				continue
			}
			d := to.Sub(from).Seconds()
			sum[k] += d
			row += fmt.Sprintf(" %8.2f", d)
			a := int(from.Sub(t0).Seconds() / span * width)
			z := int(to.Sub(t0).Seconds() / span * width)
			for x := a; x <= z && x <= width; x++ {
				bar[x] = "bpDuf"[k]
			}
		}
		total := e["install.success"].Sub(e["discovery"]).Seconds()
		r.say("%s %7.2f  %s", row, total, strings.TrimRight(string(bar), " "))
	}
	avg := fmt.Sprintf("%-8s %6s", "mean", "")
	for k := range phases {
		avg += fmt.Sprintf(" %8.2f", sum[k]/float64(len(r.nodes)))
	}
	r.say("%s", avg)
	r.say("\ntotal: %d nodes installed in %.1fs from the first discovery to the last install.success (%.1fs from power-on of the nodes)",
		len(r.nodes), span, wall.Seconds())
	if seed, err := webSeedBytes(); err == nil {
		img, _ := tarballSize(r)
		if img > 0 {
			r.say("BitTorrent: lweb's web seed served %.1f MiB of %d x %.1f MiB; the rest came from ltorrent and the other nodes (lweb's tracker)",
				float64(seed)/(1<<20), len(r.nodes), float64(img)/(1<<20))
		}
	}
	return nil
}

var bytesServed = regexp.MustCompile(`(?m)^luna_http_bytes_served_total\{dir="torrents"\} (\S+)$`)

// webSeedBytes reads from lweb's /metrics how much of the tarball it served
// over HTTP (the web seed).
func webSeedBytes() (float64, error) {
	resp, err := http.Get(fmt.Sprintf("http://%s:%d/metrics", serverIP, lwebPort))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	m := bytesServed.FindSubmatch(b)
	if m == nil {
		return 0, nil
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

func tarballSize(r *run) (int64, error) {
	var size int64
	dir := r.work + "/opt/torrents"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tgz") {
			fi, err := e.Info()
			if err == nil && fi.Size() > size {
				size = fi.Size()
			}
		}
	}
	return size, nil
}
