package render

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clustervision/luna-go/internal/luna"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/render -update)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

const base = "http://10.30.255.254:7050"

func bootShapes() map[string]*luna.BootParams {
	static := &luna.BootParams{BaseURL: base, Name: "node001", Hostname: "node001.cluster", Domain: "cluster",
		MAC: "00:11:22:33:44:55", KernelFile: "compute-vmlinuz-5.10.0-9-amd64", InitrdFile: "compute-initramfs-5.10.0-9-amd64",
		KernOpts: "console=ttyS0", BootProto: "static", Net4: &luna.BootNet{IP: "10.30.0.1", Prefix: 16, Netmask: "255.255.0.0"},
		Token: "0123456789abcdef0123456789abcdef"}
	dhcp := *static
	dhcp.MAC, dhcp.BootProto, dhcp.Net4, dhcp.Token, dhcp.KernOpts = "", "dhcp", nil, "", ""
	v6 := *static
	v6.Net4, v6.Net6 = nil, &luna.BootNet{IP: "fd00:1::1", Prefix: 64}
	local := *static
	local.LocalBoot = true
	unpacked := dhcp
	unpacked.KernelFile, unpacked.InitrdFile = "", ""
	service := *static
	service.Service = true
	return map[string]*luna.BootParams{"static": static, "dhcp": &dhcp, "ipv6only": &v6, "localboot": &local,
		"unpacked": &unpacked, "service": &service}
}

func TestNodeBootGolden(t *testing.T) {
	r := &Renderer{}
	for name, p := range bootShapes() {
		for _, kind := range []string{"ipxe", "syslinux"} {
			out, err := r.NodeBoot(kind, p)
			if err != nil {
				t.Fatalf("%s %s: %v", name, kind, err)
			}
			golden(t, "nodeboot-"+kind+"-"+name+".golden", out)
		}
	}
	if _, err := r.NodeBoot("pxelinux", bootShapes()["static"]); err == nil {
		t.Fatal("an unknown boot script type must be an error")
	}
}

func TestCmdline(t *testing.T) {
	got := bootShapes()["static"].Cmdline()
	want := "root=luna luna.bootproto=static luna.mac=00:11:22:33:44:55 luna.ip=10.30.0.1/16 luna.url=http://10.30.255.254:7050/luna luna.node=node001 luna.hostname=node001.cluster luna.service=0 luna.token=0123456789abcdef0123456789abcdef console=ttyS0 initrd=compute-initramfs-5.10.0-9-amd64"
	if got != want {
		t.Fatalf("cmdline\n got %s\nwant %s", got, want)
	}
}

func TestMenuGolden(t *testing.T) {
	out, err := (&Renderer{}).Menu(MenuData{BaseURL: base, Nodes: []string{"node001", "node002", "gpu01"}})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "ipxe-menu.golden", out)
	if !strings.HasPrefix(string(out), "#!ipxe\n") {
		t.Fatal("the menu must start with #!ipxe")
	}
}

func installShapes() map[string]*luna.InstallParams {
	full := &luna.InstallParams{BaseURL: base, Name: "node001", Hostname: "node001.cluster", Domain: "cluster",
		MAC: "00:11:22:33:44:55", Token: "0123456789abcdef0123456789abcdef",
		PreScript: "echo pre", PartScript: "mount -t tmpfs tmpfs /sysroot",
		PostScript: "cat << EOF >> /sysroot/etc/fstab\ntmpfs   /       tmpfs    defaults        0 0\nEOF",
		Interfaces: []luna.InstallIface{
			{Name: "BMC", IPv4: "10.31.0.1", Prefix4: 16, Netmask4: "255.255.0.0"},
			{Name: "BOOTIF", IPv4: "10.30.0.1", Prefix4: 16, Netmask4: "255.255.0.0", IPv6: "fd00:1::1", Prefix6: 64},
			{Name: "ib0", IPv4: "10.32.0.1", Prefix4: 16, Netmask4: "255.255.0.0", Params: "MTU=65520\nCONNECTED_MODE=yes"},
		},
		KernVer: "5.10.0-9-amd64", Torrent: "6d3e0ad6-1a0b-4c1e-9e0a-5d1c2b3a4f5e.torrent", Tarball: "6d3e0ad6-1a0b-4c1e-9e0a-5d1c2b3a4f5e.tgz",
		BMC: &luna.InstallBMC{UserID: 3, User: "ladmin", Password: "pa ss'word", NetChannel: 1, MgmtChannel: 1, IP: "10.31.0.1", Netmask: "255.255.0.0"}}
	minimal := &luna.InstallParams{BaseURL: base, Name: "node002", Hostname: "node002",
		Interfaces: []luna.InstallIface{{Name: "BOOTIF"}}, Torrent: "t.torrent", Tarball: "t.tgz"}
	torrentIf := *full
	torrentIf.TorrentIf, torrentIf.TorrentIfIP, torrentIf.TorrentIfPfx = "ib0", "10.32.0.1", 16
	torrentBoot := *full
	torrentBoot.TorrentIf, torrentBoot.TorrentIfIP, torrentBoot.TorrentIfPfx, torrentBoot.TorrentIfIsBoo = "BOOTIF", "10.30.0.1", 16, true
	noBMCIP := *full
	noBMCIP.BMC = &luna.InstallBMC{UserID: 3, User: "ladmin", Password: "ladmin", NetChannel: 1, MgmtChannel: 1}
	return map[string]*luna.InstallParams{"full": full, "minimal": minimal, "torrentif": &torrentIf,
		"torrentif-boot": &torrentBoot, "bmc-noip": &noBMCIP}
}

func TestInstallGoldenAndBashSyntax(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal("bash is needed to check the install script: apt-get install bash")
	}
	shellcheck, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Fatal("shellcheck is needed to check the install script: apt-get install shellcheck")
	}
	r := &Renderer{}
	for name, p := range installShapes() {
		out, err := r.InstallScript(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		golden(t, "install-"+name+".golden", out)
		f := filepath.Join(t.TempDir(), "install.sh")
		if err := os.WriteFile(f, out, 0o755); err != nil {
			t.Fatal(err)
		}
		if msg, err := exec.Command(bash, "-n", f).CombinedOutput(); err != nil {
			t.Errorf("%s: bash -n: %v\n%s", name, err, msg)
		}
		if msg, err := exec.Command(shellcheck, f).CombinedOutput(); err != nil {
			t.Errorf("%s: shellcheck: %v\n%s", name, err, msg)
		}
		for _, step := range []string{"install.prescript", "install.partscript", "install.download", "install.unpack",
			"install.setnet", "install.postscript", "install.success"} {
			if !strings.Contains(string(out), step) {
				t.Errorf("%s: the install script lacks status %s", name, step)
			}
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"": "''", "a b": "'a b'", "it's": `'it'\''s'`, "$(id)": "'$(id)'"} {
		if got := ShellQuote(in); got != want {
			t.Errorf("ShellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestOverride(t *testing.T) {
	dir := t.TempDir()
	r := &Renderer{Dir: dir}
	if err := os.WriteFile(filepath.Join(dir, IPXEMenu), []byte("#!ipxe\necho custom {{len .Nodes}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := r.Menu(MenuData{BaseURL: base, Nodes: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "#!ipxe\necho custom 2\n" {
		t.Fatalf("override not used: %q", out)
	}
	if err := os.WriteFile(filepath.Join(dir, NodeBootIPXE), []byte("{{.NoSuchField}}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := r.NodeBoot("ipxe", bootShapes()["static"]); err == nil {
		t.Fatal("a template naming a missing field must fail")
	}
}

// TestStoredValuesCannotInject: values as a database migrated from Luna
// 1.2 may hold them (1.2 validated no name) never add a command or an
// argument to a script: a boot script (iPXE, syslinux) whose node name,
// host name, MAC, file names or server URL would break a line or a word is
// refused with one line naming the value, kernel options may not break the
// line, the install script refuses names with line breaks and interface
// names that would leave its directory, and the boot menu leaves out nodes
// it could not list safely. 1.2 names that are merely unusual (`_`, `.`)
// still render.
func TestStoredValuesCannotInject(t *testing.T) {
	r := &Renderer{}
	static := bootShapes()["static"]
	for _, kind := range []string{"ipxe", "syslinux"} {
		for _, bad := range []func(p *luna.BootParams){
			func(p *luna.BootParams) { p.Name = "node001\nchain http://evil/x" },
			func(p *luna.BootParams) { p.Name = "node 001" },
			func(p *luna.BootParams) { p.Hostname = "node001.c luna.service=1" },
			func(p *luna.BootParams) { p.Name = "node${x}" },
			func(p *luna.BootParams) { p.MAC = "00:11:22:33:44:55\nshell" },
			func(p *luna.BootParams) { p.KernelFile = "k initrd=evil" },
			func(p *luna.BootParams) { p.InitrdFile = "i'" },
			func(p *luna.BootParams) { p.BaseURL = base + "\nshell" },
			func(p *luna.BootParams) { p.KernOpts = "console=ttyS0\nshell" },
		} {
			p := *static
			bad(&p)
			out, err := r.NodeBoot(kind, &p)
			if err == nil || !strings.Contains(err.Error(), "cannot go into the boot script") || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s boot script for %+v: err %v, want a one-line refusal\n%s", kind, p, err, out)
			}
		}
		p := *static
		p.Name, p.Hostname = "node_01.a", "node_01.a.tight_net"
		if _, err := r.NodeBoot(kind, &p); err != nil {
			t.Errorf("%s boot script for a 1.2 name with '_' and '.': %v", kind, err)
		}
	}

	full := installShapes()["full"]
	for _, bad := range []func(p *luna.InstallParams){
		func(p *luna.InstallParams) { p.Name = "node001\ntouch /tmp/pwned" },
		func(p *luna.InstallParams) { p.Hostname = "node001\rtouch /tmp/pwned" },
		func(p *luna.InstallParams) {
			p.Interfaces = append([]luna.InstallIface(nil), p.Interfaces...)
			p.Interfaces[2].Name = "../../etc/cron.d/x"
		},
		func(p *luna.InstallParams) {
			p.Interfaces = append([]luna.InstallIface(nil), p.Interfaces...)
			p.Interfaces[2].Name = "ib0\nreboot"
		},
	} {
		p := *full
		bad(&p)
		if out, err := r.InstallScript(&p); err == nil || !strings.Contains(err.Error(), "cannot go into the install script") {
			t.Errorf("install script for %+v: err %v, want a refusal\n%s", p, err, out)
		}
	}
	// Quoted values may hold anything but line breaks in names.
	p := *full
	p.Name, p.Hostname = "node 001;$(id)", "node 001;$(id).cluster"
	p.Interfaces = append([]luna.InstallIface(nil), p.Interfaces...)
	p.Interfaces[2].Name = "ib 0;$(id)"
	if _, err := r.InstallScript(&p); err != nil {
		t.Errorf("install script with quoted metacharacters: %v", err)
	}

	out, err := r.Menu(MenuData{BaseURL: base, Nodes: []string{"node001", "bad name", "x\nshell", "n$x", "", "node_02"}})
	if err != nil {
		t.Fatal(err)
	}
	var items []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "item ") && !strings.HasPrefix(l, "item --") && l != "item back Back" {
			items = append(items, l)
		}
	}
	if strings.Join(items, "|") != "item node001 node001|item node_02 node_02" {
		t.Errorf("menu node items %q, want node001 and node_02 only", items)
	}
	for _, bad := range []string{"bad name", "item x\n", "n$x"} {
		if strings.Contains(string(out), bad) {
			t.Errorf("the menu holds %q:\n%s", bad, out)
		}
	}
	if _, err := r.Menu(MenuData{BaseURL: base + " x", Nodes: []string{"node001"}}); err == nil {
		t.Error("a menu with a server URL holding a space rendered")
	}
}
