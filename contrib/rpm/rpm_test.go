// Package rpm_test builds Luna's RPMs as a release does: make dist (a
// tarball with the Go modules vendored), rpmbuild -ba contrib/rpm/luna.spec
// offline (GOPROXY=off, -mod=vendor) with Debian's rpm, then checks what
// each package holds, its modes, owners, %config flags and scriptlets, and
// that the binaries it built run and the sysusers.d file it ships creates
// the luna user.
package rpm_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, tail(string(out), 60))
	}
	return string(out)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// file is one line of rpm -qp --qf: path, mode, owner, group, flags.
type file struct{ mode, user, group, flags string }

func files(t *testing.T, rpm string) map[string]file {
	t.Helper()
	out := run(t, ".", nil, "rpm", "-qp", "--qf",
		`[%{FILENAMES}\t%{FILEMODES:perms}\t%{FILEUSERNAME}\t%{FILEGROUPNAME}\t%{FILEFLAGS:fflags}\n]`, rpm)
	m := map[string]file{}
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		f := strings.Split(l, "\t")
		if len(f) != 5 {
			t.Fatalf("rpm -qp line %q", l)
		}
		m[f[0]] = file{f[1], f[2], f[3], f[4]}
	}
	return m
}

func TestRPMBuild(t *testing.T) {
	for _, tool := range []string{"make", "git", "go", "rpmbuild", "rpm", "rpm2cpio", "cpio", "systemd-sysusers"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed: apt-get install rpm cpio systemd (make deps)", tool)
		}
	}
	if _, err := os.Stat("/usr/share/selinux/devel/Makefile"); err != nil {
		t.Fatal("luna-selinux needs the policy build files: apt-get install selinux-policy-dev (make deps)")
	}
	goBin, _ := exec.LookPath("go")
	root, _ := filepath.Abs("../..")
	tmp := t.TempDir()
	dist := filepath.Join(tmp, "dist")

	start := time.Now()
	run(t, root, nil, "make", "dist", "DISTDIR="+dist)
	t.Logf("make dist: %v", time.Since(start).Round(time.Second))
	tarballs, _ := filepath.Glob(filepath.Join(dist, "luna-*.tar.gz"))
	if len(tarballs) != 1 {
		t.Fatalf("make dist made %v, want one luna-VERSION.tar.gz", tarballs)
	}
	version := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(tarballs[0]), "luna-"), ".tar.gz")
	if _, err := os.Stat(filepath.Join(root, "vendor")); err == nil {
		t.Fatal("make dist left a vendor directory in the source tree")
	}
	list := run(t, root, nil, "tar", "-tzf", tarballs[0])
	for _, want := range []string{"vendor/modules.txt", "version.mk", "go.mod", "contrib/rpm/luna.spec", "cmd/lunadb/main.go"} {
		if !strings.Contains(list, "\nluna-"+version+"/"+want+"\n") {
			t.Fatalf("tarball has no luna-%s/%s", version, want)
		}
	}
	// Files whose name says another GOOS are left out (Luna is Linux only).
	if m := regexp.MustCompile(`(?m)^luna-.*/vendor/.*_(darwin|windows|freebsd)(_[a-z0-9]+)?\.(go|s)$`).FindString(list); m != "" {
		t.Fatalf("tarball vendors %s", m)
	}
	spec := run(t, root, nil, "tar", "-xOzf", tarballs[0], "luna-"+version+"/contrib/rpm/luna.spec")
	if !strings.Contains(spec, "\n%global luna_version "+version+"\n") {
		t.Fatalf("the tarball's luna.spec has no %%global luna_version %s", version)
	}

	// rpmbuild -ba on the spec of the tree, the tarball as Source0. The
	// rpm database here is Debian's (empty): --nodeps skips BuildRequires.
	// Offline: the spec sets GOPROXY=off and -mod=vendor; the empty
	// GOMODCACHE proves nothing is read from the module cache.
	top := filepath.Join(tmp, "rpmbuild")
	start = time.Now()
	run(t, root, []string{"GOMODCACHE=" + filepath.Join(tmp, "nomodcache"), "GOFLAGS="},
		"rpmbuild", "-ba", "--nodeps",
		"--define", "_topdir "+top,
		"--define", "_sourcedir "+dist,
		"--define", "luna_version "+version,
		"--define", "gocmd "+goBin,
		"contrib/rpm/luna.spec")
	t.Logf("rpmbuild -ba: %v", time.Since(start).Round(time.Second))

	pkgs := map[string]string{}
	for _, p := range []string{"luna", "luna-client", "luna-selinux"} {
		m, _ := filepath.Glob(filepath.Join(top, "RPMS", "*", p+"-"+version+"-1*.rpm"))
		if len(m) != 1 {
			all, _ := filepath.Glob(filepath.Join(top, "RPMS", "*", "*.rpm"))
			t.Fatalf("package %s: %v (all: %v)", p, m, all)
		}
		pkgs[p] = m[0]
	}
	if m, _ := filepath.Glob(filepath.Join(top, "SRPMS", "luna-"+version+"-1*.src.rpm")); len(m) != 1 {
		t.Fatalf("source package: %v", m)
	}

	luna := files(t, pkgs["luna"])
	want := map[string]file{
		"/usr/sbin/luna":     {"-rwxr-xr-x", "root", "root", ""},
		"/usr/sbin/lunadb":   {"-rwxr-xr-x", "root", "root", ""},
		"/usr/sbin/lweb":     {"-rwxr-xr-x", "root", "root", ""},
		"/usr/sbin/lpower":   {"-rwxr-xr-x", "root", "root", ""},
		"/usr/sbin/ltorrent": {"-rwxr-xr-x", "root", "root", ""},
		"/usr/sbin/lchroot":  {"-rwxr-xr-x", "root", "root", ""},
		"/usr/share/bash-completion/completions/luna":   {"-rw-r--r--", "root", "root", ""},
		"/usr/share/zsh/site-functions/_luna":           {"-rw-r--r--", "root", "root", ""},
		"/usr/lib/systemd/system/lweb.service":          {"-rw-r--r--", "root", "root", ""},
		"/usr/lib/systemd/system/ltorrent.service":      {"-rw-r--r--", "root", "root", ""},
		"/usr/lib/systemd/system/lunadb.service":        {"-rw-r--r--", "root", "root", ""},
		"/usr/lib/sysusers.d/luna.conf":                 {"-rw-r--r--", "root", "root", ""},
		"/usr/lib/firewalld/services/luna-lweb.xml":     {"-rw-r--r--", "root", "root", ""},
		"/usr/lib/firewalld/services/luna-ltorrent.xml": {"-rw-r--r--", "root", "root", ""},
		"/etc/luna.conf":     {"-rw-------", "luna", "luna", "cn"},
		"/opt/luna":          {"drwxr-xr-x", "luna", "luna", ""},
		"/opt/luna/boot":     {"drwxr-xr-x", "luna", "luna", ""},
		"/opt/luna/torrents": {"drwxr-xr-x", "luna", "luna", ""},
		"/var/log/luna":      {"drwxr-x---", "luna", "luna", ""},
		"/tftpboot":          {"drwxr-xr-x", "root", "root", ""},
		"/usr/share/luna/ansible/library/luna_node.py": {"-rwxr-xr-x", "root", "root", ""},
		"/usr/share/luna/nginx/luna.conf":              {"-rw-r--r--", "root", "root", ""},
		"/usr/share/doc/luna/docs/packaging.md":        {"-rw-r--r--", "root", "root", "d"},
	}
	for path, w := range want {
		got, ok := luna[path]
		if !ok {
			t.Errorf("luna: no %s", path)
		} else if got != w {
			t.Errorf("luna: %s is %+v, want %+v", path, got, w)
		}
	}
	// Man pages: compressed or not, as the rpm's brp-compress does.
	for _, page := range []string{"luna", "lweb", "ltorrent", "lpower", "lchroot", "lunadb", "luna-node-change"} {
		p := "/usr/share/man/man8/" + page + ".8"
		got, ok := luna[p]
		if !ok {
			got, ok = luna[p+".gz"]
		}
		if !ok || got.mode != "-rw-r--r--" || got.flags != "d" {
			t.Errorf("luna: man page %s: %+v (present %v)", p, got, ok)
		}
	}
	for path := range luna {
		if strings.HasSuffix(path, "/ltorrent-client") || strings.Contains(path, "/dracut/") || strings.HasSuffix(path, ".pp") {
			t.Errorf("luna holds %s, which belongs to luna-client or luna-selinux", path)
		}
	}

	client := files(t, pkgs["luna-client"])
	for path, mode := range map[string]string{
		"/usr/lib/luna/ltorrent-client":                          "-rwxr-xr-x",
		"/usr/lib/dracut/modules.d/95luna/module-setup.sh":       "-rwxr-xr-x",
		"/usr/lib/dracut/modules.d/95luna/luna-installer.sh":     "-rwxr-xr-x",
		"/usr/lib/dracut/modules.d/95luna/luna-lib.sh":           "-rwxr-xr-x",
		"/usr/lib/dracut/modules.d/95luna/sshd_config":           "-rw-r--r--",
		"/usr/lib/dracut/modules.d/95luna/luna-parse-cmdline.sh": "-rwxr-xr-x",
	} {
		if got, ok := client[path]; !ok || got.mode != mode {
			t.Errorf("luna-client: %s is %+v (present %v), want mode %s", path, got, ok, mode)
		}
	}
	for path := range client {
		if strings.HasPrefix(path, "/usr/sbin/") || strings.HasPrefix(path, "/etc/") {
			t.Errorf("luna-client holds %s, a server file", path)
		}
	}

	se := files(t, pkgs["luna-selinux"])
	if _, ok := se["/usr/share/selinux/packages/luna.pp"]; !ok || len(se) != 2 {
		t.Errorf("luna-selinux holds %v, want luna.pp and luna.if", se)
	}
	if arch := run(t, ".", nil, "rpm", "-qp", "--qf", "%{ARCH}", pkgs["luna-selinux"]); arch != "noarch" {
		t.Errorf("luna-selinux is %s, want noarch", arch)
	}

	// Scriptlets: the luna user before the files (%pre, the same line as
	// the sysusers.d file), systemd guarded, firewalld reloaded.
	scripts := run(t, ".", nil, "rpm", "-qp", "--scripts", pkgs["luna"])
	sysusers, err := os.ReadFile(filepath.Join(root, "contrib/systemd/luna-sysusers.conf"))
	if err != nil {
		t.Fatal(err)
	}
	userLine := regexp.MustCompile(`(?m)^u luna .*$`).FindString(string(sysusers))
	for _, w := range []string{"preinstall scriptlet", "echo '" + userLine + "' | systemd-sysusers",
		"useradd -r -g luna -d /opt/luna", "[ -d /run/systemd/system ]", "systemctl --no-reload preset lunadb.service lweb.service ltorrent.service",
		"systemctl --no-reload disable --now", "systemctl try-restart", "firewall-cmd --reload"} {
		if userLine == "" || !strings.Contains(scripts, w) {
			t.Errorf("luna's scriptlets lack %q:\n%s", w, scripts)
		}
	}
	sescripts := run(t, ".", nil, "rpm", "-qp", "--scripts", pkgs["luna-selinux"])
	for _, w := range []string{"semodule -n -s targeted -i /usr/share/selinux/packages/luna.pp", "semanage port -a -t $3 -p $1 $2", "semodule -n -r luna"} {
		if !strings.Contains(sescripts, w) {
			t.Errorf("luna-selinux's scriptlets lack %q:\n%s", w, sescripts)
		}
	}

	// The payload: the binaries run and say the tarball's version; the
	// sysusers.d file creates luna with home /opt/luna.
	x := filepath.Join(tmp, "x")
	if err := os.MkdirAll(filepath.Join(x, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", `rpm2cpio "$1" | cpio -idm --quiet`, "sh", pkgs["luna"])
	cmd.Dir = x
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rpm2cpio: %v\n%s", err, out)
	}
	vm := run(t, root, nil, "tar", "-xOzf", tarballs[0], "luna-"+version+"/version.mk")
	wantVersion := regexp.MustCompile(`(?m)^VERSION := (.*)$`).FindStringSubmatch(vm)
	if wantVersion == nil {
		t.Fatalf("version.mk: %q", vm)
	}
	for _, b := range []string{"luna", "lunadb", "lweb", "lpower", "lchroot", "ltorrent"} {
		out := run(t, x, nil, filepath.Join(x, "usr/sbin", b), "--version")
		if !strings.Contains(out, wantVersion[1]) {
			t.Errorf("%s --version: %q, want version %s", b, out, wantVersion[1])
		}
	}
	run(t, x, nil, "systemd-sysusers", "--root="+x, filepath.Join(x, "usr/lib/sysusers.d/luna.conf"))
	passwd, err := os.ReadFile(filepath.Join(x, "etc/passwd"))
	if err != nil || !regexp.MustCompile(`(?m)^luna:x:\d+:\d+:Luna cluster manager:/opt/luna:/sbin/nologin$`).Match(passwd) {
		t.Errorf("systemd-sysusers with the packaged file: /etc/passwd %q (%v)", passwd, err)
	}
}
