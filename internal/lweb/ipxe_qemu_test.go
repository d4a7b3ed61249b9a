package lweb

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// qemuROMs are where Debian's ipxe-qemu (and qemu's own data directory) keep
// the virtio-net option ROM: efi-virtio.rom is qemu's default for
// virtio-net-pci (legacy BIOS and EFI iPXE in one), pxe-virtio.rom BIOS only.
var qemuROMs = []string{
	"/usr/lib/ipxe/qemu/efi-virtio.rom",
	"/usr/lib/ipxe/qemu/pxe-virtio.rom",
	"/usr/share/qemu/efi-virtio.rom",
	"/usr/share/qemu/pxe-virtio.rom",
}

// TestQemuIPXEBoot boots a real iPXE (qemu's virtio-net option ROM, under
// TCG) against a real lweb on the host's loopback, which the guest reaches
// as 10.0.2.2 through qemu's user network (slirp: lweb sees 127.0.0.1).
// What the node did is read from lweb's own request log and the database;
// the guest's serial console only adds detail. In one boot:
//
//   - known MAC: iPXE runs the menu, its default "ask" fires after the
//     menu timeout, discovery identifies node001 by ${mac}, and iPXE
//     follows the node's boot script: kernel and initrd from /boot/,
//     imgargs, imgexec; node001's status is boot.request (its address
//     in the database is 127.0.0.1, where lweb sees the guest).
//   - unknown MAC (removed by node change --mac with an empty value):
//     discovery answers 404, the menu prints its error, comes back and asks
//     again.
//   - the operator presses "e" in the menu and types node001 on the serial
//     console: discovery with node=node001 binds the MAC again and the node
//     boots.
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
		t.Fatalf("no iPXE virtio-net ROM (%s): install with: apt-get install qemu-system-x86 ipxe-qemu", strings.Join(qemuROMs, ", "))
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
	luna := func(t *testing.T, args ...string) string {
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

	// The cluster. Its frontend is 10.0.2.2, the host as the guest sees it,
	// on the port lweb will listen on at 127.0.0.1.
	port := qemuFreePort(t)
	img := filepath.Join(dir, "img")
	for _, d := range []string{filepath.Join(img, "lib/modules/5.10.0-9-amd64"), filepath.Join(img, "boot"), filepath.Join(dir, "boot")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(img, "boot/vmlinuz-5.10.0-9-amd64"), []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	luna(t, "cluster", "init", "--frontend_address", "10.0.2.2", "--user", "root", "--path", dir)
	luna(t, "cluster", "change", "--frontend_port", port)
	// Every request of the guest reaches lweb from 127.0.0.1 (slirp), so
	// the node's network is loopback's: node001's BOOTIF address is
	// 127.0.0.1, and its discoveries come from the node's own address
	// (docs/lweb.md, "Boot identity").
	luna(t, "network", "add", "-n", "cluster", "-N", "127.0.0.0", "-P", "8", "--ns_hostname", "master")
	luna(t, "osimage", "add", "-n", "compute", "-p", img)
	luna(t, "group", "add", "-n", "compute", "-o", "compute", "-N", "cluster")
	luna(t, "node", "add", "-g", "compute")
	luna(t, "node", "change", qemuNode, "--mac", qemuMAC)

	// The boot files, as `osimage pack` would leave them.
	if err := os.WriteFile(filepath.Join(dir, "boot", "compute-vmlinuz-test"), qemuKernel(t), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "boot", "compute-initramfs-test"), qemuRandom(t, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	var osi store.OSImage
	if err := st.GetByName(ctx, store.OSImages, "compute", &osi); err != nil {
		t.Fatal(err)
	}
	if err := st.Set(ctx, store.OSImages, osi.ID, map[string]any{"kernfile": "compute-vmlinuz-test", "initrdfile": "compute-initramfs-test"}); err != nil {
		t.Fatal(err)
	}

	// lweb, logging into a buffer the test reads.
	logbuf := &qemuLog{}
	log := slog.New(slog.NewTextHandler(logbuf, nil))
	ready := make(chan string, 1)
	lwebDone := make(chan error, 1)
	lctx, lcancel := context.WithCancel(ctx)
	go func() {
		lwebDone <- Run(lctx, Config{Options: Options{Listen: "127.0.0.1:" + port, MenuTimeout: 2 * time.Second}, Log: log, Getenv: getenv, Ready: func(a string) { ready <- a }})
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
	nic := "virtio-net-pci,netdev=n0,mac=" + qemuMAC + ",romfile=" + rom
	if qemuROMDevice(t, rom) == 0x1041 {
		// Debian's virtio ROMs name the virtio 1.0 device (1af4:1041) in
		// their PCI header, and SeaBIOS runs a ROM only on the device it
		// names: qemu's virtio-net-pci is 1af4:1041 without its legacy face.
		nic += ",disable-legacy=on"
	}
	b := &qemuBoot{log: logbuf, console: filepath.Join(dir, "console.log"), exited: make(chan struct{})}
	cf, err := os.Create(b.console)
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	// -nographic: the serial console (SeaBIOS mirrors the screen there) is
	// qemu's stdout, and its stdin is the guest's keyboard.
	cmd := exec.Command(qemu, "-accel", "tcg", "-m", "256", "-nographic", "-no-reboot", "-boot", "n",
		"-netdev", "user,id=n0,tftp="+tftp+",bootfile=boot.ipxe", "-device", nic)
	cmd.Stdout, cmd.Stderr = cf, cf
	if b.keys, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	b.start = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start qemu: %v", err)
	}
	go func() {
		b.exitErr = cmd.Wait()
		close(b.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-b.exited:
		default:
			_ = cmd.Process.Kill()
			<-b.exited
		}
		if t.Failed() {
			out, _ := os.ReadFile(b.console)
			t.Logf("qemu console (%s):\n%s", b.console, qemuPrintable(out))
			t.Logf("lweb log:\n%s", logbuf.String())
		}
	})

	// nodeState is node001's MAC and status step, as `luna node show` has them.
	nodeState := func(t *testing.T) (mac, step string) {
		t.Helper()
		var v struct {
			MAC    string `json:"mac"`
			Status *struct {
				Step string `json:"step"`
			} `json:"status"`
		}
		if err := json.Unmarshal([]byte(luna(t, "node", "show", qemuNode, "-o", "json")), &v); err != nil {
			t.Fatalf("node show -o json: %v", err)
		}
		if v.Status != nil {
			step = v.Status.Step
		}
		return v.MAC, step
	}
	// waitStatus waits for lweb to store a status (it may batch them).
	waitStatus := func(t *testing.T, want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, step := nodeState(t)
			if step == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s status %q, want %q", qemuNode, step, want)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// bootFiles waits for the kernel and then the initrd to be fetched
	// after request i, and checks both answers.
	bootFiles := func(t *testing.T, i int) {
		t.Helper()
		k := b.waitRequest(t, "kernel download", i+1, 30*time.Second, func(r qemuRequest) bool { return r.uri == "/boot/compute-vmlinuz-test" })
		n := b.waitRequest(t, "initrd download", k+1, 30*time.Second, func(r qemuRequest) bool { return r.uri == "/boot/compute-initramfs-test" })
		for _, r := range []qemuRequest{b.request(k), b.request(n)} {
			if r.status != 200 || r.client != "127.0.0.1" {
				t.Fatalf("GET %s: status %d from %s, want 200 from 127.0.0.1", r.uri, r.status, r.client)
			}
		}
	}
	isDiscovery := func(r qemuRequest) bool { return r.step() == "discovery" }

	var last int // the last request a phase looked at
	if !t.Run("KnownMAC", func(t *testing.T) {
		menu := b.waitRequest(t, "menu request", 0, 90*time.Second, func(r qemuRequest) bool { return r.step() == "boot" })
		if r := b.request(menu); r.status != 200 || r.client != "127.0.0.1" {
			t.Fatalf("GET %s: status %d from %s, want 200 from 127.0.0.1", r.uri, r.status, r.client)
		}
		// Nothing asks before the menu's timeout runs out.
		disc := b.waitRequest(t, "discovery (the menu's default)", menu+1, 30*time.Second, isDiscovery)
		r := b.request(disc)
		if hw := r.query().Get("hwdata"); !strings.Contains(hw, qemuMAC) || r.status != 200 || r.query().Has("node") {
			t.Fatalf("GET %s: status %d, hwdata %q; want 200, %s in hwdata and no node", r.uri, r.status, hw, qemuMAC)
		}
		bootFiles(t, disc)
		waitStatus(t, "boot.request")
		// The initrd is fetched after imgload and imgargs, so iPXE accepted
		// the kernel and its command line; then it ran the kernel.
		b.waitConsole(t, "the stand-in kernel running", qemuKernelMarker, 30*time.Second)
		last = disc
	}) {
		return
	}

	if !t.Run("UnknownMACLoops", func(t *testing.T) {
		mark := len(b.log.requests())
		luna(t, "node", "change", qemuNode, "--mac", "")
		first := b.waitRequest(t, "discovery answered 404", mark, 60*time.Second, func(r qemuRequest) bool { return isDiscovery(r) && r.status == 404 })
		if hw := b.request(first).query().Get("hwdata"); !strings.Contains(hw, qemuMAC) {
			t.Fatalf("404 discovery: hwdata %q, want %s in it", hw, qemuMAC)
		}
		again := b.waitRequest(t, "discovery asked again after the 404", first+1, 30*time.Second, isDiscovery)
		for _, r := range b.log.requests()[first+1 : again] {
			if strings.HasPrefix(r.uri, "/boot/") {
				t.Fatalf("GET %s after discovery failed", r.uri)
			}
		}
		b.waitConsole(t, "the menu's error message", "Cannot get answer from server", 10*time.Second)
		last = again
	}) {
		return
	}

	if !t.Run("EnterNodeName", func(t *testing.T) {
		b.pressInMenu(t, "e", "Node name:")
		b.press(t, qemuNode+"\r")
		disc := b.waitRequest(t, "discovery with the entered name", last+1, 30*time.Second, func(r qemuRequest) bool {
			return isDiscovery(r) && r.query().Get("node") == qemuNode
		})
		r := b.request(disc)
		if hw := r.query().Get("hwdata"); !strings.Contains(hw, qemuMAC) || r.status != 200 {
			t.Fatalf("GET %s: status %d, hwdata %q; want 200 and %s in hwdata", r.uri, r.status, hw, qemuMAC)
		}
		bootFiles(t, disc)
		waitStatus(t, "boot.request")
		if mac, _ := nodeState(t); mac != qemuMAC {
			t.Fatalf("%s MAC %q after the manual choice, want %s", qemuNode, mac, qemuMAC)
		}
		last = disc
	}) {
		return
	}

	t.Run("ChooseFromList", func(t *testing.T) {
		// "l" opens the list of nodes; node001, the only one, is selected.
		b.pressInMenu(t, "l", "Choose the node")
		b.press(t, "\r")
		disc := b.waitRequest(t, "discovery with the chosen name", last+1, 30*time.Second, func(r qemuRequest) bool {
			return isDiscovery(r) && r.query().Get("node") == qemuNode
		})
		if r := b.request(disc); r.status != 200 || !strings.Contains(r.query().Get("hwdata"), qemuMAC) {
			t.Fatalf("GET %s: status %d; want 200 and %s in hwdata", r.uri, r.status, qemuMAC)
		}
		bootFiles(t, disc)
	})
	t.Logf("%.1fs from qemu's start", time.Since(b.start).Seconds())
}

// qemuBoot is one running guest: its console file, keyboard and lweb's log.
type qemuBoot struct {
	log     *qemuLog
	console string
	keys    io.WriteCloser
	start   time.Time
	exited  chan struct{}
	exitErr error
}

func (b *qemuBoot) request(i int) qemuRequest { return b.log.requests()[i] }

// screen is the console output so far, without terminal control sequences.
func (b *qemuBoot) screen() string {
	out, _ := os.ReadFile(b.console)
	return qemuPrintable(out)
}

// alive fails the test if qemu stopped, or iPXE did not run or gave up
// (the BIOS then tries its other devices and finds nothing to boot).
func (b *qemuBoot) alive(t *testing.T) {
	t.Helper()
	select {
	case <-b.exited:
		t.Fatalf("qemu exited: %v", b.exitErr)
	default:
	}
	if strings.Contains(b.screen(), "No bootable device") {
		t.Fatalf("iPXE did not run or gave up: the BIOS says \"No bootable device\"")
	}
}

// waitRequest polls lweb's log for the first request at index from or
// later that match accepts, and returns its index.
func (b *qemuBoot) waitRequest(t *testing.T, what string, from int, limit time.Duration, match func(qemuRequest) bool) int {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		rs := b.log.requests()
		for i := from; i < len(rs); i++ {
			if match(rs[i]) {
				t.Logf("%5.1fs %s: GET %s → %d", time.Since(b.start).Seconds(), what, rs[i].uri, rs[i].status)
				return i
			}
		}
		b.alive(t)
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitConsole waits for text on the console.
func (b *qemuBoot) waitConsole(t *testing.T, what, text string, limit time.Duration) {
	t.Helper()
	b.waitConsoleCount(t, what, text, 1, limit)
}

// waitConsoleCount waits until text was printed n times.
func (b *qemuBoot) waitConsoleCount(t *testing.T, what, text string, n int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for strings.Count(b.screen(), text) < n {
		b.alive(t)
		if time.Now().After(deadline) {
			t.Fatalf("no %s (%q) on the console within %s", what, text, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%5.1fs %s", time.Since(b.start).Seconds(), what)
}

// consoleCountWithin says whether text was printed n times within limit.
func (b *qemuBoot) consoleCountWithin(text string, n int, limit time.Duration) bool {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if strings.Count(b.screen(), text) >= n {
			return true
		}
	}
	return false
}

// press types on the guest's serial console.
func (b *qemuBoot) press(t *testing.T, keys string) {
	t.Helper()
	if _, err := io.WriteString(b.keys, keys); err != nil {
		t.Fatalf("type %q: %v", keys, err)
	}
}

// pressInMenu presses key while the Luna menu is on the screen (it stays
// there for the menu timeout, 2 s) and waits for what the key opens.
func (b *qemuBoot) pressInMenu(t *testing.T, key, opens string) {
	t.Helper()
	seen := strings.Count(b.screen(), opens)
	for attempt := 1; ; attempt++ {
		menus := strings.Count(b.screen(), "Luna boot-loader")
		b.waitConsoleCount(t, "the menu", "Luna boot-loader", menus+1, 30*time.Second)
		b.press(t, key)
		// A key that came too late is read at the next menu: wait for
		// that too before pressing it again.
		if b.consoleCountWithin(opens, seen+1, 7*time.Second) {
			return
		}
		if attempt == 3 {
			t.Fatalf("%q did not open %q in the menu (%d tries)", key, opens, attempt)
		}
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

// qemuKernel stands in for a kernel. Random bytes will not do: this BIOS
// iPXE takes any small file it cannot place as a PXE NBP, so `imgexec
// kernel` would jump into them and the guest would hang. An iPXE script is
// an image iPXE loads, gives a command line and runs: it prints a marker and
// the images (`imgstat`), ends, and the node's boot script, the chain and so
// the menu carry on. The random comment lines only give it a file's size.
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

// qemuPrintable drops terminal control sequences and other unprintables.
func qemuPrintable(b []byte) string {
	var sb strings.Builder
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == 0x1b: // ESC [ parameters final-byte
			if i+1 < len(b) && b[i+1] == '[' {
				i += 2
				for i < len(b) && (b[i] < 0x40 || b[i] > 0x7e) {
					i++
				}
			}
		case c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f):
			sb.WriteByte(c)
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

// step is the step of a /luna request, "" for other paths.
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
		if !ok || k == "" || strings.ContainsAny(k, " \"") {
			return nil, errors.New("not key=value")
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
		}
		kv[k] = v
		line = rest
	}
	if len(kv) == 0 {
		return nil, fmt.Errorf("empty line")
	}
	return kv, nil
}
