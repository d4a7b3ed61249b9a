package initrd_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// lab is a node's boot network: a /28 of TEST-NET-2 (198.51.100.0/24) on a
// veth pair between a network namespace and the host.
type lab struct {
	ns     string // the namespace, and the host side's interface name
	base   int    // the /28's first address is 198.51.100.<base>
	net    string // its network address
	server string // the host side's address (lweb, dhcpd): .<base+14>
}

const labPrefix = "28"

func (l *lab) addr(off int) string { return fmt.Sprintf("198.51.100.%d", l.base+off) }

func ipCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// bootLab makes a network namespace whose eth0 has the node's MAC and is
// linked by a veth to the host side, where the server address lives. The
// node side is left down and without an address: the installer sets it up.
// The /28 is one the host has no route for, so a concurrent run or the
// leftover of a killed one does not take its replies.
func bootLab(t *testing.T) *lab {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("ip is needed for the boot network: apt-get install iproute2")
	}
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	suffix := hex.EncodeToString(b[:])
	l := &lab{ns: "initrd-" + suffix, base: -1}
	routes := ipCmd(t, "-4", "route", "show", "table", "all")
	for i := range 16 {
		base := 16 * ((int(b[0]) + i) % 16)
		if !strings.Contains(routes, fmt.Sprintf("198.51.100.%d/28 ", base)) && !strings.Contains(routes, "198.51.100.0/24 ") {
			l.base = base
			break
		}
	}
	if l.base < 0 {
		t.Fatalf("every /28 of 198.51.100.0/24 is routed on this host (leftover initrd-* links? ip link del initrd-...):\n%s", routes)
	}
	l.net, l.server = l.addr(0), l.addr(14)
	host := l.ns
	ipCmd(t, "netns", "add", l.ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", l.ns).Run() })
	ipCmd(t, "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", l.ns)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", host).Run() })
	ipCmd(t, "-n", l.ns, "link", "set", "eth0", "address", nodeMAC)
	ipCmd(t, "-n", l.ns, "link", "set", "lo", "up")
	ipCmd(t, "addr", "add", l.server+"/"+labPrefix, "dev", host)
	ipCmd(t, "link", "set", host, "up")
	return l
}

// enterInstaller runs /sbin/luna-installer in the scratch root as dracut's
// hook does, inside the node's network namespace: the host's programs in
// overlays (so the module's files can go to /lib and /sbin as
// module-setup.sh puts them, the host untouched), /sys of that namespace,
// a /dev with no terminals (so no tty2 shell), dracut's own dracut-lib.sh
// and dracut-getarg reading the kernel arguments from /etc/cmdline.d.
const enterInstaller = `set -e
R=$1
for d in usr bin sbin lib lib32 lib64 libx32; do
    if [ -L "/$d" ]; then
        ln -sfn "$(readlink "/$d")" "$R/$d"
    elif [ -d "/$d" ]; then
        mkdir -p "$R/$d" "$R/.overlay/$d/u" "$R/.overlay/$d/w"
        mount -t overlay overlay -o "lowerdir=/$d,upperdir=$R/.overlay/$d/u,workdir=$R/.overlay/$d/w" "$R/$d"
    fi
done
cp "$R"/luna/lib/*.sh "$R/lib/"
cp "$R"/luna/sbin/* "$R/sbin/"
mount -t proc proc "$R/proc"
mount -t sysfs sysfs "$R/sys"
mount -t tmpfs tmpfs "$R/dev"
for n in null zero random urandom; do
    touch "$R/dev/$n"
    mount --bind "/dev/$n" "$R/dev/$n"
done
if [ -n "$2" ]; then # the terminal of the service shell
    touch "$R/dev/ttyluna"
    mount --bind "$2" "$R/dev/ttyluna"
fi
exec chroot "$R" /usr/bin/env -i HOME=/root LUNA_RETRY=1 LUNA_SYSRQ_TRIGGER=/luna/sysrq \
    PATH=/luna/stubs:/luna/bin:/usr/sbin:/usr/bin:/sbin:/bin /bin/bash /sbin/luna-installer
`

// installerRoot adds the module's scripts and dracut's library to a
// scratch root, with the kernel command line the node's boot script gave.
func installerRoot(t *testing.T, root, cmdline string) {
	t.Helper()
	copyFile := func(src, dst string, mode os.FileMode) {
		t.Helper()
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatalf("%v (apt-get install dracut-core)", err)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, mode); err != nil {
			t.Fatal(err)
		}
	}
	// Put in /lib and /sbin by enterInstaller.
	for _, d := range []string{"sys", "var", "run", "luna/bin", "etc/cmdline.d"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile("/usr/lib/dracut/modules.d/99base/dracut-lib.sh", filepath.Join(root, "luna/lib/dracut-lib.sh"), 0o644)
	copyFile("/usr/lib/dracut/modules.d/99base/dracut-dev-lib.sh", filepath.Join(root, "luna/lib/dracut-dev-lib.sh"), 0o644)
	copyFile("luna-lib.sh", filepath.Join(root, "luna/lib/luna-lib.sh"), 0o644)
	copyFile("luna-installer.sh", filepath.Join(root, "luna/sbin/luna-installer"), 0o755)
	copyFile("luna-dhclient-script.sh", filepath.Join(root, "luna/sbin/luna-dhclient-script"), 0o755)
	if err := os.Symlink("/usr/lib/dracut/dracut-util", filepath.Join(root, "luna/bin/dracut-getarg")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/cmdline.d/luna.conf"), []byte(cmdline+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestInstallerBootsNode runs the module's installer as the node's
// initramfs would, with the kernel arguments of the node's boot script:
// the boot interface found by its MAC and configured statically, the
// install script fetched with the boot token (retried while the osimage
// is not packed, reporting why), run, and everything torn down afterwards.
func TestInstallerBootsNode(t *testing.T) {
	lb := bootLab(t)
	ns := lb.ns
	c := newClusterOn(t, lb.server, lb.net, labPrefix)
	c.luna("", "node", "change", "node001", "--setupbmc", "n")
	c.record(false) // boot files, no torrent yet: the install request gets 404
	boot := c.get("/luna?step=discovery&hwdata=%7C" + nodeMAC + "%7C")
	m := regexp.MustCompile(`(?m)^imgargs kernel (.*)$`).FindStringSubmatch(boot)
	if m == nil {
		t.Fatalf("no kernel command line in the boot script:\n%s", boot)
	}
	cmdline := m[1]
	ip := regexp.MustCompile(`luna\.ip=(\S+)`).FindStringSubmatch(cmdline)
	if ip == nil || !strings.Contains(cmdline, "luna.bootproto=static") {
		t.Fatalf("the boot script is not a static boot: %s", cmdline)
	}
	root := scratchRoot(t, "")
	installerRoot(t, root, cmdline)
	c.takeStatuses()

	// The installer ends on its own once installed; a test that fails
	// before stops it (a loaded machine gets minutes).
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	done := make(chan struct{})
	var out []byte
	var err error
	go func() {
		defer close(done)
		cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "unshare", "--mount", "--uts", "--fork", "--kill-child",
			"--propagation", "private", "bash", "-c", enterInstaller, "enter", root, "")
		cmd.WaitDelay = 5 * time.Second
		out, err = cmd.CombinedOutput()
	}()
	t.Cleanup(func() { cancel(); <-done })
	// Once the installer has reported the 404, the image is packed.
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		c.mu.Lock()
		seen := strings.Join(c.statuses, " ")
		c.mu.Unlock()
		if strings.Contains(seen, "install.error.fetch") {
			break
		}
		select {
		case <-done:
			t.Fatalf("the installer ended before the image was packed: %v\n%s", err, out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the installer reported no failed fetch within 2 minutes; statuses %q", seen)
		}
	}
	c.pack(imageTree(t))
	c.seed()
	<-done
	if err != nil {
		t.Fatalf("installer: %v\n%s", err, out)
	}
	console := string(out)
	for _, want := range []string{"Welcome to Luna Installer", "Luna: boot interface eth0 (" + nodeMAC + ")",
		"HTTP 404 (is its osimage packed?)", "Exit from Luna Installer"} {
		if !strings.Contains(console, want) {
			t.Errorf("the console lacks %q:\n%s", want, console)
		}
	}
	got := c.takeStatuses()
	for len(got) > 0 && got[0] == "install.error.fetch" {
		got = got[1:]
	}
	wantStatuses(t, got, "install.prescript", "install.partscript", "install.download", "install.unpack",
		"install.setnet", "install.postscript", "install.success")

	sys := filepath.Join(root, "sysroot")
	if _, err := os.Stat(filepath.Join(sys, "sbin/init")); err != nil {
		t.Errorf("the image is not in /sysroot: %v", err)
	}
	// The boot interface the installer found reached the install script.
	ifcfg := readFile(t, filepath.Join(sys, "etc/sysconfig/network-scripts/ifcfg-eth0"))
	if addr := strings.Split(ip[1], "/")[0]; !strings.Contains(ifcfg, "IPADDR="+addr+"\n") {
		t.Errorf("ifcfg-eth0 lacks IPADDR=%s:\n%s", addr, ifcfg)
	}
	if got := readFile(t, filepath.Join(root, "etc/resolv.conf")); got != "search cluster\nnameserver "+lb.server+"\n" {
		t.Errorf("resolv.conf in the initramfs:\n%s", got)
	}
	if got := strings.TrimSpace(readFile(t, filepath.Join(root, "luna/luna_nic"))); got != "eth0" {
		t.Errorf("/luna/luna_nic = %q, want eth0", got)
	}
	// Torn down: no address left on the boot interface, link down.
	if addrs := ipCmd(t, "-n", ns, "-4", "addr", "show", "dev", "eth0"); strings.Contains(addrs, "inet ") {
		t.Errorf("the boot interface keeps an address after the installer:\n%s", addrs)
	}
	if link := ipCmd(t, "-n", ns, "link", "show", "dev", "eth0"); !strings.Contains(link, "state DOWN") {
		t.Errorf("the boot interface is still up after the installer:\n%s", link)
	}
}

// openPTY opens a pseudo-terminal: its master and the path of its slave.
func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatalf("unlock pty: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatalf("pty number: %v", e)
	}
	return m, fmt.Sprintf("/dev/pts/%d", n)
}

// TestInstallerServiceMode boots the node with luna.service=1: the network
// comes up, a shell runs on luna.ctty (a pseudo-terminal the test types
// into), no install script is fetched, and when the shell exits the
// installer tears down and reboots the node (the sysrq key is written to a
// file instead of /proc/sysrq-trigger) rather than falling into dracut's
// emergency shell.
func TestInstallerServiceMode(t *testing.T) {
	lb := bootLab(t)
	ns := lb.ns
	c := newClusterOn(t, lb.server, lb.net, labPrefix)
	c.luna("", "node", "change", "node001", "--service", "y")
	c.record(false)
	boot := c.get("/luna?step=discovery&hwdata=%7C" + nodeMAC + "%7C")
	m := regexp.MustCompile(`(?m)^imgargs kernel (.*)$`).FindStringSubmatch(boot)
	if m == nil || !strings.Contains(m[1], "luna.service=1") {
		t.Fatalf("no service-mode kernel command line in the boot script:\n%s", boot)
	}
	root := scratchRoot(t, "")
	installerRoot(t, root, m[1]+" luna.ctty=ttyluna")
	master, slave := openPTY(t)
	c.takeStatuses()

	// Type into the shell once it has printed its prompt.
	typed := make(chan error, 1)
	go func() {
		buf := make([]byte, 4096)
		if _, err := master.Read(buf); err != nil {
			typed <- err
			return
		}
		_, err := master.WriteString("echo in-service-mode > /luna/service-shell; exit\n")
		typed <- err
		for {
			if _, err := master.Read(buf); err != nil {
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "unshare", "--mount", "--uts", "--fork", "--kill-child",
		"--propagation", "private", "bash", "-c", enterInstaller, "enter", root, slave)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("installer: %v\n%s", err, out)
	}
	select {
	case err := <-typed:
		if err != nil {
			t.Fatalf("typing into the service shell: %v", err)
		}
	default:
		t.Fatalf("the service shell never printed a prompt:\n%s", out)
	}
	if got := readFile(t, filepath.Join(root, "luna/service-shell")); got != "in-service-mode\n" {
		t.Errorf("the service shell did not run the typed command: %q", got)
	}
	if got := readFile(t, filepath.Join(root, "luna/sysrq")); got != "b\n" {
		t.Errorf("sysrq key %q, want b (reboot)", got)
	}
	if !strings.Contains(string(out), "Entering Service mode") || !strings.Contains(string(out), "service mode ended: reboot") {
		t.Errorf("console:\n%s", out)
	}
	if got := c.takeStatuses(); len(got) != 0 {
		t.Errorf("statuses in service mode: %v, want none", got)
	}
	if got := c.storedStatus(); got != "boot.request" {
		t.Errorf("stored status %q, want boot.request (no install script fetched in service mode)", got)
	}
	if addrs := ipCmd(t, "-n", ns, "-4", "addr", "show", "dev", "eth0"); strings.Contains(addrs, "inet ") {
		t.Errorf("the boot interface keeps an address after service mode:\n%s", addrs)
	}
}

// startDHCPD runs ISC dhcpd on the host side of the boot network, handing
// out addresses of the lab network with lweb's address as router and name
// server.
func startDHCPD(t *testing.T, lb *lab) (leases string) {
	t.Helper()
	dhcpd, err := exec.LookPath("dhcpd")
	if err != nil {
		t.Fatal("dhcpd is needed for the DHCP boot: apt-get install isc-dhcp-server")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "dhcpd.conf")
	leases = filepath.Join(dir, "dhcpd.leases")
	text := fmt.Sprintf(`authoritative;
default-lease-time 600;
max-lease-time 600;
subnet %s netmask 255.255.255.240 {
  range %s %s;
  option routers %s;
  option domain-name-servers %s;
  option domain-name "cluster";
}
`, lb.net, lb.addr(8), lb.addr(12), lb.server, lb.server)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(leases, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(dhcpd, "-f", "-d", "-4", "-cf", conf, "-lf", leases, "-pf", filepath.Join(dir, "dhcpd.pid"), lb.ns)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("dhcpd:\n%s", out.String())
		}
	})
	return leases
}

// TestInstallerDHCP boots a node whose group's boot interface has no
// network, so lweb gives it luna.bootproto=dhcp: the installer gets a lease
// with dhclient (through luna-dhclient-script: address, route, name
// servers), knows the interface that reaches lweb as the boot interface,
// installs, and stops dhclient and flushes the lease's address afterwards.
func TestInstallerDHCP(t *testing.T) {
	if _, err := exec.LookPath("dhclient"); err != nil {
		t.Fatal("dhclient is needed for the DHCP boot: apt-get install isc-dhcp-client")
	}
	lb := bootLab(t)
	ns := lb.ns
	leases := startDHCPD(t, lb)
	c := newClusterOn(t, lb.server, lb.net, labPrefix)
	c.luna("", "node", "change", "node001", "--setupbmc", "n")
	c.luna("", "group", "change", "compute", "-i", "BOOTIF", "--delnet", "cluster")
	// Without a boot address the node asks from its DHCP lease, which lweb
	// cannot tell from anyone else's address: this test is about the
	// network, so the cluster runs open as Luna 1.2 did (boot identity is
	// tested with the static boots and in internal/lweb).
	c.luna("", "cluster", "change", "--insecure_install", "y")
	c.pack(imageTree(t))
	c.seed()
	boot := c.get("/luna?step=discovery&hwdata=%7C" + nodeMAC + "%7C")
	m := regexp.MustCompile(`(?m)^imgargs kernel (.*)$`).FindStringSubmatch(boot)
	if m == nil || !strings.Contains(m[1], "luna.bootproto=dhcp") {
		t.Fatalf("no DHCP kernel command line in the boot script:\n%s", boot)
	}
	root := scratchRoot(t, "")
	installerRoot(t, root, m[1])
	c.takeStatuses()

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "unshare", "--mount", "--uts", "--fork", "--kill-child",
		"--propagation", "private", "bash", "-c", enterInstaller, "enter", root, "")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("installer: %v\n%s", err, out)
	}
	wantStatuses(t, c.takeStatuses(), "install.prescript", "install.partscript", "install.download", "install.unpack",
		"install.setnet", "install.postscript", "install.success")
	if l := readFile(t, leases); !strings.Contains(l, "hardware ethernet "+nodeMAC) {
		t.Errorf("dhcpd gave the node no lease:\n%s", l)
	}
	if got := readFile(t, filepath.Join(root, "etc/resolv.conf")); got != "search cluster\nnameserver "+lb.server+"\n" {
		t.Errorf("resolv.conf from the lease:\n%s", got)
	}
	if got := strings.TrimSpace(readFile(t, filepath.Join(root, "luna/luna_bootif"))); got != "eth0" {
		t.Errorf("boot interface %q, want eth0", got)
	}
	want := "DEVICE=eth0\nNAME=eth0\nONBOOT=yes\nBOOTPROTO=dhcp\n"
	if got := readFile(t, filepath.Join(root, "sysroot/etc/sysconfig/network-scripts/ifcfg-eth0")); got != want {
		t.Errorf("ifcfg-eth0 of a DHCP node:\n%s\nwant\n%s", got, want)
	}
	if _, err := os.Stat(filepath.Join(root, "luna/dhclient.leases")); !os.IsNotExist(err) {
		t.Errorf("the DHCP lease file is left (%v)", err)
	}
	if addrs := ipCmd(t, "-n", ns, "-4", "addr", "show", "dev", "eth0"); strings.Contains(addrs, "inet ") {
		t.Errorf("the boot interface keeps its lease after the installer:\n%s", addrs)
	}
	if routes := ipCmd(t, "-n", ns, "-4", "route", "show"); strings.Contains(routes, "default") {
		t.Errorf("a default route is left after the installer:\n%s", routes)
	}
}
