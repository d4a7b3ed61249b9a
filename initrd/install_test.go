package initrd_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/clustervision/luna-go/internal/cli"
	"github.com/clustervision/luna-go/internal/config"
	"github.com/clustervision/luna-go/internal/luna"
	"github.com/clustervision/luna-go/internal/lweb"
	"github.com/clustervision/luna-go/internal/testutil"
	"github.com/clustervision/luna-go/internal/testutil/stored"
)

func TestMain(m *testing.M) {
	code := testutil.WithDB(m).Run()
	if clientDir != "" {
		os.RemoveAll(clientDir)
	}
	os.Exit(code)
}

const (
	imageID  = "6d3e0ad6-1a0b-4c1e-9e0a-5d1c2b3a4f5e"
	nodeMAC  = "52:54:00:00:00:01"
	bmcPass  = "s3cret-pass"
	partText = "parted -s /dev/sda mklabel gpt\nmount -t tmpfs tmpfs /sysroot"
	postText = "cat /proc/sys/kernel/hostname > /sysroot/etc/luna-postscript\necho 'tmpfs / tmpfs defaults 0 0' >> /sysroot/etc/fstab"
)

// cluster is a Luna cluster in the embedded store served by a real lweb
// on a loopback port, with the statuses it received in order.
type cluster struct {
	t        *testing.T
	env      map[string]string
	db       *stored.DB
	path     string // the cluster path: boot/ and torrents/
	url      string // http://127.0.0.1:PORT
	nodeIP   string // node001's BOOTIF address
	mu       sync.Mutex
	statuses []string
	peers    map[string]bool // peer ids that announced to lweb's tracker
	webSeed  int             // requests for the tarball on lweb's /torrents/
}

func (c *cluster) luna(stdin string, args ...string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	io := cli.IO{In: strings.NewReader(stdin), Out: &out, Err: &errb, Getenv: func(k string) string { return c.env[k] }}
	if code := cli.Main(context.Background(), args, io); code != 0 {
		c.t.Fatalf("luna %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
	}
}

func (c *cluster) takeStatuses() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.statuses
	c.statuses = nil
	return s
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	return newClusterOn(t, "127.0.0.1", "10.30.0.0", "16")
}

// newClusterOn is a cluster whose lweb listens on host, with the nodes'
// boot network NET/PREFIX.
func newClusterOn(t *testing.T, host, netAddr, prefix string) *cluster {
	t.Helper()
	db := testutil.NewDatabase()
	t.Cleanup(func() { stored.Drop(testutil.URI(), db) })
	dir := t.TempDir()
	conf := filepath.Join(dir, "luna.conf")
	if err := os.WriteFile(conf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, db: stored.Open(t, testutil.URI(), db), path: dir, peers: map[string]bool{}, env: map[string]string{"LUNA_MONGO_URI": testutil.URI(), "LUNA_DB": db,
		"LUNA_CONF": conf, "LUNA_LOGDIR": filepath.Join(dir, "log")}}
	img := filepath.Join(dir, "img")
	for _, d := range []string{filepath.Join(img, "lib/modules/5.10.0-9-amd64"), filepath.Join(img, "boot"),
		filepath.Join(dir, "boot"), filepath.Join(dir, "torrents")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(img, "boot/vmlinuz-5.10.0-9-amd64"), []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	c.url = fmt.Sprintf("http://%s:%d", host, port)
	c.luna("", "cluster", "init", "--frontend_address", host, "--user", "root", "--path", dir)
	c.luna("", "cluster", "change", "--frontend_port", strconv.Itoa(port))
	c.luna("", "network", "add", "-n", "cluster", "-N", netAddr, "-P", prefix, "--ns_hostname", "master")
	c.luna("", "network", "add", "-n", "ipmi", "-N", "10.31.0.0", "-P", "16", "--ns_hostname", "master")
	c.luna("", "osimage", "add", "-n", "compute", "-p", img)
	c.luna("", "bmcsetup", "add", "-n", "base")
	c.luna("", "bmcsetup", "change", "base", "--password", bmcPass)
	c.luna("", "group", "add", "-n", "compute", "-o", "compute", "-N", "cluster", "-b", "base", "-bn", "ipmi")
	c.luna(partText, "group", "change", "compute", "--partscript")
	c.luna(postText, "group", "change", "compute", "--postscript")
	c.luna("", "node", "add", "-g", "compute", "-n", "node001")
	c.luna("", "node", "change", "node001", "--mac", nodeMAC, "--setupbmc", "y")

	// The test's own requests (c.get) play the node's iPXE: they say they
	// come from node001's BOOTIF address, as nginx in front of lweb would
	// (X-Real-IP), so that discovery hands them the node's boot token
	// (docs/lweb.md, "Boot identity").
	cfg, err := config.Load(func(k string) string { return c.env[k] })
	if err != nil {
		t.Fatal(err)
	}
	svc, err := luna.Open(context.Background(), cfg, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close(context.Background()) })
	bp, err := svc.BootParams(context.Background(), "node001")
	if err != nil || bp.Net4 == nil {
		t.Fatalf("node001's boot address: %v", err)
	}
	c.nodeIP = bp.Net4.IP
	srv := &lweb.Server{Svc: svc, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), TrustProxy: true}
	h := srv.Handler()
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		if q := r.URL.Query(); q.Get("step") == "install" && q.Get("status") != "" {
			c.statuses = append(c.statuses, q.Get("status"))
		} else if r.URL.Path == "/announce" {
			c.peers[q.Get("peer_id")] = true
		} else if strings.HasSuffix(r.URL.Path, ".tgz") {
			c.webSeed++
		}
		c.mu.Unlock()
		h.ServeHTTP(w, r)
	})}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	return c
}

// pack makes the image's tarball with GNU tar and its torrent (web seed on
// lweb's /torrents/), and records them on the osimage as `osimage pack`
// does.
func (c *cluster) pack(tree string) {
	c.t.Helper()
	tgz := filepath.Join(c.path, "torrents", imageID+".tgz")
	if out, err := exec.Command("tar", "--acls", "--xattrs", "--xattrs-include=*", "-czf", tgz, "-C", tree, ".").CombinedOutput(); err != nil {
		c.t.Fatalf("tar: %v\n%s", err, out)
	}
	info := metainfo.Info{PieceLength: 64 << 10}
	if err := info.BuildFromFilePath(tgz); err != nil {
		c.t.Fatal(err)
	}
	mi := metainfo.MetaInfo{Announce: c.url + "/announce", UrlList: []string{c.url + "/torrents/"},
		CreatedBy: "Luna", Comment: imageID, CreationDate: time.Now().Unix()}
	var err error
	if mi.InfoBytes, err = bencode.Marshal(info); err != nil {
		c.t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(c.path, "torrents", imageID+".torrent"))
	if err != nil {
		c.t.Fatal(err)
	}
	if err := mi.Write(f); err != nil {
		c.t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		c.t.Fatal(err)
	}
	c.record(true)
}

// record sets the osimage's boot files and, with packed, its torrent and
// tarball, as `osimage pack` does.
func (c *cluster) record(packed bool) {
	c.t.Helper()
	set := map[string]any{"kernfile": "compute-vmlinuz-5.10.0-9-amd64", "initrdfile": "compute-initramfs-5.10.0-9-amd64",
		"torrent": "", "tarball": ""}
	if packed {
		set["torrent"], set["tarball"] = imageID, imageID
	}
	c.db.Set(luna.OSImages, "compute", set)
}

// storedStatus is node001's status as lweb stored it.
func (c *cluster) storedStatus() string {
	c.t.Helper()
	s := c.db.Status("node001")
	if s == "" {
		c.t.Fatal("node001 has no stored status")
	}
	return s
}

func (c *cluster) get(url string) string {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.url+url, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("X-Real-IP", c.nodeIP)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	return string(b)
}

// installScript boots the node as its initramfs would: discovery by MAC
// gives the boot script with luna.token, and the install request carries
// that token.
func (c *cluster) installScript() string {
	c.t.Helper()
	boot := c.get("/luna?step=discovery&hwdata=%7C" + nodeMAC + "%7C")
	m := regexp.MustCompile(`luna\.token=(\S+)`).FindStringSubmatch(boot)
	if m == nil {
		c.t.Fatalf("no luna.token in the boot script:\n%s", boot)
	}
	return c.get("/luna?step=install&node=node001&token=" + m[1])
}

// imageTree is a small OS image: users, an init, a file owned by a user
// the test host does not have, an extended attribute, a symlink, a hard
// link, and network files a reinstall must not duplicate.
func imageTree(t *testing.T) string {
	t.Helper()
	tree := t.TempDir()
	files := map[string]string{
		"etc/passwd":            "root:x:0:0:root:/root:/bin/bash\nsimuser:x:4242:4242::/home/simuser:/bin/bash\n",
		"etc/group":             "root:x:0:\nsimuser:x:4242:\n",
		"etc/fstab":             "# image fstab\n",
		"etc/sysconfig/network": "NETWORKING=yes\nHOSTNAME=old-name\n",
		"etc/sysconfig/network-scripts/ifcfg-eth0": "DEVICE=eth0\nOLD=1\n",
		"sbin/init":            "#!/bin/sh\n",
		"home/simuser/data":    "user data\n",
		"usr/share/doc/readme": strings.Repeat("Luna image payload. ", 20000),
	}
	for name, text := range files {
		p := filepath.Join(tree, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(tree, "sbin/init"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(tree, "home/simuser/data"), 4242, 4242); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setxattr(filepath.Join(tree, "usr/share/doc/readme"), "user.luna", []byte("kept"), 0); err != nil {
		t.Fatalf("setxattr: %v (the test directory needs user xattrs)", err)
	}
	if err := os.Symlink("../share/doc/readme", filepath.Join(tree, "usr/share/readme-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(tree, "home/simuser/data"), filepath.Join(tree, "home/simuser/data-link")); err != nil {
		t.Fatal(err)
	}
	return tree
}

// stubs stand in for hardware a test machine does not have: they record
// their arguments in /luna/calls.log (joined by spaces) and in
// /luna/argv.log (each call its arguments ended by NUL, then a newline, so
// a test sees where one argument ends; see stubCalls).
var stubs = []string{"ipmitool", "parted", "mount", "modprobe", "mkfs", "mkfs.ext4", "mkfs.xfs", "mkswap", "wipefs", "sgdisk"}

// scratchRoot makes a root for the install script: the host's /usr and
// library directories read-only, a copy of the few /etc files programs
// need, empty /sysroot and /luna, the stubs and the client.
func scratchRoot(t *testing.T, script string) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"etc", "luna/stubs", "sysroot", "proc", "dev", "tmp", "root"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"passwd", "group", "nsswitch.conf", "hosts", "ld.so.cache"} {
		if b, err := os.ReadFile(filepath.Join("/etc", f)); err == nil {
			if err := os.WriteFile(filepath.Join(root, "etc", f), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, s := range stubs {
		text := "#!/bin/bash\necho \"" + s + " $*\" >>/luna/calls.log\n" +
			"{ printf '%s\\0' \"${0##*/}\" \"$@\"; echo; } >>/luna/argv.log\n"
		if err := os.WriteFile(filepath.Join(root, "luna/stubs", s), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	client, err := os.ReadFile(ltorrentClient(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "luna/ltorrent-client"), client, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "luna/install.sh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}

// enterRoot mounts the host's programs into root and runs the install
// script there, in a mount and UTS namespace of its own (so its hostname
// write stays inside), as the installer does: bash /luna/install.sh with
// LUNA_BOOTIF set.
const enterRoot = `set -e
R=$1
for d in usr bin sbin lib lib32 lib64 libx32; do
    if [ -L "/$d" ]; then
        ln -sfn "$(readlink "/$d")" "$R/$d"
    elif [ -d "/$d" ]; then
        mkdir -p "$R/$d"
        mount --bind "/$d" "$R/$d"
        mount -o remount,bind,ro "$R/$d"
    fi
done
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
# The installer sets the hostname first: ltorrent-client's peer id.
echo node001.cluster >/proc/sys/kernel/hostname
exec chroot "$R" /usr/bin/env -i HOME=/root LUNA_BOOTIF=eth0 \
    PATH=/luna/stubs:/usr/sbin:/usr/bin:/sbin:/bin /bin/bash /luna/install.sh
`

// runInstall runs the install script in root; it must end within 4 minutes
// (a loaded machine).
func runInstall(t *testing.T, root string) (string, error) {
	t.Helper()
	for _, tool := range []string{"unshare", "chroot", "curl", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to run the install script: apt-get install util-linux coreutils curl tar", tool)
		}
	}
	if os.Geteuid() != 0 {
		t.Fatal("running the install script needs root (mount namespaces and chroot)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--uts", "--fork", "--kill-child", "--propagation", "private",
		"bash", "-c", enterRoot, "enter", root)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the install script did not end within 4 minutes:\n%s", out)
	}
	return string(out), err
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func wantStatuses(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("statuses\n got %v\nwant %v", got, want)
	}
}

func TestInstallScriptRuns(t *testing.T) {
	c := newCluster(t)
	tree := imageTree(t)
	c.pack(tree)
	c.seed()
	root := scratchRoot(t, c.installScript())
	c.takeStatuses()

	out, err := runInstall(t, root)
	if err != nil {
		t.Fatalf("install script: %v\n%s", err, out)
	}
	wantStatuses(t, c.takeStatuses(), "install.prescript", "install.setupbmc", "install.partscript", "install.download",
		"install.unpack", "install.setnet", "install.postscript", "install.success")
	if got := c.storedStatus(); got != "install.success" {
		t.Errorf("stored status %q, want install.success", got)
	}

	if id := fmt.Sprintf("%20s", "node001.cluster"); !c.announced(id) {
		t.Errorf("ltorrent-client did not announce to lweb's tracker as %q", id)
	}
	c.mu.Lock()
	t.Logf("web seed requests for the tarball: %d (the rest came from aria2c)", c.webSeed)
	c.mu.Unlock()
	calls := readFile(t, filepath.Join(root, "luna/calls.log"))
	for _, want := range []string{
		"modprobe ipmi_devintf", "modprobe ipmi_si", "modprobe ipmi_msghandler",
		"ipmitool lan set 1 ipsrc static", "ipmitool lan set 1 ipaddr 10.31.0.1", "ipmitool lan set 1 netmask 255.255.0.0",
		"ipmitool lan set 1 defgw ipaddr 0.0.0.0", "ipmitool user set name 3 ladmin", "ipmitool user set password 3 " + bmcPass,
		"ipmitool channel setaccess 1 3 link=on ipmi=on callin=on privilege=4", "ipmitool user enable 3", "ipmitool mc reset cold",
		"parted -s /dev/sda mklabel gpt", "mount -t tmpfs tmpfs /sysroot",
	} {
		if !strings.Contains(calls, want+"\n") && !strings.Contains(calls, want) {
			t.Errorf("no call %q in:\n%s", want, calls)
		}
	}

	sys := filepath.Join(root, "sysroot")
	if diff, err := exec.Command("diff", "-r", "--no-dereference", "-x", "sysconfig", "-x", "fstab", "-x", "hostname",
		"-x", "luna-postscript", tree, sys).CombinedOutput(); err != nil {
		t.Errorf("the unpacked tree differs from the image: %v\n%s", err, diff)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(sys, "home/simuser/data"), &st); err != nil || st.Uid != 4242 || st.Gid != 4242 {
		t.Errorf("owner of home/simuser/data: %d:%d (%v), want 4242:4242", st.Uid, st.Gid, err)
	}
	var st2 syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(sys, "home/simuser/data-link"), &st2); err != nil || st2.Ino != st.Ino {
		t.Errorf("home/simuser/data-link is not a hard link of data (%v)", err)
	}
	buf := make([]byte, 64)
	if n, err := syscall.Getxattr(filepath.Join(sys, "usr/share/doc/readme"), "user.luna", buf); err != nil || string(buf[:n]) != "kept" {
		t.Errorf("xattr user.luna after unpack: %q (%v), want kept", buf[:max(n, 0)], err)
	}
	if _, err := os.Stat(filepath.Join(sys, imageID+".tgz")); !os.IsNotExist(err) {
		t.Errorf("the tarball was left in /sysroot (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(root, "luna/ltorrent-client.pid")); !os.IsNotExist(err) {
		t.Errorf("ltorrent-client was not stopped: its pid file is there (%v)", err)
	}
	if got := readFile(t, filepath.Join(sys, "etc/hostname")); got != "node001.cluster\n" {
		t.Errorf("etc/hostname %q", got)
	}
	if got := readFile(t, filepath.Join(sys, "etc/luna-postscript")); got != "node001.cluster\n" {
		t.Errorf("the postscript saw hostname %q, want node001.cluster", got)
	}
	if got := readFile(t, filepath.Join(sys, "etc/fstab")); got != "# image fstab\ntmpfs / tmpfs defaults 0 0\n" {
		t.Errorf("etc/fstab after the postscript:\n%s", got)
	}
	if got := readFile(t, filepath.Join(sys, "etc/sysconfig/network")); got != "NETWORKING=yes\nHOSTNAME=node001.cluster\n" {
		t.Errorf("etc/sysconfig/network:\n%s", got)
	}
	want := "DEVICE=eth0\nNAME=eth0\nONBOOT=yes\nBOOTPROTO=none\nIPADDR=10.30.0.1\nPREFIX=16\nNETMASK=255.255.0.0\n"
	if got := readFile(t, filepath.Join(sys, "etc/sysconfig/network-scripts/ifcfg-eth0")); got != want {
		t.Errorf("ifcfg-eth0:\n%s\nwant\n%s", got, want)
	}
	if _, err := os.Stat(filepath.Join(sys, "etc/sysconfig/network-scripts/ifcfg-BMC")); !os.IsNotExist(err) {
		t.Errorf("an ifcfg file was written for the BMC interface (%v)", err)
	}
}

func TestInstallScriptFailsAndRetries(t *testing.T) {
	c := newCluster(t)
	tree := imageTree(t)
	c.pack(tree)
	script := c.installScript()
	root := scratchRoot(t, script)
	torrent := filepath.Join(c.path, "torrents", imageID+".torrent")
	c.takeStatuses()

	// The torrent is not on the server: curl -f fails, no client starts.
	if err := os.Rename(torrent, torrent+".away"); err != nil {
		t.Fatal(err)
	}
	out, err := runInstall(t, root)
	if err == nil {
		t.Fatalf("the install succeeded without a torrent:\n%s", out)
	}
	wantStatuses(t, c.takeStatuses(), "install.prescript", "install.setupbmc", "install.partscript", "install.download",
		"install.error.download")
	if _, err := os.Stat(filepath.Join(root, "luna/ltorrent-client.pid")); !os.IsNotExist(err) {
		t.Errorf("ltorrent-client ran without a torrent (%v)", err)
	}

	// The torrent the server has is unusable: ltorrent-client exits at
	// once, and the install fails instead of waiting. The steps before the
	// download are not run again in this boot.
	if err := os.WriteFile(torrent, []byte("not a torrent"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runInstall(t, root)
	if err == nil {
		t.Fatalf("the install succeeded with a broken torrent:\n%s", out)
	}
	wantStatuses(t, c.takeStatuses(), "install.download", "install.error.download")
	if !strings.Contains(out, "ltorrent-client exited (status 1)") {
		t.Errorf("no word on the console about the client's exit:\n%s", out)
	}

	// Everything in place: the next attempt finishes (from the web seed).
	if err := os.Rename(torrent+".away", torrent); err != nil {
		t.Fatal(err)
	}
	if out, err := runInstall(t, root); err != nil {
		t.Fatalf("install script: %v\n%s", err, out)
	}
	wantStatuses(t, c.takeStatuses(), "install.download", "install.unpack", "install.setnet", "install.postscript", "install.success")
	calls := readFile(t, filepath.Join(root, "luna/calls.log"))
	for _, once := range []string{"parted -s /dev/sda mklabel gpt", "ipmitool mc reset cold"} {
		if n := strings.Count(calls, once); n != 1 {
			t.Errorf("%q ran %d times over three attempts, want once:\n%s", once, n, calls)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "sysroot/sbin/init")); err != nil {
		t.Errorf("the image is not in /sysroot after the retry: %v", err)
	}
}

var (
	clientOnce sync.Once
	clientPath string
	clientErr  error
	clientDir  string
)

// ltorrentClient builds cmd/ltorrent-client (static, as the initramfs
// gets it) once for the package's tests.
func ltorrentClient(t *testing.T) string {
	t.Helper()
	clientOnce.Do(func() {
		if clientDir, clientErr = os.MkdirTemp("", "luna-initrd-client-"); clientErr != nil {
			return
		}
		clientPath = filepath.Join(clientDir, "ltorrent-client")
		cmd := exec.Command("go", "build", "-o", clientPath, "github.com/clustervision/luna-go/cmd/ltorrent-client")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			clientErr = fmt.Errorf("build ltorrent-client: %v\n%s", err, out)
		}
	})
	if clientErr != nil {
		t.Fatal(clientErr)
	}
	return clientPath
}

// seed starts aria2c seeding the image from the torrents directory and
// waits until it has announced to lweb's tracker.
func (c *cluster) seed() {
	c.t.Helper()
	if _, err := exec.LookPath("aria2c"); err != nil {
		c.t.Fatal("aria2c is needed as the seeder: apt-get install aria2")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "aria2c", "-T", filepath.Join(c.path, "torrents", imageID+".torrent"),
		"-d", filepath.Join(c.path, "torrents"), "--check-integrity=true", "--seed-ratio=0.0",
		"--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
		"--listen-port=6971-6979", "--bt-tracker-interval=5", "--summary-interval=0", "--console-log-level=warn",
		"--allow-overwrite=true", "--auto-file-renaming=false")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		c.mu.Lock()
		seen := false
		for id := range c.peers {
			seen = seen || strings.HasPrefix(id, "A2-")
		}
		c.mu.Unlock()
		if seen {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("aria2c did not announce to lweb within 30 s:\n%s", out.String())
		}
	}
}

// announced says whether a peer with this id announced to the tracker.
func (c *cluster) announced(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peers[id]
}
