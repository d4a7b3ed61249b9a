// Package systemd_test checks `make install`: what it puts where (binaries,
// units, man pages, completion scripts, sysusers.d, firewalld services),
// that the sample /etc/luna.conf is 0600 and never overwritten, that
// systemd-analyze verify accepts the installed units and rates their
// hardening, and that the firewalld services open the ports the daemons
// use by default.
package systemd_test

import (
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clustervision/luna-go/internal/luna"
)

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestMakeInstall(t *testing.T) {
	for _, tool := range []string{"make", "systemd-analyze"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed: apt-get install make systemd", tool)
		}
	}
	// PREFIX, not DESTDIR: systemd-analyze verify checks that ExecStart's
	// binary exists at the path the unit names.
	prefix := t.TempDir()
	etc := filepath.Join(prefix, "etc")
	args := []string{"install", "PREFIX=" + prefix, "SYSCONFDIR=" + etc}
	run(t, "make", args...)

	for _, b := range []string{"luna", "lunadb", "lweb", "lpower", "lchroot", "ltorrent"} {
		fi, err := os.Stat(filepath.Join(prefix, "sbin", b))
		if err != nil || fi.Mode().Perm() != 0o755 {
			t.Fatalf("sbin/%s: %v %v", b, fi, err)
		}
	}
	conf := filepath.Join(etc, "luna.conf")
	fi, err := os.Stat(conf)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("luna.conf: %v %v", fi, err)
	}
	units, _ := filepath.Glob(filepath.Join(prefix, "lib/systemd/system/*.service"))
	if len(units) != 3 {
		t.Fatalf("units installed: %v", units)
	}
	for _, u := range units {
		b, _ := os.ReadFile(u)
		if !strings.Contains(string(b), "ExecStart="+filepath.Join(prefix, "sbin")+"/") {
			t.Fatalf("%s: ExecStart not rewritten to %s/sbin:\n%s", u, prefix, b)
		}
	}
	run(t, "systemd-analyze", append([]string{"verify"}, units...)...)
	// Exposure 0-100 (shown as 0.0-10.0): each unit runs as luna with the
	// hardening options on; 25 leaves room for lweb's one capability.
	for _, u := range units {
		run(t, "systemd-analyze", "security", "--offline=yes", "--threshold=25", u)
		b, _ := os.ReadFile(u)
		for _, w := range []string{"User=luna\n", "NoNewPrivileges=yes\n", "ProtectSystem=", "PrivateDevices=yes\n", "CapabilityBoundingSet="} {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s has no %s", u, w)
			}
		}
		if !strings.Contains(string(b), "Type=notify\n") && !strings.Contains(string(b), "Type=exec\n") {
			t.Errorf("%s: want Type=notify or Type=exec", u)
		}
	}

	if b, err := os.ReadFile(filepath.Join(prefix, "lib/sysusers.d/luna.conf")); err != nil || !strings.Contains(string(b), "\nu luna - ") {
		t.Fatalf("sysusers.d/luna.conf: %q %v", b, err)
	}
	// The firewalld services open what the daemons listen on by default:
	// lweb on frontend_port and TFTP 69/udp, ltorrent's port range.
	c := luna.DefaultCluster()
	for name, want := range map[string][]string{
		"luna-lweb.xml":     {fmt.Sprintf("tcp/%d", c.FrontendPort), "udp/69"},
		"luna-ltorrent.xml": {fmt.Sprintf("tcp/%d-%d", c.TorrentListenPortMin, c.TorrentListenPortMax)},
	} {
		b, err := os.ReadFile(filepath.Join(prefix, "lib/firewalld/services", name))
		if err != nil {
			t.Fatal(err)
		}
		var svc struct {
			Short string `xml:"short"`
			Ports []struct {
				Protocol string `xml:"protocol,attr"`
				Port     string `xml:"port,attr"`
			} `xml:"port"`
		}
		if err := xml.Unmarshal(b, &svc); err != nil || svc.Short == "" {
			t.Fatalf("%s: %v %+v", name, err, svc)
		}
		var got []string
		for _, p := range svc.Ports {
			got = append(got, p.Protocol+"/"+p.Port)
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s opens %v, want %v", name, got, want)
		}
	}

	// Man pages (make man) and luna's completion scripts.
	for _, page := range []string{"luna", "luna-node-change", "lweb", "ltorrent", "lpower", "lchroot", "lunadb"} {
		fi, err := os.Stat(filepath.Join(prefix, "share/man/man8", page+".8"))
		if err != nil || fi.Mode().Perm() != 0o644 {
			t.Fatalf("man8/%s.8: %v %v", page, fi, err)
		}
	}
	for file, want := range map[string]string{
		"share/bash-completion/completions/luna": "complete -o default -F __start_luna luna",
		"share/zsh/site-functions/_luna":         "#compdef luna",
	} {
		fi, err := os.Stat(filepath.Join(prefix, file))
		if err != nil || fi.Mode().Perm() != 0o644 {
			t.Fatalf("%s: %v %v", file, fi, err)
		}
		if b, _ := os.ReadFile(filepath.Join(prefix, file)); !strings.Contains(string(b), want) {
			t.Fatalf("%s does not contain %q", file, want)
		}
	}

	// A second install keeps an edited luna.conf.
	if err := os.WriteFile(conf, []byte("# edited\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, "make", args...)
	if b, _ := os.ReadFile(conf); string(b) != "# edited\n" {
		t.Fatalf("make install overwrote luna.conf: %q", b)
	}
}
