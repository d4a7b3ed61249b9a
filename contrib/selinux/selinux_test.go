// Package selinux_test builds the luna-selinux policy module with the
// reference policy's build files (Debian's selinux-policy-dev), as the
// spec's %build does, and checks that its file contexts name the paths
// `make install PREFIX=/usr` and the package put the daemons and their
// files at.
package selinux_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const develMakefile = "/usr/share/selinux/devel/Makefile"

func TestPolicyModuleBuilds(t *testing.T) {
	if _, err := os.Stat(develMakefile); err != nil {
		t.Fatal("the policy build files are needed: apt-get install selinux-policy-dev (make deps)")
	}
	for _, tool := range []string{"make", "checkmodule", "semodule_package", "semodule_unpackage"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed: apt-get install selinux-policy-dev (make deps)", tool)
		}
	}
	dir := t.TempDir()
	for _, f := range []string{"luna.te", "luna.fc", "luna.if"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("make", "-f", develMakefile, "luna.pp")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -f %s luna.pp: %v\n%s", develMakefile, err, out)
	}
	if strings.Contains(string(out), "arning") {
		t.Errorf("the module builds with warnings:\n%s", out)
	}
	// What the package carries unpacks into the module and the contexts.
	cmd = exec.Command("semodule_unpackage", "luna.pp", "luna.mod", "out.fc")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("semodule_unpackage: %v\n%s", err, out)
	}
	fc, err := os.ReadFile(filepath.Join(dir, "out.fc"))
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join(dir, "luna.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for path, typ := range map[string]string{
		"/usr/sbin/lweb":               "lweb_exec_t",
		"/usr/sbin/ltorrent":           "ltorrent_exec_t",
		"/usr/sbin/lunadb":             "lunadb_exec_t",
		"/etc/luna.conf":               "luna_conf_t",
		"/opt/luna/boot/x":             "luna_boot_files_t",
		"/opt/luna/torrents/x.torrent": "luna_torrent_files_t",
		"/run/luna/ltorrent.pid":       "luna_var_run_t",
		"/var/lib/luna/db/luna.sqlite": "lunadb_var_lib_t",
		"/var/log/luna":                "luna_log_t",
	} {
		if got := match(t, string(fc), path); got != typ {
			t.Errorf("%s is labelled %q, want %s", path, got, typ)
		}
		if !strings.Contains(string(mod), typ) {
			t.Errorf("luna.mod declares no %s", typ)
		}
	}
	// The types the spec's %post gives the ports.
	for _, typ := range []string{"luna_frontend_port_t", "lweb_port_t", "ltorrent_port_t", "lweb_t", "ltorrent_t", "lunadb_t"} {
		if !strings.Contains(string(mod), typ) {
			t.Errorf("luna.mod declares no %s", typ)
		}
	}
	spec, err := os.ReadFile("../rpm/luna.spec")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`"tcp 7050 luna_frontend_port_t"`, `"tcp 7052-7200 ltorrent_port_t"`} {
		if !strings.Contains(string(spec), w) {
			t.Errorf("luna.spec's %%post selinux labels no %s", w)
		}
	}
}

// match is the type of the last file-context line whose regular
// expression matches the whole path (the policy picks the most specific;
// in luna.fc the more specific lines come later).
func match(t *testing.T, fc, path string) string {
	t.Helper()
	typ := ""
	for _, l := range strings.Split(fc, "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		re, err := regexp.Compile("^" + f[0] + "$")
		if err != nil {
			t.Fatalf("file context %q: %v", f[0], err)
		}
		if re.MatchString(path) {
			ctx := f[len(f)-1]
			parts := strings.Split(ctx, ":")
			if len(parts) < 3 {
				t.Fatalf("context %q", ctx)
			}
			typ = parts[2]
		}
	}
	return typ
}
