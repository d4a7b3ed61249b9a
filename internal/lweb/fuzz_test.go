package lweb

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var lowerMAC = regexp.MustCompile(`^[0-9a-f]{2}(:[0-9a-f]{2}){5}$`)

// FuzzDiscoveryParams feeds arbitrary query strings to the discovery
// parameter parser: it never panics, refuses what it must, and what it
// accepts is well-formed.
func FuzzDiscoveryParams(f *testing.F) {
	for _, seed := range []string{
		"step=discovery&hwdata=|52:54:00:12:34:56|52:54:00:12:34:56|",
		"step=discovery&hwdata=asset%20tag|52:54:00:12:34:56|&node=node001&type=syslinux",
		"step=discovery&hwdata=&type=ipxe",
		"step=discovery&hwdata=%7C%7C%7C&type=pxelinux",
		"hwdata=AA:BB:CC:DD:EE:FF|aa:bb:cc:dd:ee:ff&hwdata=x",
		"hwdata=" + strings.Repeat("|00:00:00:00:00:01", 40),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		d, code, err := parseDiscovery(q)
		if err != nil {
			if code != http.StatusBadRequest && code != http.StatusNotFound {
				t.Fatalf("failure with status %d", code)
			}
			return
		}
		if d.Kind != "ipxe" && d.Kind != "syslinux" {
			t.Fatalf("accepted type %q", d.Kind)
		}
		if len(d.Tokens) == 0 || len(d.Tokens) > maxHWData {
			t.Fatalf("%d tokens", len(d.Tokens))
		}
		seen := map[string]bool{}
		for _, m := range d.MACs {
			if !lowerMAC.MatchString(m) || seen[m] {
				t.Fatalf("bad or repeated MAC %q in %q", m, d.MACs)
			}
			seen[m] = true
		}
		if d.Node != strings.TrimSpace(d.Node) {
			t.Fatalf("node %q not trimmed", d.Node)
		}
	})
}
