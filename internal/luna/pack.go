package luna

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/clustervision/luna-go/internal/osimage"
	"github.com/clustervision/luna-go/internal/pidfile"
	"github.com/clustervision/luna-go/internal/store"
)

// PackOptions are the modes of `luna osimage pack`: neither Image nor Boot
// packs both.
type PackOptions struct {
	Image    bool // --image: the tarball and its torrent only
	Boot     bool // --boot: the kernel and initrd only
	CopyBoot bool // --copy_boot: copy the image's own initrd instead of running dracut
	// Log receives one line per step ("Creating tarball.", ...); may be nil.
	Log func(msg string)
	// Progress is called about five times a second while the tarball is
	// written, with the bytes of file content read so far and the total;
	// may be nil (then the total is not computed).
	Progress func(done, total int64)
	// DracutOutput receives what dracut prints; may be nil.
	DracutOutput io.Writer
}

// PackResult is what a pack published.
type PackResult struct {
	Tarball     string // uuid of <path>/torrents/<uuid>.tgz; "" with --boot
	Torrent     string // uuid of <path>/torrents/<uuid>.torrent
	TarballSize int64
	PieceLength int64
	KernFile    string // <osimage>-vmlinuz-<kernver> in <path>/boot; "" with --image
	InitrdFile  string // <osimage>-initramfs-<kernver>
	Ltorrent    string // what became of telling ltorrent to rescan
	Warnings    []string
}

// geteuid is the effective user id (a variable so that tests can see the
// refusal without dropping privileges).
var geteuid = os.Geteuid

// lunaDracutModule is where the Luna dracut module lives in an image.
const lunaDracutModule = "usr/lib/dracut/modules.d/95luna"

// PackOSImage packs osimage name for the nodes: the tarball of its tree and
// the torrent that names it, and/or its kernel and an initrd (see
// docs/osimage.md). Everything is first written under temporary names; only
// when every part is complete are the files renamed into place and the
// osimage document updated, holding the osimage's lock. On any failure the
// temporary files are removed and the previously packed files and fields
// stay as they were. Two packs of one osimage at once: the second is
// refused. Old tarballs and torrents are left for ltorrent to retire.
func (s *Service) PackOSImage(ctx context.Context, name string, o PackOptions) (*PackResult, error) {
	if o.Image && o.Boot {
		return nil, Errorf("--image and --boot exclude each other")
	}
	if o.Image && o.CopyBoot {
		return nil, Errorf("--copy_boot makes boot files; it does nothing with --image")
	}
	if geteuid() != 0 {
		return nil, Failf("Packing an osimage needs root rights (to read every file of the image, run dracut in it and own the published files)")
	}
	if err := s.Guard(ctx); err != nil {
		return nil, err
	}
	c, err := s.Cluster(ctx)
	if err != nil {
		return nil, err
	}
	img, err := s.OSImage(ctx, name)
	if err != nil {
		return nil, err
	}
	p := &packJob{s: s, ctx: ctx, o: o, img: img, c: c, res: &PackResult{}}
	if o.Log == nil {
		p.o.Log = func(string) {}
	}
	doImage, doBoot := !o.Boot, !o.Image
	if err := p.check(doImage, doBoot); err != nil {
		return nil, err
	}
	unlock, err := packLock(p.torrents, img)
	if err != nil {
		return nil, err
	}
	defer unlock()
	defer p.removeTemps()
	p.removeStale()

	if doImage {
		p.o.Log("Creating tarball.")
		if err := p.tarball(); err != nil {
			return nil, err
		}
		p.o.Log("Done.")
		p.o.Log("Creating torrent.")
		if err := p.torrent(); err != nil {
			return nil, err
		}
		p.o.Log("Done.")
	}
	if doBoot {
		if err := p.boot(); err != nil {
			return nil, err
		}
		p.o.Log("Done.")
	}
	if err := p.publish(); err != nil {
		return nil, err
	}
	if doImage {
		p.res.Ltorrent = signalLtorrent(c.TorrentPidfile)
	}
	return p.res, nil
}

type packJob struct {
	s         *Service
	ctx       context.Context
	o         PackOptions
	img       *store.OSImage
	c         *store.Cluster
	res       *PackResult
	torrents  string // <cluster path>/torrents
	bootDir   string // <cluster path>/boot
	uid, gid  int    // owner of the published files
	announce  string
	webSeed   string
	pieces    []byte // piece hashes of the tarball
	kernel    string // host path of the image's kernel
	initrd    string // host path of the image's initrd (--copy_boot)
	dracutBin string // the image's dracut, as seen in the image
	temps     []string
	renames   []rename
	fields    map[string]any
}

// rename is one temporary file to move into place at publication.
type rename struct{ tmp, final string }

// check refuses, before anything is written, what would fail later.
func (p *packJob) check(doImage, doBoot bool) error {
	c, img := p.c, p.img
	if !isDir(img.Path) {
		return Errorf("'%s' is not a valid directory", img.Path)
	}
	if c.Path == "" || !filepath.IsAbs(c.Path) {
		return Errorf("The cluster path '%s' is not an absolute path", c.Path)
	}
	p.torrents = filepath.Join(c.Path, "torrents")
	p.bootDir = filepath.Join(c.Path, "boot")
	var err error
	if p.uid, p.gid, _, err = lookupUser(c.User); err != nil {
		return err
	}
	if doImage {
		if c.FrontendAddress == "" {
			return Failf("Tracker address needs to be configured.")
		}
		if c.FrontendPort <= 0 || c.FrontendPort > 65535 {
			return Failf("Tracker port needs to be configured.")
		}
		proto := "http"
		if c.FrontendHTTPS {
			proto = "https"
		}
		base := proto + "://" + net.JoinHostPort(c.FrontendAddress, strconv.Itoa(c.FrontendPort))
		p.announce, p.webSeed = base+"/announce", base+"/torrents/"
		if err := p.mkdir(p.torrents); err != nil {
			return err
		}
	}
	if doBoot {
		if err := validateKernVer(img.KernVer); err != nil {
			return err
		}
		if err := validateModules("dracut modules", img.DracutModules); err != nil {
			return err
		}
		if err := validateModules("kernel modules", img.KernModules); err != nil {
			return err
		}
		if err := p.findBootSources(); err != nil {
			return err
		}
		if err := p.mkdir(p.bootDir); err != nil {
			return err
		}
	}
	// The pack lock lives in the torrents directory, also for --boot.
	return p.mkdir(p.torrents)
}

// mkdir creates a directory of the cluster path, owned by the cluster user.
func (p *packJob) mkdir(dir string) error {
	if isDir(dir) {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Failf("Cannot create %s: %v", dir, unwrapPathError(err))
	}
	if err := os.Chown(dir, p.uid, p.gid); err != nil {
		return Failf("Cannot give %s to %s: %v", dir, p.c.User, unwrapPathError(err))
	}
	return nil
}

// tempPrefix starts the name of every temporary file of a pack of this
// osimage: hidden, and never ending in .torrent or .tgz, so neither
// ltorrent nor lweb's directory readers take it for a published file.
func (p *packJob) tempPrefix() string { return ".pack-" + p.img.ID.Hex() + "-" }

// temp creates a new temporary file in dir.
func (p *packJob) temp(dir, what string) (*os.File, error) {
	f, err := os.CreateTemp(dir, p.tempPrefix()+what+"-*.tmp")
	if err != nil {
		return nil, Failf("Cannot write in %s: %v", dir, unwrapPathError(err))
	}
	p.temps = append(p.temps, f.Name())
	return f, nil
}

// removeTemps removes what a pack left under temporary names.
func (p *packJob) removeTemps() {
	for _, t := range p.temps {
		_ = os.Remove(t)
	}
}

// removeStale removes the temporary files of an earlier pack of this
// osimage that was killed (the pack lock is held, so none is in use).
func (p *packJob) removeStale() {
	for _, dir := range []string{p.torrents, p.bootDir} {
		old, _ := filepath.Glob(filepath.Join(dir, p.tempPrefix()+"*"))
		for _, f := range old {
			_ = os.Remove(f)
		}
	}
}

// tarball writes the image's tarball, hashing its pieces as it goes.
func (p *packJob) tarball() error {
	id := uuid.NewString()
	f, err := p.temp(p.torrents, "tarball")
	if err != nil {
		return err
	}
	defer f.Close()
	var read atomic.Int64
	stop := p.progress(&read)
	hasher := osimage.NewPieceHasher(osimage.MinPieceLength)
	_, err = osimage.WriteTarGz(p.ctx, p.img.Path, io.MultiWriter(f, hasher), osimage.Options{
		// The published files, should the cluster path lie in the image.
		Exclude: append([]string{p.torrents, p.bootDir}, p.temps...), Read: &read,
	})
	stop()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, context.Canceled) {
		return Failf("Pack stopped; nothing was published.")
	}
	if err != nil {
		return Failf("Error on creating tarball: %v", unwrapPathError(err))
	}
	size := hasher.Len()
	pl := osimage.PieceLength(size)
	pieces := hasher.Pieces()
	if pl != osimage.MinPieceLength {
		if pieces, err = osimage.HashFile(f.Name(), pl); err != nil {
			return Failf("Error on creating torrent: %v", unwrapPathError(err))
		}
	}
	p.res.Tarball, p.res.TarballSize, p.res.PieceLength = id, size, pl
	p.pieces = pieces
	if err := p.own(f.Name()); err != nil {
		return err
	}
	p.renames = append(p.renames, rename{f.Name(), filepath.Join(p.torrents, id+".tgz")})
	p.set("tarball", id)
	return nil
}

// progress reports read bytes to o.Progress until the returned function is called.
func (p *packJob) progress(read *atomic.Int64) (stop func()) {
	if p.o.Progress == nil {
		return func() {}
	}
	total, _ := osimage.TreeSize(p.ctx, p.img.Path)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				p.o.Progress(read.Load(), total)
				return
			case <-t.C:
				p.o.Progress(read.Load(), total)
			}
		}
	}()
	return func() { close(done); <-finished }
}

// torrent writes the torrent of the tarball.
func (p *packJob) torrent() error {
	id := uuid.NewString()
	f, err := p.temp(p.torrents, "torrent")
	if err != nil {
		return err
	}
	defer f.Close()
	t := osimage.Torrent{
		Name: p.res.Tarball + ".tgz", Length: p.res.TarballSize, Piece: p.res.PieceLength, Pieces: p.pieces,
		Announce: p.announce, WebSeed: p.webSeed, Comment: id, Created: p.s.Now(),
	}
	err = t.Write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Failf("Error on creating torrent: %v", unwrapPathError(err))
	}
	if err := p.own(f.Name()); err != nil {
		return err
	}
	p.res.Torrent = id
	p.renames = append(p.renames, rename{f.Name(), filepath.Join(p.torrents, id+".torrent")})
	p.set("torrent", id)
	return nil
}

func (p *packJob) set(k string, v any) {
	if p.fields == nil {
		p.fields = map[string]any{}
	}
	p.fields[k] = v
}

// own gives a file to be published mode 0644 and the cluster user.
func (p *packJob) own(file string) error {
	if err := os.Chmod(file, 0o644); err != nil {
		return Failf("Cannot change the mode of %s: %v", file, unwrapPathError(err))
	}
	if err := os.Chown(file, p.uid, p.gid); err != nil {
		return Failf("Cannot give %s to %s: %v", file, p.c.User, unwrapPathError(err))
	}
	return nil
}

// findBootSources finds the image's kernel and, with --copy_boot, its
// initrd, or else its dracut and the Luna dracut module.
func (p *packJob) findBootSources() error {
	img := p.img
	var err error
	p.kernel, err = findInImage(img.Path, "boot/vmlinuz-"+img.KernVer, "lib/modules/"+img.KernVer+"/vmlinuz")
	if err != nil {
		return Failf("Unable to find kernel in %s (no boot/vmlinuz-%s): %v", img.Path, img.KernVer, err)
	}
	if p.o.CopyBoot {
		p.initrd, err = findInImage(img.Path, "boot/initramfs-"+img.KernVer+".img", "boot/initrd.img-"+img.KernVer, "boot/initrd-"+img.KernVer)
		if err != nil {
			return Failf("Unable to find initrd in %s (no boot/initramfs-%s.img or boot/initrd.img-%s): %v", img.Path, img.KernVer, img.KernVer, err)
		}
		return nil
	}
	for _, c := range []string{"usr/bin/dracut", "usr/sbin/dracut", "sbin/dracut", "bin/dracut"} {
		if isFile(filepath.Join(img.Path, c)) {
			p.dracutBin = "/" + c
			break
		}
	}
	if p.dracutBin == "" {
		return Failf("dracut is not installed in osimage '%s' (%s): install it in the image, or use --copy_boot", img.Name, img.Path)
	}
	if !isDir(filepath.Join(img.Path, lunaDracutModule)) {
		return Failf("No luna dracut module in osimage '%s': install it in the image as /%s (make install-initrd DESTDIR=%s)", img.Name, lunaDracutModule, img.Path)
	}
	for _, d := range []string{"proc", "sys", "dev", "tmp"} {
		if !isDir(filepath.Join(img.Path, d)) {
			return Failf("The image %s has no /%s directory to run dracut in", img.Path, d)
		}
	}
	return nil
}

// boot prepares the kernel and initrd of the image.
func (p *packJob) boot() error {
	img := p.img
	kernFile := img.Name + "-vmlinuz-" + img.KernVer
	initrdFile := img.Name + "-initramfs-" + img.KernVer
	initrd := p.initrd
	if p.o.CopyBoot {
		p.o.Log("Copying kernel and initrd from image.")
		p.res.Warnings = append(p.res.Warnings, "Boot files were copied, but luna modules might not have been added to initrd. Please check /etc/dracut.conf.d in the image")
	} else {
		p.o.Log("Copying kernel and packing initrd.")
		dir, err := p.dracut()
		if dir != "" {
			defer os.RemoveAll(dir)
		}
		if err != nil {
			return err
		}
		initrd = filepath.Join(dir, "initrd")
	}
	for _, f := range []struct{ src, name string }{{p.kernel, kernFile}, {initrd, initrdFile}} {
		tmp, err := p.copyTemp(f.src, p.bootDir)
		if err != nil {
			return err
		}
		p.renames = append(p.renames, rename{tmp, filepath.Join(p.bootDir, f.name)})
	}
	p.res.KernFile, p.res.InitrdFile = kernFile, initrdFile
	p.set("kernfile", kernFile)
	p.set("initrdfile", initrdFile)
	return nil
}

// copyTemp copies src to a new temporary file in dir, synced and owned.
func (p *packJob) copyTemp(src, dir string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", Failf("Cannot read %s: %v", src, unwrapPathError(err))
	}
	defer in.Close()
	out, err := p.temp(dir, filepath.Base(src))
	if err != nil {
		return "", err
	}
	defer out.Close()
	_, err = io.CopyBuffer(out, in, make([]byte, 1<<20))
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", Failf("Cannot copy %s to %s: %v", src, dir, unwrapPathError(err))
	}
	return out.Name(), p.own(out.Name())
}

// dracutArgs are dracut's module options from the osimage's lists, in 1.2's
// order: every --add, every --omit, every --add-drivers, every --omit-drivers.
func dracutArgs(dracutModules, kernModules string) []string {
	var add, omit, addDrv, omitDrv []string
	for _, m := range splitList(dracutModules) {
		if rest, ok := strings.CutPrefix(m, "-"); ok {
			omit = append(omit, "--omit", rest)
		} else {
			add = append(add, "--add", m)
		}
	}
	for _, m := range splitList(kernModules) {
		if rest, ok := strings.CutPrefix(m, "-"); ok {
			omitDrv = append(omitDrv, "--omit-drivers", rest)
		} else {
			addDrv = append(addDrv, "--add-drivers", m)
		}
	}
	return append(append(append(add, omit...), addDrv...), omitDrv...)
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// dracutScript mounts /proc, /sys and /dev of the host into the image and
// runs the command in a chroot of it. It runs in a mount namespace of its
// own (unshare --mount), so the mounts never show outside it and vanish
// with it, whatever way dracut ends.
const dracutScript = `root=$1; shift
for d in proc sys dev; do mount --bind "/$d" "$root/$d" || exit 1; done
exec chroot "$root" "$@"`

// dracut builds the initrd of the image with the image's own dracut. It
// returns the host path of a temporary directory in the image's /tmp that
// holds the initrd as "initrd" (the caller removes the directory).
func (p *packJob) dracut() (string, error) {
	img := p.img
	dir, err := os.MkdirTemp(filepath.Join(img.Path, "tmp"), "luna-pack-initrd-")
	if err != nil {
		return "", Failf("Cannot write in %s/tmp: %v", img.Path, unwrapPathError(err))
	}
	inImage := "/" + strings.TrimPrefix(dir, img.Path+"/") + "/initrd"
	args := []string{"--mount", "--propagation", "private", "--", "/bin/sh", "-c", dracutScript, "luna-dracut", img.Path,
		p.dracutBin, "--force", "--kver", img.KernVer}
	args = append(args, dracutArgs(img.DracutModules, img.KernModules)...)
	args = append(args, inImage)
	var out bytes.Buffer
	cmd := exec.CommandContext(p.ctx, "unshare", args...)
	var w io.Writer = &out
	if p.o.DracutOutput != nil {
		w = io.MultiWriter(&out, p.o.DracutOutput)
	}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
	if err := cmd.Run(); err != nil {
		return dir, Failf("Error while building initrd: dracut in %s: %v: %s", img.Path, err, lastLine(out.String()))
	}
	if !isFile(filepath.Join(dir, "initrd")) {
		return dir, Failf("Error while building initrd: dracut made no initrd in %s", dir)
	}
	return dir, nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// findInImage returns the host path of the first of the image-relative
// paths that is a regular file, following symbolic links inside the image
// (an absolute link target means the image's root, not the host's).
func findInImage(root string, rels ...string) (string, error) {
	var last error = fs.ErrNotExist
	for _, rel := range rels {
		p, err := resolveInImage(root, rel)
		if err == nil {
			return p, nil
		}
		last = err
	}
	return "", last
}

func resolveInImage(root, rel string) (string, error) {
	p := filepath.Join(root, rel)
	for range 40 {
		fi, err := os.Lstat(p)
		if err != nil {
			return "", unwrapPathError(err)
		}
		if fi.Mode().IsRegular() {
			return p, nil
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return "", fmt.Errorf("%s is not a regular file", p)
		}
		target, err := os.Readlink(p)
		if err != nil {
			return "", unwrapPathError(err)
		}
		if filepath.IsAbs(target) {
			p = filepath.Join(root, target)
		} else {
			p = filepath.Join(filepath.Dir(p), target)
		}
		if p != root && !strings.HasPrefix(p, root+"/") {
			return "", fmt.Errorf("%s points outside the image", rel)
		}
	}
	return "", errors.New("too many levels of symbolic links")
}

// publish moves the prepared files into place and records them, holding
// the osimage's lock; it undoes the moves when the osimage cannot be
// updated (deleted or changed meanwhile).
func (p *packJob) publish() (err error) {
	key := store.OSImages + "/" + p.img.ID.Hex()
	ctx, held, err := p.s.st.Lock(p.ctx, key, lockWait, p.s.Lease)
	if errors.Is(err, store.ErrLocked) {
		return Failf("'%s' is being changed by another command; try again", p.img.Name)
	}
	if err != nil {
		return err
	}
	defer func() {
		if err != nil && errors.Is(context.Cause(ctx), store.ErrLockLost) {
			err = fmt.Errorf("%w (%v)", err, context.Cause(ctx))
		}
		if rerr := held.Release(); rerr != nil {
			p.s.warn(rerr.Error() + "; it expires by itself")
		}
	}()
	var now store.OSImage
	if err := p.s.st.GetByID(ctx, store.OSImages, p.img.ID, &now); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Failf("osimage '%s' was deleted while it was packed", p.img.Name)
		}
		return err
	}
	if now.Path != p.img.Path || (p.res.KernFile != "" && now.KernVer != p.img.KernVer) ||
		(p.res.KernFile != "" && (now.DracutModules != p.img.DracutModules || now.KernModules != p.img.KernModules)) {
		return Failf("osimage '%s' was changed while it was packed; pack it again", p.img.Name)
	}
	// Replaced boot files are kept under a temporary name until the
	// document is updated, to be put back if it cannot be.
	var done []rename
	var backups []rename
	undo := func() {
		for i := len(done) - 1; i >= 0; i-- {
			_ = os.Remove(done[i].final)
		}
		for _, b := range backups {
			_ = os.Rename(b.tmp, b.final)
		}
	}
	for _, r := range p.renames {
		if _, err := os.Lstat(r.final); err == nil {
			b := r.tmp + ".old"
			if err := os.Link(r.final, b); err != nil {
				undo()
				return Failf("Cannot keep %s: %v", r.final, unwrapPathError(err))
			}
			p.temps = append(p.temps, b)
			backups = append(backups, rename{b, r.final})
		}
		if err := os.Rename(r.tmp, r.final); err != nil {
			undo()
			return Failf("Cannot publish %s: %v", r.final, unwrapPathError(err))
		}
		done = append(done, r)
	}
	for _, dir := range []string{p.torrents, p.bootDir} {
		syncDir(dir)
	}
	if err := p.s.st.Set(ctx, store.OSImages, p.img.ID, p.fields); err != nil {
		undo()
		return err
	}
	return nil
}

// syncDir makes the renames in dir durable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// packLock makes one pack of an osimage at a time: an exclusive flock on
// <cluster path>/torrents/.pack-<osimage id>.lock, held until the returned
// function is called and released by the kernel if the process dies. (The
// store's object lock is for changes that take milliseconds and is taken
// over after 30 s; a pack takes minutes.) Only the active HA node packs.
func packLock(torrents string, img *store.OSImage) (func(), error) {
	file := filepath.Join(torrents, ".pack-"+img.ID.Hex()+".lock")
	f, err := os.OpenFile(file, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, Failf("Cannot create %s: %v", file, unwrapPathError(err))
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, Failf("osimage '%s' is being packed by another command; try again when it has finished", img.Name)
		}
		return nil, Failf("Cannot lock %s: %v", file, err)
	}
	return func() { f.Close() }, nil
}

// signalLtorrent asks ltorrent to look for new torrents (SIGHUP to the
// pid in pidfile) and says in one line what happened. ltorrent not
// running is no error: it reads the directory when it starts.
func signalLtorrent(path string) string {
	if path == "" {
		return "ltorrent has no pid file configured (torrent_pidfile); it sees the new torrent when it starts"
	}
	pid, err := pidfile.Read(path)
	if err != nil {
		return fmt.Sprintf("ltorrent's pid file %s cannot be read (%v); ltorrent was not told about the new torrent", path, err)
	}
	if pid == 0 {
		return fmt.Sprintf("ltorrent is not running (no pid in %s); it sees the new torrent when it starts", path)
	}
	if !pidfile.Running(pid, "ltorrent") {
		return fmt.Sprintf("ltorrent is not running (pid %d from %s is not a live ltorrent); it sees the new torrent when it starts", pid, path)
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return fmt.Sprintf("ltorrent (pid %d from %s) could not be signalled: %v", pid, path, err)
	}
	return fmt.Sprintf("Told ltorrent (pid %d) to read the new torrent", pid)
}
