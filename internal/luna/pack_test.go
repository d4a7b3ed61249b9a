package luna

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/clustervision/luna-go/internal/store"
	"github.com/clustervision/luna-go/internal/testutil/testpeer"
)

const packKernel = "5.10.0-28-amd64"

// packSetup is a cluster whose files go to a temporary directory and are
// owned by nobody, and an osimage "compute" of a small tree with a kernel
// and an initrd of its own.
func packSetup(t *testing.T) (s *Service, clusterPath string, img *store.OSImage, db string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("osimage pack needs root: run this test as root")
	}
	if _, err := exec.LookPath("tar"); err != nil {
		t.Fatal("GNU tar is needed: run `make deps`")
	}
	ctx := context.Background()
	s, db = newTestService(t)
	clusterPath = t.TempDir()
	c, err := s.Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = s.st.Set(ctx, store.Clusters, c.ID, map[string]any{
		"path": clusterPath, "user": "nobody", "torrent_pidfile": filepath.Join(clusterPath, "ltorrent.pid")})
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "image")
	for p, content := range map[string]string{
		"etc/passwd":                         "root:x:0:0::/root:/bin/sh\n",
		"etc/group":                          "root:x:0:\n",
		"boot/vmlinuz-" + packKernel:         "the kernel",
		"boot/initrd.img-" + packKernel:      "the image's initrd",
		"lib/modules/" + packKernel + "/dep": "modules",
		"usr/share/data":                     strings.Repeat("data", 1<<18),
	} {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddOSImage(ctx, "compute", root, "", ""); err != nil {
		t.Fatal(err)
	}
	img, err = s.OSImage(ctx, "compute")
	if err != nil {
		t.Fatal(err)
	}
	return s, clusterPath, img, db
}

// published lists the files of dir that a node could see (not hidden).
func published(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// checkNoTemps fails when a pack left a temporary file behind (the lock
// file stays: it is reused).
func checkNoTemps(t *testing.T, clusterPath string, img *store.OSImage) {
	t.Helper()
	for _, dir := range []string{"torrents", "boot"} {
		for _, n := range published(t, filepath.Join(clusterPath, dir)) {
			if strings.HasPrefix(n, ".") && n != ".pack-"+img.ID.Hex()+".lock" {
				t.Errorf("%s/%s left behind", dir, n)
			}
		}
	}
	tmp := published(t, filepath.Join(img.Path, "tmp"))
	if len(tmp) != 0 {
		t.Errorf("left in the image's /tmp: %q", tmp)
	}
}

// TestPackPublishes packs image and boot files (copied), and checks every
// published file, the osimage fields, the torrent and ltorrent's SIGHUP.
func TestPackPublishes(t *testing.T) {
	s, cp, img, _ := packSetup(t)
	ctx := context.Background()

	// ltorrent stand-in: a copy of sh named ltorrent (pack's identity check
	// reads the process's name) that records the SIGHUP it gets.
	sh, hupFile := hupRecorder(t, "ltorrent")
	if err := os.WriteFile(filepath.Join(cp, "ltorrent.pid"), []byte(strconv.Itoa(sh.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	var logs []string
	var progressed int64
	res, err := s.PackOSImage(ctx, "compute", PackOptions{CopyBoot: true,
		Log:      func(m string) { logs = append(logs, m) },
		Progress: func(done, total int64) { progressed = done; _ = total }})
	if err != nil {
		t.Fatal(err)
	}
	if progressed < 1<<20 {
		t.Errorf("progress reported %d bytes", progressed)
	}
	if len(logs) == 0 || logs[0] != "Creating tarball." {
		t.Errorf("log = %q", logs)
	}
	got, err := s.OSImage(ctx, "compute")
	if err != nil {
		t.Fatal(err)
	}
	if got.Tarball != res.Tarball || got.Torrent != res.Torrent || len(got.Tarball) != 36 || len(got.Torrent) != 36 ||
		got.KernFile != "compute-vmlinuz-"+packKernel || got.InitrdFile != "compute-initramfs-"+packKernel {
		t.Errorf("osimage after pack = %+v, result %+v", got, res)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "luna modules might not") {
		t.Errorf("warnings = %q", res.Warnings)
	}
	nobody := func(p string) {
		st, err := os.Stat(p)
		if err != nil {
			t.Error(err)
			return
		}
		sys := st.Sys().(*syscall.Stat_t)
		if st.Mode().Perm() != 0o644 || sys.Uid != 65534 || sys.Gid != 65534 {
			t.Errorf("%s: mode %v owner %d:%d, want 0644 nobody:nogroup", p, st.Mode(), sys.Uid, sys.Gid)
		}
	}
	tgz := filepath.Join(cp, "torrents", got.Tarball+".tgz")
	tor := filepath.Join(cp, "torrents", got.Torrent+".torrent")
	kern := filepath.Join(cp, "boot", got.KernFile)
	initrd := filepath.Join(cp, "boot", got.InitrdFile)
	for _, p := range []string{tgz, tor, kern, initrd} {
		nobody(p)
	}
	if b, _ := os.ReadFile(kern); string(b) != "the kernel" {
		t.Errorf("kernel = %q", b)
	}
	if b, _ := os.ReadFile(initrd); string(b) != "the image's initrd" {
		t.Errorf("initrd = %q", b)
	}
	checkNoTemps(t, cp, img)

	// The torrent: one file, the tarball, every piece hash right.
	mi, err := metainfo.LoadFromFile(tor)
	if err != nil {
		t.Fatal(err)
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		t.Fatal(err)
	}
	if mi.CreatedBy != "Luna" || mi.Comment != got.Torrent || mi.Announce != "http://10.40.0.254:7050/announce" ||
		len(mi.UrlList) != 1 || mi.UrlList[0] != "http://10.40.0.254:7050/torrents/" {
		t.Errorf("torrent: created by %q comment %q announce %q url-list %q", mi.CreatedBy, mi.Comment, mi.Announce, mi.UrlList)
	}
	data, err := os.ReadFile(tgz)
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != got.Tarball+".tgz" || info.Length != int64(len(data)) || info.PieceLength != 1<<20 || len(info.UpvertedFiles()) != 1 {
		t.Errorf("info: name %q length %d (file %d) piece %d", info.Name, info.Length, len(data), info.PieceLength)
	}
	for i := range info.NumPieces() {
		pc := info.Piece(i)
		sum := sha1.Sum(data[pc.Offset() : pc.Offset()+pc.Length()])
		if !bytes.Equal(sum[:], pc.V1Hash().Value.Bytes()) {
			t.Errorf("piece %d hash wrong", i)
		}
	}

	// The tarball unpacks with GNU tar as the install script does.
	out := t.TempDir()
	if b, err := exec.Command("tar", "--acls", "--xattrs", "--xattrs-include=*", "-xpzf", tgz, "-C", out).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, b)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "usr/share/data")); len(b) != 4<<18 {
		t.Errorf("unpacked usr/share/data has %d bytes", len(b))
	}

	// ltorrent was told.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if b, _ := os.ReadFile(hupFile); strings.Contains(string(b), "hup") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ltorrent got no SIGHUP; pack said %q", res.Ltorrent)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(res.Ltorrent, strconv.Itoa(sh.Process.Pid)) {
		t.Errorf("ltorrent line = %q", res.Ltorrent)
	}

	// A second pack publishes new files; the old ones stay for ltorrent.
	res2, err := s.PackOSImage(ctx, "compute", PackOptions{Image: true})
	if err != nil {
		t.Fatal(err)
	}
	if res2.Tarball == res.Tarball || res2.KernFile != "" {
		t.Errorf("second pack = %+v", res2)
	}
	for _, p := range []string{tgz, tor} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("old file removed: %v", err)
		}
	}
	// ltorrent not running: one line, no error.
	_ = sh.Process.Kill()
	_ = sh.Wait()
	res3, err := s.PackOSImage(ctx, "compute", PackOptions{Image: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res3.Ltorrent, "not running") {
		t.Errorf("ltorrent line = %q", res3.Ltorrent)
	}
}

// snapshotFiles is the name and content of every published file.
func snapshotFiles(t *testing.T, clusterPath string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, dir := range []string{"torrents", "boot"} {
		for _, n := range published(t, filepath.Join(clusterPath, dir)) {
			b, err := os.ReadFile(filepath.Join(clusterPath, dir, n))
			if err != nil {
				t.Fatal(err)
			}
			out[dir+"/"+n] = string(b)
		}
	}
	return out
}

// TestPackFailureKeepsPrevious: a pack that fails at any point leaves the
// published files and the osimage as they were, and no temporary file.
func TestPackFailureKeepsPrevious(t *testing.T) {
	s, cp, img, _ := packSetup(t)
	ctx := context.Background()
	if _, err := s.PackOSImage(ctx, "compute", PackOptions{CopyBoot: true}); err != nil {
		t.Fatal(err)
	}
	before, err := s.OSImage(ctx, "compute")
	if err != nil {
		t.Fatal(err)
	}
	files := snapshotFiles(t, cp)

	same := func(what string) {
		t.Helper()
		after, err := s.OSImage(ctx, "compute")
		if err != nil {
			t.Fatal(err)
		}
		if *after != *before {
			t.Errorf("%s: osimage changed:\n%+v\n%+v", what, after, before)
		}
		now := snapshotFiles(t, cp)
		if len(now) != len(files) {
			t.Errorf("%s: published files %d, were %d", what, len(now), len(files))
		}
		for k, v := range files {
			if now[k] != v {
				t.Errorf("%s: %s changed", what, k)
			}
		}
		checkNoTemps(t, cp, img)
	}

	// Interrupted once the tarball is written (Ctrl-C): nothing published.
	cctx, cancel := context.WithCancel(ctx)
	_, err = s.PackOSImage(cctx, "compute", PackOptions{CopyBoot: true, Progress: func(done, total int64) {
		if done == total {
			cancel()
		}
	}})
	if err == nil {
		t.Fatal("interrupted pack succeeded")
	}
	same("interrupted")

	// Interrupted while the tree is read.
	cctx, cancel = context.WithCancel(ctx)
	cancel()
	if _, err = s.PackOSImage(cctx, "compute", PackOptions{}); err == nil {
		t.Fatal("cancelled pack succeeded")
	}
	same("cancelled")

	// Boot files that cannot be found: refused before anything is written.
	if err := os.Remove(filepath.Join(img.Path, "boot/initrd.img-"+packKernel)); err != nil {
		t.Fatal(err)
	}
	_, err = s.PackOSImage(ctx, "compute", PackOptions{CopyBoot: true})
	if err == nil || !strings.Contains(err.Error(), "Unable to find initrd in "+img.Path) {
		t.Errorf("err = %v", err)
	}
	same("no initrd")

	// No dracut in the image, then no Luna module.
	_, err = s.PackOSImage(ctx, "compute", PackOptions{})
	if err == nil || err.Error() != "dracut is not installed in osimage 'compute' ("+img.Path+"): install it in the image, or use --copy_boot" {
		t.Errorf("err = %v", err)
	}
	if !errors.Is(err, ErrRefused) {
		t.Errorf("err = %v, want an ErrRefused", err)
	}
	if err := os.MkdirAll(filepath.Join(img.Path, "usr/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/usr/lib/dracut/dracut.sh", filepath.Join(img.Path, "usr/bin/dracut")); err != nil {
		t.Fatal(err)
	}
	_, err = s.PackOSImage(ctx, "compute", PackOptions{Boot: true})
	if err == nil || err.Error() != "No luna dracut module in osimage 'compute': install it in the image as /usr/lib/dracut/modules.d/95luna (make install-initrd DESTDIR="+img.Path+")" {
		t.Errorf("err = %v", err)
	}
	same("no dracut module")

	// Not root.
	geteuid = func() int { return 1000 }
	_, err = s.PackOSImage(ctx, "compute", PackOptions{Image: true})
	geteuid = os.Geteuid
	if err == nil || !strings.Contains(err.Error(), "needs root") {
		t.Errorf("err = %v", err)
	}
	same("not root")

	// No tracker address.
	c, _ := s.Cluster(ctx)
	if err := s.st.Set(ctx, store.Clusters, c.ID, map[string]any{"frontend_address": ""}); err != nil {
		t.Fatal(err)
	}
	_, err = s.PackOSImage(ctx, "compute", PackOptions{Image: true})
	if err == nil || err.Error() != "Tracker address needs to be configured." {
		t.Errorf("err = %v", err)
	}
	same("no tracker")
}

// TestPackConcurrent: two packs of one osimage at once (separate
// connections, as two administrators) never leave the osimage pointing at
// a missing or mismatched file; the one that loses is refused.
func TestPackConcurrent(t *testing.T) {
	s, cp, img, db := packSetup(t)
	ctx := context.Background()
	svcs := ownConnections(t, db, 2)
	var wg sync.WaitGroup
	errs := make([]error, len(svcs))
	for i, sv := range svcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = sv.PackOSImage(ctx, "compute", PackOptions{CopyBoot: true})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !strings.Contains(err.Error(), "is being packed by another command"):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok == 0 {
		t.Fatal("no pack succeeded")
	}
	got, err := s.OSImage(ctx, "compute")
	if err != nil {
		t.Fatal(err)
	}
	mi, err := metainfo.LoadFromFile(filepath.Join(cp, "torrents", got.Torrent+".torrent"))
	if err != nil {
		t.Fatal(err)
	}
	info, _ := mi.UnmarshalInfo()
	f, err := os.Open(filepath.Join(cp, "torrents", info.Name))
	if err != nil || info.Name != got.Tarball+".tgz" {
		t.Fatalf("torrent names %q, osimage tarball %q: %v", info.Name, got.Tarball, err)
	}
	defer f.Close()
	h := sha1.New()
	pc := info.Piece(0)
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, pc.Length())); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.Sum(nil), pc.V1Hash().Value.Bytes()) {
		t.Error("the torrent does not describe the tarball")
	}
	checkNoTemps(t, cp, img)
}

func TestDracutArgs(t *testing.T) {
	got := strings.Join(dracutArgs(DefaultDracutModules, DefaultKernModules), " ")
	want := "--add luna --omit i18n --omit plymouth --add-drivers ipmi_devintf --add-drivers ipmi_si --add-drivers ipmi_msghandler"
	if got != want {
		t.Errorf("dracutArgs = %q, want %q", got, want)
	}
	got = strings.Join(dracutArgs("-a,b", "-x,y"), " ")
	if got != "--add b --omit a --add-drivers y --omit-drivers x" {
		t.Errorf("dracutArgs = %q", got)
	}
}

// dracutImage is an osimage whose tree is this machine's own root seen
// through an overlay (so it has a real dracut, bash and libraries), with
// a kernel of its own, a Luna dracut module that installs a marker file,
// and a dracut configuration that keeps the initrd small and fast.
func dracutImage(t *testing.T, s *Service) (root, kernver string) {
	t.Helper()
	for _, p := range []string{"dracut", "cpio", "depmod", "unshare", "chroot"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s is needed: run `make deps` (dracut-core, cpio, kmod, util-linux)", p)
		}
	}
	base := t.TempDir()
	upper := filepath.Join(base, "upper")
	root = filepath.Join(base, "image")
	for _, d := range []string{upper, root} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mount("tmpfs", upper, "tmpfs", 0, "size=256m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(upper, syscall.MNT_DETACH) })
	for _, d := range []string{"u", "w"} {
		if err := os.Mkdir(filepath.Join(upper, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts := "lowerdir=/,upperdir=" + upper + "/u,workdir=" + upper + "/w"
	if err := syscall.Mount("overlay", root, "overlay", 0, opts); err != nil {
		t.Fatalf("overlay of / for a dracut image: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(root, syscall.MNT_DETACH) })
	kernver = "6.1.0-99-lunatest"
	for p, content := range map[string]string{
		"boot/vmlinuz-" + kernver:                     "the kernel",
		"lib/modules/" + kernver + "/modules.order":   "",
		"lib/modules/" + kernver + "/modules.builtin": "",
		"etc/luna-marker":                             "packed by luna",
		"etc/dracut.conf.d/99-lunatest.conf":          "dracutmodules=\" bash \"\ncompress=\"cat\"\n",
		lunaDracutModule + "/module-setup.sh":         "#!/bin/bash\ncheck() { return 0; }\ndepends() { return 0; }\ninstall() { inst_simple /etc/luna-marker; }\n",
	} {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("depmod", "-b", root, kernver).CombinedOutput(); err != nil {
		t.Fatalf("depmod: %v: %s", err, out)
	}
	return root, kernver
}

// TestPackBootDracut builds the initrd with dracut run in the image
// (--boot), checks that the Luna module is in it and that no mount is
// left behind; then a dracut that fails leaves the published files.
func TestPackBootDracut(t *testing.T) {
	s, cp, _, _ := packSetup(t)
	ctx := context.Background()
	root, kv := dracutImage(t, s)
	if err := s.AddOSImage(ctx, "host", root, kv, ""); err != nil {
		t.Fatal(err)
	}
	none := ""
	if _, err := s.ChangeOSImage(ctx, "host", OSImageChange{KernModules: &none}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := s.PackOSImage(ctx, "host", PackOptions{Boot: true, DracutOutput: &out})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if res.Tarball != "" || res.InitrdFile != "host-initramfs-"+kv {
		t.Errorf("result = %+v", res)
	}
	initrd := filepath.Join(cp, "boot", res.InitrdFile)
	list, err := exec.Command("sh", "-c", `cpio -it < "$0"`, initrd).Output()
	if err != nil {
		t.Fatalf("cpio -it %s: %v", initrd, err)
	}
	if !strings.Contains(string(list), "etc/luna-marker") {
		t.Errorf("the initrd lacks the luna module's file:\n%s", list)
	}
	if !strings.Contains(out.String(), "Including module: luna") {
		t.Errorf("dracut did not include the luna module:\n%s", out.String())
	}
	checkMounts := func() {
		t.Helper()
		b, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{"/proc", "/sys", "/dev"} {
			if strings.Contains(string(b), " "+root+d+" ") {
				t.Errorf("%s%s is still mounted", root, d)
			}
		}
		tmp, _ := filepath.Glob(filepath.Join(root, "tmp", "luna-pack-initrd-*"))
		if len(tmp) != 0 {
			t.Errorf("left in the image: %q", tmp)
		}
	}
	checkMounts()
	img, _ := s.OSImage(ctx, "host")
	if img.InitrdFile != res.InitrdFile || img.KernFile != "host-vmlinuz-"+kv {
		t.Errorf("osimage = %+v", img)
	}
	before := snapshotFiles(t, cp)

	// A dracut module that does not exist: dracut fails, nothing changes.
	mods := "luna,nosuchmodule"
	if _, err := s.ChangeOSImage(ctx, "host", OSImageChange{DracutModules: &mods}); err != nil {
		t.Fatal(err)
	}
	_, err = s.PackOSImage(ctx, "host", PackOptions{Boot: true})
	if err == nil || !strings.HasPrefix(err.Error(), "Error while building initrd") {
		t.Errorf("err = %v", err)
	}
	checkMounts()
	after := snapshotFiles(t, cp)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed by a failed pack", k)
		}
	}
	img2, _ := s.OSImage(ctx, "host")
	img.DracutModules = mods
	if *img2 != *img {
		t.Errorf("osimage changed by a failed pack: %+v", img2)
	}
}

// TestPackBootRealModule installs the repository's dracut module (initrd/)
// and ltorrent-client into the image, as `make install-initrd` does, and
// packs the boot files with the osimage's default module lists but no
// extra drivers (the test image has no kernel modules): the initrd holds
// the installer and the client.
func TestPackBootRealModule(t *testing.T) {
	s, cp, _, _ := packSetup(t)
	ctx := context.Background()
	root, kv := dracutImage(t, s)
	mod := filepath.Join(root, lunaDracutModule)
	if err := os.RemoveAll(mod); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(mod, 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join("..", "..", "initrd")
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(mod, e.Name()), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	client := filepath.Join(root, "usr/lib/luna/ltorrent-client")
	build := exec.Command("go", "build", "-o", client, "../../cmd/ltorrent-client")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ltorrent-client: %v: %s", err, out)
	}
	// The module needs udev-rules beside bash.
	conf := "dracutmodules=\" bash udev-rules \"\ncompress=\"cat\"\n"
	if err := os.WriteFile(filepath.Join(root, "etc/dracut.conf.d/99-lunatest.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.AddOSImage(ctx, "real", root, kv, ""); err != nil {
		t.Fatal(err)
	}
	none := ""
	if _, err := s.ChangeOSImage(ctx, "real", OSImageChange{KernModules: &none}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := s.PackOSImage(ctx, "real", PackOptions{Boot: true, DracutOutput: &out})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	list, err := exec.Command("sh", "-c", `cpio -it < "$0"`, filepath.Join(cp, "boot", res.InitrdFile)).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sbin/luna-installer", "lib/luna-lib.sh", "ltorrent-client"} {
		if !strings.Contains(string(list), want) {
			t.Errorf("the initrd lacks %s", want)
		}
	}
}

// TestPackClusterPathInImage: when the cluster's files live inside the
// image tree, the tarball leaves out the published tarballs and boot files
// (and the one being written).
func TestPackClusterPathInImage(t *testing.T) {
	s, _, img, _ := packSetup(t)
	ctx := context.Background()
	inside := filepath.Join(img.Path, "opt/luna")
	c, err := s.Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.st.Set(ctx, store.Clusters, c.ID, map[string]any{"path": inside}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.PackOSImage(ctx, "compute", PackOptions{CopyBoot: true}); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := s.OSImage(ctx, "compute")
	out, err := exec.Command("tar", "-tzf", filepath.Join(inside, "torrents", got.Tarball+".tgz")).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "./opt/luna/\n") || strings.Contains(string(out), "./opt/luna/torrents") || strings.Contains(string(out), "./opt/luna/boot") {
		t.Errorf("members:\n%s", out)
	}
}

// TestPackThenLtorrentClient: an image with special files is packed, the
// node client (ltorrent-client, built from cmd/ltorrent-client) downloads
// the published torrent from its web seed (a plain HTTP server on the
// cluster's torrents directory, as lweb's /torrents/; the tracker URL
// answers 404, no peer), and GNU tar unpacks it as the install script
// does: file capabilities, ACLs, xattrs, owners, modes, hard links, a
// device and a fifo come back.
func TestPackThenLtorrentClient(t *testing.T) {
	s, cp, img, _ := packSetup(t)
	ctx := context.Background()
	mux := http.NewServeMux()
	mux.Handle("/torrents/", http.StripPrefix("/torrents/", http.FileServer(http.Dir(filepath.Join(cp, "torrents")))))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	port, _ := strconv.Atoi(srv.URL[strings.LastIndex(srv.URL, ":")+1:])
	c, err := s.Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.st.Set(ctx, store.Clusters, c.ID, map[string]any{"frontend_address": "127.0.0.1", "frontend_port": port}); err != nil {
		t.Fatal(err)
	}
	r := img.Path
	for _, cmd := range [][]string{
		{"sh", "-c", `printf 'ping' > "$0/usr/ping" && chmod 4755 "$0/usr/ping" && ln "$0/usr/ping" "$0/usr/ping6"`, r},
		{"setcap", "cap_net_raw+ep", filepath.Join(r, "usr/share/data")},
		{"setfattr", "-n", "user.note", "-v", "kept", filepath.Join(r, "etc/passwd")},
		{"setfacl", "-m", "u:2000:rw", filepath.Join(r, "etc/group")},
		{"mknod", filepath.Join(r, "null"), "c", "1", "3"},
		{"mkfifo", filepath.Join(r, "fifo")},
		{"chown", "1234:5678", filepath.Join(r, "fifo")},
	} {
		if out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(cmd, " "), err, out)
		}
	}
	res, err := s.PackOSImage(ctx, "compute", PackOptions{Image: true})
	if err != nil {
		t.Fatal(err)
	}

	bin := filepath.Join(t.TempDir(), "ltorrent-client")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/ltorrent-client")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ltorrent-client: %v: %s", err, out)
	}
	node := t.TempDir()
	var stdout, stderr testpeer.SyncBuffer
	client := exec.Command(bin, "-t", filepath.Join(cp, "torrents", res.Torrent+".torrent"), "-f", filepath.Join(node, "client.pid"),
		"-b", "127.0.0.1", "-d", "1", "-w", "1", "-s", "60", "-T", "120")
	client.Dir, client.Stdout, client.Stderr = node, &stdout, &stderr
	if err := client.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- client.Wait() }()
	deadline := time.After(150 * time.Second)
	tgz := filepath.Join(node, res.Tarball+".tgz")
wait:
	for {
		select {
		case err := <-done:
			t.Fatalf("ltorrent-client ended before completing: %v\n%s\n%s", err, stdout.String(), stderr.String())
		case <-deadline:
			_ = client.Process.Kill()
			t.Fatalf("ltorrent-client did not complete:\n%s\n%s", stdout.String(), stderr.String())
		case <-time.After(200 * time.Millisecond):
			if strings.Contains(stdout.String(), "complete and verified") {
				break wait
			}
		}
	}
	_ = client.Process.Signal(syscall.SIGTERM)
	if err := <-done; err != nil {
		t.Errorf("ltorrent-client after SIGTERM: %v\n%s", err, stderr.String())
	}
	a, _ := os.ReadFile(tgz)
	b, _ := os.ReadFile(filepath.Join(cp, "torrents", res.Tarball+".tgz"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatalf("downloaded tarball differs (%d bytes, published %d)", len(a), len(b))
	}
	root := filepath.Join(node, "sysroot")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("tar", "--numeric-owner", "--acls", "--xattrs", "--xattrs-include=*", "-xpzf", tgz, "-C", root).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	for _, c := range [][]string{
		{"getcap", "usr/share/data"},
		{"getfattr", "-d", "-m", "-", "etc/passwd"},
		{"getfacl", "-n", "-p", "etc/group"},
		{"stat", "-c", "%A %u:%g %h %t:%T %n", "usr/ping", "usr/ping6", "null", "fifo", "usr/share/data"},
	} {
		want := runIn(t, img.Path, c...)
		if got := runIn(t, root, c...); got != want || want == "" {
			t.Errorf("%s:\nimage:\n%s\nunpacked:\n%s", strings.Join(c, " "), want, got)
		}
	}
}

func runIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s in %s: %v: %s", strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

// hupRecorder starts a copy of sh named name that appends "hup" to the
// returned file on each SIGHUP.
func hupRecorder(t *testing.T, name string) (*exec.Cmd, string) {
	t.Helper()
	dir := t.TempDir()
	shPath, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(shPath)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, name)
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	hupFile := filepath.Join(dir, "hup")
	sh := exec.Command(bin, "-c", `trap 'echo hup >> "$0"' HUP; while :; do sleep 0.05; done`, hupFile)
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sh.Process.Kill(); _ = sh.Wait() })
	time.Sleep(100 * time.Millisecond) // the trap is set
	return sh, hupFile
}

// TestSignalLtorrentChecksIdentity: a pidfile naming a live process that is
// not ltorrent (a stale pidfile whose pid was reused) gets no SIGHUP.
func TestSignalLtorrentChecksIdentity(t *testing.T) {
	other, hupFile := hupRecorder(t, "notltorrent")
	pidPath := filepath.Join(t.TempDir(), "ltorrent.pid")
	if err := os.WriteFile(pidPath, []byte(strconv.Itoa(other.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	msg := signalLtorrent(pidPath)
	if !strings.Contains(msg, "is not a live ltorrent") {
		t.Errorf("signalLtorrent = %q", msg)
	}
	time.Sleep(200 * time.Millisecond)
	if b, err := os.ReadFile(hupFile); err == nil {
		t.Errorf("the process that is not ltorrent got signalled: %q", b)
	}
	if err := other.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the other process died: %v", err)
	}
	real, realHup := hupRecorder(t, "ltorrent")
	if err := os.WriteFile(pidPath, []byte(strconv.Itoa(real.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg := signalLtorrent(pidPath); !strings.Contains(msg, "Told ltorrent") {
		t.Errorf("signalLtorrent = %q", msg)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if b, _ := os.ReadFile(realHup); strings.Contains(string(b), "hup") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ltorrent got no SIGHUP")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
