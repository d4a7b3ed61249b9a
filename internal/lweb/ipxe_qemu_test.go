package lweb

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clustervision/luna-go/internal/cli"
	"github.com/clustervision/luna-go/internal/store"
	"github.com/clustervision/luna-go/internal/testutil"
)

// The MAC qemu gives the guest NIC, and the node it belongs to.
const (
	qemuMAC  = "52:54:00:12:34:56"
	qemuNode = "node001"
)

// qemuROMs are where Debian's ipxe-qemu puts the virtio-net option ROM
// (efi-virtio.rom is qemu's default for virtio-net-pci: legacy + EFI iPXE).
var qemuROMs = []string{
	"/usr/lib/ipxe/qemu/efi-virtio.rom",
	"/usr/lib/ipxe/qemu/pxe-virtio.rom",
	"/usr/share/qemu/efi-virtio.rom",
	"/usr/share/qemu/pxe-virtio.rom",
}

// TestQemuIPXEBoot boots a real iPXE (qemu's virtio-net option ROM, under
// TCG) against a real lweb on the host's loopback, reached from the guest as
// 10.0.2.2 through qemu's user network, and checks from lweb's own request
// log what the node did:
//
//  1. known MAC: iPXE fetches the menu, lets the default "ask" run after the
//     menu timeout, discovery identifies node001 by ${mac}, the node's boot
//     script makes iPXE download the kernel and the initrd from /boot/, and
//     node001's status becomes boot.request;
//  2. then the MAC is removed: discovery answers 404, the menu prints its
//     error, returns to itself and asks again.
func TestQemuIPXEBoot(t *testing.T) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Fatalf("qemu-system-x86_64 is not installed (%v): install with: apt-get install qemu-system-x86 ipxe-qemu", err)
	}
	rom := ""
	for _, p := range qemuROMs {
		if _, err := os.Stat(p); err == nil {
			rom = p
			break
		}
	}
	if rom == "" {
		t.Fatalf("no iPXE virtio ROM in %s: install with: apt-get install qemu-system-x86 ipxe-qemu", strings.Join(qemuROMs, ", "))
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	conf := filepath.Join(dir, "luna.conf")
	if err := os.WriteFile(conf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	db := testutil.NewDatabase()
	env := map[string]string{"LUNA_MONGO_URI": testutil.URI(), "LUNA_DB": db, "LUNA_CONF": conf, "LUNA_LOGDIR": filepath.Join(dir, "log")}
	getenv := func(k string) string { return env[k] }
	luna := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		io := cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: getenv}
		if code := cli.Main(ctx, args, io); code != 0 {
			t.Fatalf("luna %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
		}
		return out.String()
	}
	st, err := store.Open(ctx, testutil.URI(), db, "test", 10*time.Second)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		_ = st.DropDatabase(context.Background())
		_ = st.Close(context.Background())
	})

	// The cluster: frontend 10.0.2.2 (the host as qemu's user network sees it).
	img := filepath.Join(dir, "img")
	for _, d := range []string{filepath.Join(img, "lib/modules/5.10.0-9-amd64"), filepath.Join(img, "boot"), filepath.Join(dir, "boot")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(img, "boot/vmlinuz-5.10.0-9-amd64"), []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	luna("cluster", "init", "--frontend_address", "10.0.2.2", "--user", "root", "--path", dir)
	luna("network", "add", "-n", "cluster", "-N", "10.30.0.0", "-P", "16", "--ns_hostname", "master")
	luna("osimage", "add", "-n", "compute", "-p", img)
	luna("group", "add", "-n", "compute", "-o", "compute", "-N", "cluster")
	luna("node", "add", "-g", "compute")
	luna("node", "change", qemuNode, "--mac", qemuMAC)

	// The boot files, as `osimage pack` would leave them.
	kernel, initrd := qemuKernel(t), qemuRandom(t, 4096)
	if err := os.WriteFile(filepath.Join(dir, "boot", "compute-vmlinuz-test"), kernel, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "boot", "compute-initramfs-test"), initrd, 0o644); err != nil {
		t.Fatal(err)
	}
	var osi store.OSImage
	if err := st.GetByName(ctx, store.OSImages, "compute", &osi); err != nil {
		t.Fatal(err)
	}
	if err := st.Set(ctx, store.OSImages, osi.ID, map[string]any{"kernfile": "compute-vmlinuz-test", "initrdfile": "compute-initramfs-test"}); err != nil {
		t.Fatal(err)
	}

	// lweb on the loopback, on the port the scripts name (frontend_port).
	port := qemuFreePort(t)
	luna("cluster", "change", "--frontend_port", port)
	logbuf := &qemuLog{}
	log := slog.New(slog.NewTextHandler(logbuf, nil))
	ready := make(chan string, 1)
	lwebDone := make(chan error, 1)
	lctx, lcancel := context.WithCancel(ctx)
	go func() {
		lwebDone <- Run(lctx, Options{Listen: "127.0.0.1:" + port, MenuTimeout: 2 * time.Second}, log, getenv, ready)
	}()
	select {
	case <-ready:
	case err := <-lwebDone:
		t.Fatalf("lweb: %v\n%s", err, logbuf.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("lweb did not start\n%s", logbuf.String())
	}
	t.Cleanup(func() {
		lcancel()
		select {
		case err := <-lwebDone:
			if err != nil {
				t.Errorf("lweb: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("lweb did not stop")
		}
	})

	// qemu: DHCP and TFTP from its user network; boot.ipxe chains to lweb.
	tftp := filepath.Join(dir, "tftp")
	if err := os.MkdirAll(tftp, 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!ipxe\ndhcp\nchain http://10.0.2.2:" + port + "/luna?step=boot\n"
	if err := os.WriteFile(filepath.Join(tftp, "boot.ipxe"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	console := filepath.Join(dir, "console.log")
	cf, err := os.Create(console)
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	nic := "virtio-net-pci,netdev=n0,mac=" + qemuMAC + ",romfile=" + rom
	if qemuROMDevice(t, rom) == 0x1041 {
		// Debian's ROM says "virtio-net 1.0" (1af4:1041) in its PCI
		// header; SeaBIOS runs it only on a device with that id, which
		// qemu's virtio-net-pci is without its legacy (1af4:1000) face.
		nic += ",disable-legacy=on"
	}
	cmd := exec.Command(qemu, "-accel", "tcg", "-m", "256", "-nographic", "-no-reboot", "-boot", "n",
		"-netdev", "user,id=n0,tftp="+tftp+",bootfile=boot.ipxe", "-device", nic)
	cmd.Stdout, cmd.Stderr = cf, cf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start qemu: %v", err)
	}
	qemuDone := make(chan error, 1)
	go func() { qemuDone <- cmd.Wait() }()
	stopQemu := func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
		select {
		case <-qemuDone:
		case <-time.After(10 * time.Second):
		}
	}
	defer stopQemu()
	dump := func() {
		t.Helper()
		out, _ := os.ReadFile(console)
		t.Logf("qemu console (%s):\n%s", console, qemuPrintable(out))
		t.Logf("lweb log:\n%s", logbuf.String())
	}

	// wait polls lweb's log until cond finds what it looks for.
	wait := func(what string, limit time.Duration, cond func([]qemuRequest) (int, bool)) int {
		t.Helper()
		deadline := time.Now().Add(limit)
		for {
			if i, ok := cond(logbuf.requests()); ok {
				t.Logf("%5.1fs %s", time.Since(start).Seconds(), what)
				return i
			}
			select {
			case err := <-qemuDone:
				dump()
				t.Fatalf("qemu exited (%v) before %s", err, what)
			case <-time.After(250 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				dump()
				t.Fatalf("no %s within %s", what, limit)
			}
		}
	}
	find := func(from int, match func(qemuRequest) bool) (int, bool) {
		rs := logbuf.requests()
		for i := from; i < len(rs); i++ {
			if match(rs[i]) {
				return i, true
			}
		}
		return 0, false
	}
	fromQemu := func(r qemuRequest) bool { return r.client == "127.0.0.1" }

	// 1. The known MAC boots.
	iMenu := wait("menu request", 90*time.Second, func([]qemuRequest) (int, bool) {
		return find(0, func(r qemuRequest) bool { return fromQemu(r) && r.uri == "/luna?step=boot" })
	})
	if r := logbuf.requests()[iMenu]; r.status != 200 {
		dump()
		t.Fatalf("menu: status %d, want 200", r.status)
	}
	iDisc := wait("discovery with the node's MAC", 60*time.Second, func([]qemuRequest) (int, bool) {
		return find(iMenu+1, func(r qemuRequest) bool { return fromQemu(r) && r.step() == "discovery" })
	})
	disc := logbuf.requests()[iDisc]
	if hw := disc.query().Get("hwdata"); !strings.Contains(hw, qemuMAC) || disc.status != 200 {
		dump()
		t.Fatalf("discovery %s: status %d, hwdata %q; want 200 and a hwdata with %s", disc.uri, disc.status, hw, qemuMAC)
	}
	iKernel := wait("kernel download", 60*time.Second, func([]qemuRequest) (int, bool) {
		return find(iDisc+1, func(r qemuRequest) bool { return fromQemu(r) && r.uri == "/boot/compute-vmlinuz-test" })
	})
	iInitrd := wait("initrd download", 60*time.Second, func([]qemuRequest) (int, bool) {
		return find(iKernel+1, func(r qemuRequest) bool { return fromQemu(r) && r.uri == "/boot/compute-initramfs-test" })
	})
	for _, i := range []int{iKernel, iInitrd} {
		if r := logbuf.requests()[i]; r.status != 200 {
			dump()
			t.Fatalf("GET %s: status %d, want 200", r.uri, r.status)
		}
	}
	// lweb may store statuses in batches: give it a few seconds.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var nd store.Node
		if err := st.GetByName(ctx, store.Nodes, qemuNode, &nd); err != nil {
			t.Fatal(err)
		}
		if nd.Status != nil && nd.Status.Step == "boot.request" {
			break
		}
		if time.Now().After(deadline) {
			dump()
			t.Fatalf("%s status %+v, want boot.request", qemuNode, nd.Status)
		}
	}
	// The fake kernel is an iPXE script that prints the command line it got.
	waitConsole := func(what, text string, limit time.Duration) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for {
			out, _ := os.ReadFile(console)
			if bytes.Contains(out, []byte(text)) {
				return
			}
			if time.Now().After(deadline) {
				dump()
				t.Fatalf("no %s (%q) on the qemu console within %s", what, text, limit)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	waitConsole("the stand-in kernel running", qemuKernelMarker, 30*time.Second)

	// 2. The MAC is removed: discovery fails, the menu loops and asks again.
	mark := len(logbuf.requests())
	luna("node", "change", qemuNode, "--mac", "")
	i404 := wait("discovery answered 404", 60*time.Second, func([]qemuRequest) (int, bool) {
		return find(mark, func(r qemuRequest) bool { return fromQemu(r) && r.step() == "discovery" && r.status == 404 })
	})
	if hw := logbuf.requests()[i404].query().Get("hwdata"); !strings.Contains(hw, qemuMAC) {
		dump()
		t.Fatalf("404 discovery hwdata %q, want %s in it", hw, qemuMAC)
	}
	iAgain := wait("discovery asked again after the 404", 60*time.Second, func([]qemuRequest) (int, bool) {
		return find(i404+1, func(r qemuRequest) bool { return fromQemu(r) && r.step() == "discovery" })
	})
	for _, r := range logbuf.requests()[i404+1 : iAgain] {
		if strings.HasPrefix(r.uri, "/boot/") {
			dump()
			t.Fatalf("GET %s after discovery failed", r.uri)
		}
	}
	t.Logf("%5.1fs done", time.Since(start).Seconds())
	if testing.Verbose() {
		dump()
	}
}

// qemuFreePort is a TCP port nobody listens on at 127.0.0.1 right now.
func qemuFreePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// qemuROMDevice is the PCI device id in an option ROM's PCI data structure.
func qemuROMDevice(t *testing.T, rom string) uint16 {
	b, err := os.ReadFile(rom)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 0x1a || b[0] != 0x55 || b[1] != 0xaa {
		t.Fatalf("%s is not a PCI option ROM", rom)
	}
	p := int(b[0x18]) | int(b[0x19])<<8
	if len(b) < p+8 || string(b[p:p+4]) != "PCIR" {
		t.Fatalf("%s has no PCI data structure", rom)
	}
	return uint16(b[p+6]) | uint16(b[p+7])<<8
}

// qemuKernel stands in for a kernel. Random bytes will not do: this iPXE
// (BIOS build) takes any small file it cannot place as a PXE NBP, so
// `imgexec kernel` would jump into them and the guest would hang. An iPXE
// script is an image iPXE loads, passes arguments to and runs: it prints a
// marker and `imgstat` (every image with its command line), ends, and the
// node's boot script, the chain and so the menu carry on. The random part
// (a few KB of comment lines) only gives it the size of a file.
func qemuKernel(t *testing.T) []byte {
	var b strings.Builder
	b.WriteString("#!ipxe\n")
	rnd := qemuRandom(t, 2048)
	for i := 0; i < len(rnd); i += 32 {
		b.WriteString("# " + hex.EncodeToString(rnd[i:i+32]) + "\n")
	}
	b.WriteString("echo " + qemuKernelMarker + "\nimgstat\n")
	return []byte(b.String())
}

// qemuKernelMarker is what the stand-in kernel prints when it runs.
const qemuKernelMarker = "luna-test-kernel-running"

func qemuRandom(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// qemuPrintable strips the terminal control sequences iPXE and the BIOS send.
func qemuPrintable(b []byte) string {
	var sb strings.Builder
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == 0x1b: // ESC [ ... final byte
			if i+1 < len(b) && b[i+1] == '[' {
				i += 2
				for i < len(b) && (b[i] < 0x40 || b[i] > 0x7e) {
					i++
				}
			}
		case c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f):
			sb.WriteByte(c)
		case c == '\r':
		}
	}
	return sb.String()
}

// qemuLog is lweb's log: a buffer safe for the server and the test at once.
type qemuLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *qemuLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *qemuLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// qemuRequest is one "request" line of lweb's log.
type qemuRequest struct {
	uri, client string
	status      int
}

func (r qemuRequest) query() url.Values {
	_, q, _ := strings.Cut(r.uri, "?")
	v, _ := url.ParseQuery(q)
	return v
}

func (r qemuRequest) step() string {
	if !strings.HasPrefix(r.uri, "/luna?") {
		return ""
	}
	return r.query().Get("step")
}

// requests parses the "request" lines logged so far, in order.
func (l *qemuLog) requests() []qemuRequest {
	var rs []qemuRequest
	for _, line := range strings.Split(l.String(), "\n") {
		kv, err := qemuLogfmt(line)
		if err != nil || kv["msg"] != "request" {
			continue
		}
		code, _ := strconv.Atoi(kv["status"])
		rs = append(rs, qemuRequest{uri: kv["uri"], client: kv["client"], status: code})
	}
	return rs
}

// qemuLogfmt splits one line of slog's text handler into keys and values.
func qemuLogfmt(line string) (map[string]string, error) {
	kv := map[string]string{}
	for line = strings.TrimSpace(line); line != ""; line = strings.TrimLeft(line, " ") {
		k, rest, ok := strings.Cut(line, "=")
		if !ok || strings.ContainsAny(k, " \"") {
			return nil, errors.New("no key=value")
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return nil, err
			}
			if v, err = strconv.Unquote(q); err != nil {
				return nil, err
			}
			rest = rest[len(q):]
		} else {
			v, rest, _ = strings.Cut(rest, " ")
			rest = " " + rest
		}
		kv[k] = v
		line = rest
	}
	if len(kv) == 0 {
		return nil, fmt.Errorf("empty line")
	}
	return kv, nil
}
