package luna

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// liveNode is a node reachable as root@127.0.0.1 over ssh: a real sshd on
// a free loopback port whose sessions are chrooted into an overlay of
// this machine's root (so rsync and a shell are there), with the node's
// own files written into the overlay. It returns the node's root as seen
// from here and the ssh command for LUNA_GRAB_SSH.
func liveNode(t *testing.T) (nodeRoot, ssh string) {
	t.Helper()
	return liveNodeAt(t, "", "127.0.0.1", "")
}

// liveNodeAt is liveNode with sshd listening on addr in network namespace
// netns (the caller's when ""), reached with ssh run in clientNS (the
// caller's when "").
func liveNodeAt(t *testing.T, netns, addr, clientNS string) (nodeRoot, ssh string) {
	t.Helper()
	for _, p := range []string{"/usr/sbin/sshd", "ssh", "ssh-keygen", "rsync"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s is needed: run `make deps` (openssh-server, openssh-client, rsync)", p)
		}
	}
	// sshd wants every component of a chroot directory owned by root and
	// writable by no one else: /tmp is not, /run is.
	base, err := os.MkdirTemp("/run", "luna-grabtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	upper := filepath.Join(base, "upper")
	nodeRoot = filepath.Join(base, "node")
	keys := t.TempDir()
	for _, d := range []string{upper, nodeRoot} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mount("tmpfs", upper, "tmpfs", 0, "size=64m,mode=0755"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(upper, unix.MNT_DETACH) })
	for _, d := range []string{"u", "w"} {
		if err := os.Mkdir(filepath.Join(upper, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mount("overlay", nodeRoot, "overlay", 0, "lowerdir=/,upperdir="+upper+"/u,workdir="+upper+"/w"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(nodeRoot, unix.MNT_DETACH) })
	if err := unix.Mount("/dev", filepath.Join(nodeRoot, "dev"), "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(filepath.Join(nodeRoot, "dev"), unix.MNT_DETACH) })

	for _, k := range []string{"host", "client"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(keys, k)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, err := os.ReadFile(filepath.Join(keys, "client.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(keys, "authorized_keys"), pub, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil { // sshd's privilege separation directory
		t.Fatal(err)
	}
	port := 22
	if netns == "" {
		port = freePort(t)
	}
	conf := fmt.Sprintf(`Port %d
ListenAddress `+addr+`
HostKey %s/host
PidFile %s/sshd.pid
AuthorizedKeysFile %s/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
UsePAM no
ChrootDirectory %s
LogLevel ERROR
`, port, keys, keys, keys, nodeRoot)
	if err := os.WriteFile(filepath.Join(keys, "sshd_config"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	sshdArgs := []string{"/usr/sbin/sshd", "-D", "-e", "-f", filepath.Join(keys, "sshd_config")}
	if netns != "" {
		sshdArgs = append([]string{"ip", "netns", "exec", netns}, sshdArgs...)
	}
	sshd := exec.Command(sshdArgs[0], sshdArgs[1:]...)
	sshd.Stderr = os.Stderr
	if err := sshd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sshd.Process.Kill(); _ = sshd.Wait() })
	if clientNS != "" {
		ssh = "ip netns exec " + clientNS + " "
	}
	ssh += fmt.Sprintf("ssh -F /dev/null -p %d -i %s/client -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR", port, keys)
	deadline := time.Now().Add(10 * time.Second)
	for {
		f := strings.Fields(ssh)
		args := append(f[1:], "root@"+addr, "true")
		if exec.Command(f[0], args...).Run() == nil {
			break
		}
		if time.Now().After(deadline) {
			out, _ := exec.Command(f[0], args...).CombinedOutput()
			t.Fatalf("sshd on port %d does not answer: %s", port, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nodeRoot, ssh
}

func freePort(t *testing.T) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return sa.(*unix.SockaddrInet4).Port
}

// treeState describes every file under root: type, mode, owner, size,
// content, link target, xattrs (ACLs included) and hard-link groups.
func treeState(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	inodes := map[uint64]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		desc := fmt.Sprintf("%o %d:%d", st.Mode, st.Uid, st.Gid)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" %x mtime %d", sha256.Sum256(b), st.Mtim.Sec)
			if st.Nlink > 1 {
				if first, ok := inodes[st.Ino]; ok {
					desc += " link " + first
				} else {
					inodes[st.Ino] = rel
				}
			}
		case unix.S_IFLNK:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		}
		buf := make([]byte, 4096)
		n, _ := unix.Llistxattr(p, buf)
		names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
		sort.Strings(names)
		for _, name := range names {
			if name == "" {
				continue
			}
			v := make([]byte, 4096)
			m, _ := unix.Lgetxattr(p, name, v)
			desc += fmt.Sprintf(" %s=%x", name, v[:max(m, 0)])
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestGrabOSImage grabs a file system of a live node over ssh into an
// osimage: owners by number, modes, hard links, symlinks, a fifo, xattrs
// and ACLs come along, the exclude list is obeyed, files the node no
// longer has are deleted; --dry_run changes nothing; an unreachable node
// is one error line and the grab stops.
func TestGrabOSImage(t *testing.T) {
	s, _, img, _ := packSetup(t)
	ctx := context.Background()
	node, ssh := liveNode(t)
	s.Getenv = func(k string) string {
		if k == "LUNA_GRAB_SSH" {
			return ssh
		}
		return ""
	}
	data := filepath.Join(node, "srv/data")
	for p, mode := range map[string]os.FileMode{"etc/app.conf": 0o640, "bin/tool": 0o4755, "cache/junk": 0o644, "log.tmp": 0o644, "home/u/notes": 0o600} {
		full := filepath.Join(data, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("node file "+p), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(full, mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range [][]string{
		{"chown", "-R", "4321:8765", filepath.Join(data, "home/u")},
		{"ln", filepath.Join(data, "bin/tool"), filepath.Join(data, "bin/tool2")},
		{"ln", "-s", "../etc/app.conf", filepath.Join(data, "bin/conf")},
		{"mkfifo", filepath.Join(data, "fifo")},
		{"setfattr", "-n", "user.role", "-v", "compute", filepath.Join(data, "etc/app.conf")},
		{"setfacl", "-m", "u:2000:r", filepath.Join(data, "home/u/notes")},
		{"setcap", "cap_net_raw+ep", filepath.Join(data, "bin/tool")},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
	fsList := "/srv/data"
	excl := "/cache/*\n*.tmp"
	if _, err := s.ChangeOSImage(ctx, "compute", OSImageChange{GrabFilesystems: &fsList, GrabExcludeList: &excl}); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(img.Path, "srv/data")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "stale"), []byte("gone from the node"), 0o644); err != nil {
		t.Fatal(err)
	}

	// --dry_run: rsync's list of changes, nothing written.
	before := treeState(t, dst)
	var out strings.Builder
	var logs []string
	err := s.GrabOSImage(ctx, "compute", "127.0.0.1", GrabOptions{DryRun: true, Out: &out, Log: func(m string) { logs = append(logs, m) }})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "etc/app.conf") || !strings.Contains(out.String(), "deleting stale") {
		t.Errorf("dry run output:\n%s", out.String())
	}
	if fmt.Sprint(treeState(t, dst)) != fmt.Sprint(before) {
		t.Error("--dry_run changed the image")
	}

	logs = nil
	if err := s.GrabOSImage(ctx, "compute", "127.0.0.1", GrabOptions{Log: func(m string) { logs = append(logs, m) }}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(logs, "|") != "Fetching /srv/data/ from 127.0.0.1|Success." {
		t.Errorf("log = %q", logs)
	}
	want := treeState(t, data)
	delete(want, "cache/junk")
	delete(want, "log.tmp")
	got := treeState(t, dst)
	delete(want, ".") // the top directory's mtime and the like are rsync's
	delete(got, ".")
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s:\n got %s\nwant %s", p, got[p], w)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: in the image, not on the node (or excluded)", p)
		}
	}

	// An unreachable node: one line, and "Success." is not said.
	s.Getenv = func(k string) string {
		if k == "LUNA_GRAB_SSH" {
			return strings.Replace(ssh, "-p ", "-p 1", 1) + " -o ConnectTimeout=5"
		}
		return ""
	}
	logs = nil
	err = s.GrabOSImage(ctx, "compute", "127.0.0.1", GrabOptions{Log: func(m string) { logs = append(logs, m) }})
	if err == nil || !strings.HasPrefix(err.Error(), "Fetching /srv/data/ from 127.0.0.1 failed (rsync: exit status") || !errors.Is(err, ErrRefused) {
		t.Errorf("err = %v", err)
	}
	if strings.Contains(strings.Join(logs, "|"), "Success.") {
		t.Errorf("log = %q", logs)
	}

	for _, bad := range []string{"", "-oProxyCommand=x", "a b", "host;rm", "root@host"} {
		if err := s.GrabOSImage(ctx, "compute", bad, GrabOptions{}); err == nil || !strings.HasPrefix(err.Error(), "Invalid host") {
			t.Errorf("host %q: err = %v", bad, err)
		}
	}
}

func TestGrabFilesystems(t *testing.T) {
	for in, want := range map[string]string{
		"/,/boot":       "/ /boot/",
		"":              "/",
		" /var/ , ,/x/": "/var/ /x/",
		"/a/../b":       "/b/",
	} {
		if got := strings.Join(grabFilesystems(in), " "); got != want {
			t.Errorf("grabFilesystems(%q) = %q, want %q", in, got, want)
		}
	}
}
