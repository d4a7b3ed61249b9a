package osimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// need fails the test when a program it compares against is missing.
func need(t *testing.T, progs ...string) {
	t.Helper()
	for _, p := range progs {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s is needed: run `make deps` (apt-get install tar acl attr libcap2-bin pigz)", p)
		}
	}
	if os.Geteuid() != 0 {
		t.Fatal("this test makes device nodes and files of other owners: run it as root")
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// MakeTestTree builds an image-like tree under root with every kind of
// file and metadata a tarball must keep.
func makeTestTree(t *testing.T, root string) {
	t.Helper()
	w := func(p, content string, mode fs.FileMode) {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(full, mode); err != nil {
			t.Fatal(err)
		}
	}
	w("etc/passwd", "root:x:0:0:root:/root:/bin/bash\nalice:x:1234:5678::/home/alice:/bin/sh\n", 0o644)
	w("etc/group", "root:x:0:\nstaff:x:5678:alice\n", 0o644)
	w("usr/bin/su", "setuid program", 0o4755)
	w("usr/bin/wall", "setgid program", 0o2755)
	w("usr/bin/ping", "capable program", 0o755)
	w("etc/shadow", "secret", 0)
	w("home/alice/notes", "alice's file", 0o640)
	w("home/alice/acl", "file with an ACL", 0o640)
	w("var/lib/big", strings.Repeat("0123456789abcdef", 300000), 0o644) // ~4.6 MiB, several read chunks
	w("usr/share/doc/"+strings.Repeat("long-name-", 12)+"/file", "deep", 0o644)
	w("usr/lib/a", "hard linked", 0o644)
	w("empty", "", 0o600)
	for _, d := range []string{"tmp", "proc", "dev", "var/tmp", "home/alice/shared"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(root, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(root, "usr/lib/a"), filepath.Join(root, "usr/lib/b")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(root, "usr/lib/a"), filepath.Join(root, "var/c")); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"bin": "usr/bin", "etc/localtime": "/usr/share/zoneinfo/UTC", "usr/lib/dangling": "../nowhere"} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mknod(filepath.Join(root, "dev/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(filepath.Join(root, "dev/loop0"), unix.S_IFBLK|0o660, int(unix.Mkdev(7, 0))); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(root, "var/fifo"), 0o620); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"home/alice", "home/alice/notes", "home/alice/acl", "home/alice/shared"} {
		if err := os.Lchown(filepath.Join(root, p), 1234, 5678); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Lchown(filepath.Join(root, "usr/lib/dangling"), 4321, 8765); err != nil {
		t.Fatal(err)
	}
	run(t, "setcap", "cap_net_raw+ep", filepath.Join(root, "usr/bin/ping"))
	run(t, "setfattr", "-n", "user.origin", "-v", "luna test", filepath.Join(root, "home/alice/notes"))
	run(t, "setfattr", "-n", "user.binary", "-v", "0x00ff10", filepath.Join(root, "home/alice/notes"))
	run(t, "setfattr", "-n", "security.selinux", "-v", "system_u:object_r:bin_t:s0", filepath.Join(root, "usr/bin/su"))
	run(t, "setfacl", "-m", "u:2000:rw,g:3000:r", filepath.Join(root, "home/alice/acl"))
	run(t, "setfacl", "-d", "-m", "u:2000:rwx,g::r-x,o::-", filepath.Join(root, "home/alice/shared"))
	run(t, "setfacl", "-m", "u:2001:rwx", filepath.Join(root, "home/alice/shared"))
	// A socket, which tar cannot hold.
	l, err := net.Listen("unix", filepath.Join(root, "var/sock"))
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	// Fixed mtimes (symlinks too) so the whole tree, not only file contents, compares.
	when := time.Date(2024, 5, 6, 7, 8, 9, 500, time.UTC)
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		ts := []unix.Timespec{unix.NsecToTimespec(when.UnixNano()), unix.NsecToTimespec(when.UnixNano())}
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// fileMeta is everything compared about one file of a tree.
type fileMeta struct {
	Type, Mode    uint32
	UID, GID      uint32
	Mtime         int64
	Size          int64
	Content, Link string
	Rdev          uint64
	Xattrs        string
	LinkGroup     string // the first path with the same inode, for hard links
}

// snapshot describes every file under root by its path relative to root.
func snapshot(t *testing.T, root string, skip ...string) map[string]fileMeta {
	t.Helper()
	out := map[string]fileMeta{}
	inodes := map[uint64]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		for _, s := range skip {
			if rel == s {
				return nil
			}
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		m := fileMeta{Type: st.Mode & unix.S_IFMT, Mode: st.Mode & 0o7777, UID: st.Uid, GID: st.Gid, Rdev: st.Rdev}
		if m.Type != unix.S_IFDIR {
			m.Mtime = st.Mtim.Sec // a directory's mtime changes as tar fills it in
			m.Size = st.Size
		}
		switch m.Type {
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			m.Content = fmt.Sprintf("%x", sha256.Sum256(b))
			if st.Nlink > 1 {
				if first, ok := inodes[st.Ino]; ok {
					m.LinkGroup = first
				} else {
					inodes[st.Ino] = rel
					m.LinkGroup = rel
				}
			}
		case unix.S_IFLNK:
			m.Link, _ = os.Readlink(p)
		}
		m.Xattrs = xattrDump(t, p)
		out[rel] = m
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func xattrDump(t *testing.T, p string) string {
	buf := make([]byte, 65536)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		t.Fatalf("list xattrs of %s: %v", p, err)
	}
	var names []string
	for _, s := range strings.Split(string(buf[:n]), "\x00") {
		if s != "" {
			names = append(names, s)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		v := make([]byte, 65536)
		n, err := unix.Lgetxattr(p, name, v)
		if err != nil {
			t.Fatalf("get xattr %s of %s: %v", name, p, err)
		}
		fmt.Fprintf(&b, "%s=%x;", name, v[:n])
	}
	return b.String()
}

func compareTrees(t *testing.T, want, got map[string]fileMeta) {
	t.Helper()
	for p, w := range want {
		g, ok := got[p]
		if !ok {
			t.Errorf("%s: missing after extraction", p)
			continue
		}
		if g != w {
			t.Errorf("%s:\n got %+v\nwant %+v", p, g, w)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: extracted but not in the tree", p)
		}
	}
}

// TestTarballRestoresEverything packs a tree with every kind of file and
// metadata, unpacks it with GNU tar as a node does, and compares the trees,
// extended attributes, ACLs and capabilities included.
func TestTarballRestoresEverything(t *testing.T) {
	need(t, "tar", "setfacl", "getfacl", "setfattr", "setcap", "getcap")
	root := filepath.Join(t.TempDir(), "image")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	makeTestTree(t, root)
	// A file system mounted in the image: its mount point is kept, empty.
	if err := unix.Mount("tmpfs", filepath.Join(root, "proc"), "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(filepath.Join(root, "proc"), unix.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(root, "proc/other-fs"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	tgz := filepath.Join(t.TempDir(), "image.tgz")
	f, err := os.Create(tgz)
	if err != nil {
		t.Fatal(err)
	}
	st, err := WriteTarGz(context.Background(), root, f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if st.Skipped != 1 {
		t.Errorf("skipped %d files, want 1 (the socket)", st.Skipped)
	}

	out := filepath.Join(t.TempDir(), "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "tar", "--acls", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpzf", tgz, "-C", out)

	want := snapshot(t, root, "var/sock", "proc/other-fs")
	// The mount point is archived with the mounted file system's root
	// metadata, as GNU tar does.
	got := snapshot(t, out)
	compareTrees(t, want, got)
	if _, ok := got["proc/other-fs"]; ok {
		t.Error("a file of another file system was packed")
	}

	// The tools an administrator checks with agree too.
	for _, c := range [][]string{
		{"getfacl", "-n", "-p", "home/alice/acl", "home/alice/shared"},
		{"getcap", "usr/bin/ping"},
		{"getfattr", "-d", "-m", "-", "home/alice/notes", "usr/bin/su"},
	} {
		a := runIn(t, root, c...)
		b := runIn(t, out, c...)
		if a != b || a == "" {
			t.Errorf("%s differs:\nimage:\n%s\nunpacked:\n%s", strings.Join(c, " "), a, b)
		}
	}
	if g := runIn(t, out, "getcap", "usr/bin/ping"); !strings.Contains(g, "cap_net_raw=ep") {
		t.Errorf("capability lost: %q", g)
	}
	if g := runIn(t, out, "getfacl", "-n", "-p", "home/alice/shared"); !strings.Contains(g, "default:user:2000:rwx") {
		t.Errorf("default ACL lost: %q", g)
	}

	// Owner names come from the image, and the install script can take
	// ./etc/passwd and ./etc/group out by name.
	names := map[string]*tar.Header{}
	readMembers(t, tgz, func(h *tar.Header) { names[h.Name] = h })
	if h := names["./home/alice/notes"]; h == nil || h.Uname != "alice" || h.Gname != "staff" {
		t.Errorf("./home/alice/notes header = %+v, want owner alice:staff", h)
	}
	if h := names["./"]; h == nil || h.Typeflag != tar.TypeDir {
		t.Errorf("no ./ member")
	}
	if h := names["./usr/lib/b"]; h == nil || h.Typeflag != tar.TypeLink || h.Linkname != "./usr/lib/a" {
		t.Errorf("./usr/lib/b = %+v, want a hard link to ./usr/lib/a", h)
	}
	// The xattr and ACL records are those GNU tar writes for the same tree.
	gnu := filepath.Join(t.TempDir(), "gnu.tar")
	run(t, "tar", "--acls", "--xattrs", "--xattrs-include=*", "--format=posix", "--one-file-system", "-cf", gnu, "-C", root, ".")
	gnuRecs := map[string]map[string]string{}
	readTar(t, gnu, func(h *tar.Header) { gnuRecs[strings.TrimSuffix(h.Name, "/")] = schily(h) })
	for name, h := range names {
		if g, ok := gnuRecs[strings.TrimSuffix(name, "/")]; !ok {
			t.Errorf("%s: not in GNU tar's archive", name)
		} else if ours := schily(h); fmt.Sprint(ours) != fmt.Sprint(g) {
			t.Errorf("%s: records\n ours %q\n  GNU %q", name, ours, g)
		}
	}

	etc := t.TempDir()
	run(t, "tar", "-xzf", tgz, "-C", etc, "./etc/passwd", "./etc/group")
	if b, _ := os.ReadFile(filepath.Join(etc, "etc/passwd")); !bytes.Contains(b, []byte("alice:x:1234")) {
		t.Errorf("./etc/passwd extracted by name: %q", b)
	}
}

func runIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

// schily returns a member's SCHILY.* records (xattrs and ACLs).
func schily(h *tar.Header) map[string]string {
	out := map[string]string{}
	for k, v := range h.PAXRecords {
		if strings.HasPrefix(k, "SCHILY.") {
			out[k] = v
		}
	}
	return out
}

func readMembers(t *testing.T, tgz string, fn func(*tar.Header)) {
	t.Helper()
	f, err := os.Open(tgz)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	members(t, zr, fn)
}

func readTar(t *testing.T, file string, fn func(*tar.Header)) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	members(t, f, fn)
}

func members(t *testing.T, r io.Reader, fn func(*tar.Header)) {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		fn(h)
	}
}

// TestTarballDeterministic: the same tree gives the same archive, members
// in byte order of their names.
func TestTarballDeterministic(t *testing.T) {
	need(t, "setfacl", "setfattr", "setcap")
	root := t.TempDir()
	makeTestTree(t, root)
	var a, b bytes.Buffer
	if _, err := WriteTarGz(context.Background(), root, &a, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteTarGz(context.Background(), root, &b, Options{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two archives of one tree differ")
	}
	tgz := filepath.Join(t.TempDir(), "a.tgz")
	if err := os.WriteFile(tgz, a.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var order []string
	readMembers(t, tgz, func(h *tar.Header) { order = append(order, h.Name) })
	// Depth first, entries of a directory by name: "./etc/" before
	// "./etc/group" before "./etc/localtime", and a directory's
	// entries right after it.
	idx := map[string]int{}
	for i, n := range order {
		idx[n] = i
	}
	for _, pair := range [][2]string{{"./", "./bin"}, {"./etc/", "./etc/group"}, {"./etc/group", "./etc/localtime"}, {"./etc/passwd", "./etc/shadow"}, {"./usr/lib/a", "./usr/lib/b"}} {
		if idx[pair[0]] >= idx[pair[1]] {
			t.Errorf("%s comes after %s in %q", pair[0], pair[1], order)
		}
	}
}

// TestTarballExclude leaves out an excluded path (the tarball being
// written, when it lies inside the tree).
func TestTarballExclude(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{"keep", "skip/inner", "skip2"} {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := WriteTar(context.Background(), root, &buf, Options{Exclude: []string{filepath.Join(root, "skip"), filepath.Join(root, "skip2")}}); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&buf)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	if strings.Join(names, " ") != "./ ./keep" {
		t.Errorf("members = %q, want ./ ./keep", names)
	}
}

// TestTarballCancel: a cancelled context stops the writer with its error.
func TestTarballCancel(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := WriteTarGz(ctx, root, io.Discard, Options{}); err != context.Canceled {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestACLText(t *testing.T) {
	// user::rw- user:1000:r-- group::r-x mask::r-x other::---
	v := []byte{2, 0, 0, 0,
		1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff,
		2, 0, 4, 0, 0xe8, 3, 0, 0,
		4, 0, 5, 0, 0xff, 0xff, 0xff, 0xff,
		0x10, 0, 5, 0, 0xff, 0xff, 0xff, 0xff,
		0x20, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}
	got, err := ACLText(v)
	if err != nil {
		t.Fatal(err)
	}
	want := "user::rw-\nuser:1000:r--\ngroup::r-x\nmask::r-x\nother::---\n"
	if got != want {
		t.Errorf("ACLText = %q, want %q", got, want)
	}
	for _, bad := range [][]byte{nil, {2, 0, 0}, {1, 0, 0, 0}, {2, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0}, v[:10]} {
		if _, err := ACLText(bad); err == nil {
			t.Errorf("ACLText(%v) accepted", bad)
		}
	}
}
