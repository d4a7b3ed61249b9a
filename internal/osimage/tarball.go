// Package osimage writes what `luna osimage pack` publishes: a gzipped PAX
// tarball of an image tree that GNU tar restores with every piece of
// metadata, and the single-file .torrent that names it.
package osimage

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/klauspost/pgzip"
	"golang.org/x/sys/unix"
)

// GzipBlockSize is the size of the blocks pgzip compresses in parallel. At
// 1 MiB each block costs the compressor one 32 KiB window of context, so
// the archive is within a fraction of a percent of one gzip stream's size.
const GzipBlockSize = 1 << 20

// readBuffer is the size of each read from a file of the image.
const readBuffer = 1 << 20

// Options says how to write an image's tarball.
type Options struct {
	// Level is the gzip level; 0 means the default (6, as gzip and pigz).
	Level int
	// Exclude lists absolute paths that are left out with everything below
	// them (the tarball being written, when it lies inside the tree).
	Exclude []string
	// Read, when set, is added the size of every chunk read from a file of
	// the image, as it is read (for a progress display).
	Read *atomic.Int64
}

// Stats describes a written tarball.
type Stats struct {
	Entries int   // members written
	Bytes   int64 // bytes of file content read
	Skipped int   // sockets, which tar archives cannot hold
}

// WriteTarGz writes the tree at root to w as a gzipped PAX tarball, as GNU
// tar `-C root --one-file-system --xattrs --acls --numeric-owner -c .` would
// with names: members are `./`, `./etc/`, `./etc/passwd`, ... in byte order
// of their names, depth first; directories on another file system than root
// appear as empty directories. Owners are stored as ids and as the names in
// the image's own /etc/passwd and /etc/group (the names tar restores by);
// modes keep setuid, setgid and sticky bits; mtimes are whole seconds (as
// GNU tar's default format), so the archive depends only on the tree.
// Every extended attribute is stored as SCHILY.xattr.<name> (file
// capabilities, SELinux labels, user.*), and POSIX ACLs also as
// SCHILY.acl.access / SCHILY.acl.default in the text GNU tar 1.34 writes,
// with numeric ids (an initrd need not know the image's user names).
func WriteTarGz(ctx context.Context, root string, w io.Writer, opt Options) (Stats, error) {
	level := opt.Level
	if level == 0 {
		level = 6
	}
	zw, err := pgzip.NewWriterLevel(w, level)
	if err != nil {
		return Stats{}, err
	}
	if err := zw.SetConcurrency(GzipBlockSize, 2*runtime.GOMAXPROCS(0)); err != nil {
		return Stats{}, err
	}
	st, err := WriteTar(ctx, root, zw, opt)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	return st, err
}

// WriteTar writes the uncompressed tarball WriteTarGz compresses.
func WriteTar(ctx context.Context, root string, w io.Writer, opt Options) (Stats, error) {
	root = filepath.Clean(root)
	fi, err := os.Lstat(root)
	if err != nil {
		return Stats{}, err
	}
	if !fi.IsDir() {
		return Stats{}, fmt.Errorf("%s is not a directory", root)
	}
	tw := &treeWriter{
		ctx:     ctx,
		root:    root,
		tw:      tar.NewWriter(w),
		dev:     fi.Sys().(*syscall.Stat_t).Dev,
		links:   map[fileID]string{},
		exclude: map[string]bool{},
		users:   readNames(filepath.Join(root, "etc/passwd")),
		groups:  readNames(filepath.Join(root, "etc/group")),
		buf:     make([]byte, readBuffer),
		read:    opt.Read,
	}
	for _, e := range opt.Exclude {
		tw.exclude[filepath.Clean(e)] = true
	}
	if err := tw.entry(root, "./", fi); err != nil {
		return tw.stats, err
	}
	if err := tw.tw.Close(); err != nil {
		return tw.stats, err
	}
	return tw.stats, nil
}

type fileID struct{ dev, ino uint64 }

type treeWriter struct {
	ctx     context.Context
	root    string
	tw      *tar.Writer
	dev     uint64
	links   map[fileID]string
	exclude map[string]bool
	users   map[int]string
	groups  map[int]string
	buf     []byte
	xbuf    []byte
	read    *atomic.Int64
	stats   Stats
}

// entry writes the member name for the file at p and, for a directory on
// the root's file system, everything below it.
func (t *treeWriter) entry(p, name string, fi fs.FileInfo) error {
	if err := t.ctx.Err(); err != nil {
		return err
	}
	sys := fi.Sys().(*syscall.Stat_t)
	mode := fi.Mode()
	if mode&fs.ModeSocket != 0 {
		t.stats.Skipped++
		return nil
	}
	h := &tar.Header{
		Name:    name,
		Mode:    int64(sys.Mode & 0o7777),
		Uid:     int(sys.Uid),
		Gid:     int(sys.Gid),
		Uname:   t.users[int(sys.Uid)],
		Gname:   t.groups[int(sys.Gid)],
		ModTime: time.Unix(sys.Mtim.Sec, 0),
	}
	id := fileID{uint64(sys.Dev), sys.Ino}
	switch {
	case mode.IsDir():
		h.Typeflag = tar.TypeDir
	case !mode.IsDir() && sys.Nlink > 1 && t.links[id] != "":
		h.Typeflag = tar.TypeLink
		h.Linkname = t.links[id]
	case mode.IsRegular():
		h.Typeflag = tar.TypeReg
		h.Size = fi.Size()
	case mode&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		h.Typeflag = tar.TypeSymlink
		h.Linkname = target
	case mode&fs.ModeCharDevice != 0:
		h.Typeflag = tar.TypeChar
	case mode&fs.ModeDevice != 0:
		h.Typeflag = tar.TypeBlock
	case mode&fs.ModeNamedPipe != 0:
		h.Typeflag = tar.TypeFifo
	default:
		t.stats.Skipped++
		return nil
	}
	if h.Typeflag == tar.TypeChar || h.Typeflag == tar.TypeBlock {
		h.Devmajor = int64(unix.Major(uint64(sys.Rdev)))
		h.Devminor = int64(unix.Minor(uint64(sys.Rdev)))
	}
	if !mode.IsDir() && sys.Nlink > 1 && h.Typeflag != tar.TypeLink {
		t.links[id] = name
	}
	if h.Typeflag != tar.TypeLink {
		recs, err := t.xattrs(p)
		if err != nil {
			return err
		}
		h.PAXRecords = recs
	}
	if h.PAXRecords != nil || len(name) > 100 || len(h.Linkname) > 100 {
		h.Format = tar.FormatPAX
	}
	if err := t.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	t.stats.Entries++
	switch h.Typeflag {
	case tar.TypeReg:
		if err := t.content(p, h.Size); err != nil {
			return err
		}
	case tar.TypeDir:
		return t.dir(p, name, uint64(sys.Dev))
	}
	return nil
}

// content copies the file at p, which had size bytes when it was stat'ed.
func (t *treeWriter) content(p string, size int64) error {
	if size == 0 {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	var done int64
	for done < size {
		if err := t.ctx.Err(); err != nil {
			return err
		}
		want := int64(len(t.buf))
		if size-done < want {
			want = size - done
		}
		n, err := io.ReadFull(f, t.buf[:want])
		if n > 0 {
			if _, werr := t.tw.Write(t.buf[:n]); werr != nil {
				return werr
			}
			done += int64(n)
			t.stats.Bytes += int64(n)
			if t.read != nil {
				t.read.Add(int64(n))
			}
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return fmt.Errorf("%s shrank from %d to %d bytes while it was read", p, size, done)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// dir writes the entries of directory p (member name) in byte order of
// their names. A directory on another file system is written empty.
func (t *treeWriter) dir(p, name string, dev uint64) error {
	if dev != t.dev {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	sort.Strings(names)
	for _, n := range names {
		cp := filepath.Join(p, n)
		if t.exclude[cp] {
			continue
		}
		fi, err := os.Lstat(cp)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since the directory was read
		}
		if err != nil {
			return err
		}
		cn := name + n
		if fi.IsDir() {
			cn += "/"
		}
		if err := t.entry(cp, cn, fi); err != nil {
			return err
		}
	}
	return nil
}

// xattrs returns the PAX records of the extended attributes and ACLs of p
// (nil when it has none).
func (t *treeWriter) xattrs(p string) (map[string]string, error) {
	names, err := t.listxattr(p)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	recs := make(map[string]string, len(names))
	for _, n := range names {
		v, err := t.getxattr(p, n)
		if errors.Is(err, unix.ENODATA) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: read extended attribute %s: %w", p, n, err)
		}
		recs["SCHILY.xattr."+n] = string(v)
		switch n {
		case "system.posix_acl_access", "system.posix_acl_default":
			text, err := ACLText(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", p, n, err)
			}
			recs["SCHILY.acl."+strings.TrimPrefix(n, "system.posix_acl_")] = text
		}
	}
	if len(recs) == 0 {
		return nil, nil
	}
	return recs, nil
}

func (t *treeWriter) listxattr(p string) ([]string, error) {
	for {
		if len(t.xbuf) == 0 {
			t.xbuf = make([]byte, 4096)
		}
		n, err := unix.Llistxattr(p, t.xbuf)
		if errors.Is(err, unix.ERANGE) {
			t.xbuf = make([]byte, 2*len(t.xbuf))
			continue
		}
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: list extended attributes: %w", p, err)
		}
		var names []string
		for _, s := range strings.Split(string(t.xbuf[:n]), "\x00") {
			if s != "" {
				names = append(names, s)
			}
		}
		sort.Strings(names)
		return names, nil
	}
}

func (t *treeWriter) getxattr(p, name string) ([]byte, error) {
	size := 256
	for {
		buf := make([]byte, size)
		n, err := unix.Lgetxattr(p, name, buf)
		if errors.Is(err, unix.ERANGE) {
			size *= 4
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

// readNames reads an /etc/passwd or /etc/group file into id -> name (the
// first name of each id). A missing or unreadable file gives no names.
func readNames(file string) map[int]string {
	out := map[int]string{}
	f, err := os.Open(file)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.SplitN(sc.Text(), ":", 4)
		if len(fields) < 3 || fields[0] == "" || strings.HasPrefix(fields[0], "#") {
			continue
		}
		id, err := strconv.Atoi(fields[2])
		if err != nil {
			continue
		}
		if _, ok := out[id]; !ok {
			out[id] = fields[0]
		}
	}
	return out
}

// TreeSize adds up the sizes of the regular files under root on root's
// file system (what WriteTar reads), for a progress display.
func TreeSize(ctx context.Context, root string) (int64, error) {
	fi, err := os.Lstat(root)
	if err != nil {
		return 0, err
	}
	dev := fi.Sys().(*syscall.Stat_t).Dev
	var total int64
	seen := map[fileID]bool{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if d.IsDir() {
			if info, err := d.Info(); err == nil && info.Sys().(*syscall.Stat_t).Dev != dev {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		sys := info.Sys().(*syscall.Stat_t)
		if sys.Nlink > 1 {
			id := fileID{uint64(sys.Dev), sys.Ino}
			if seen[id] {
				return nil
			}
			seen[id] = true
		}
		total += info.Size()
		return nil
	})
	return total, err
}
