package luna

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/clustervision/luna-go/internal/store"
)

// Two masters of an HA cluster in the test: this one in namespace sy<pid>-a,
// the other one in sy<pid>-b, joined by a veth pair.
const (
	syncLocalIP  = "198.51.100.65"
	syncRemoteIP = "198.51.100.66"
)

// The namespaces carry this process's id, so two runs of the package at
// once (two checkouts) do not delete each other's.
var (
	syncNSA = fmt.Sprintf("sy%d-a", os.Getpid())
	syncNSB = fmt.Sprintf("sy%d-b", os.Getpid())
)

// syncNamespaces makes namespaces syncNSA and syncNSB joined by a veth pair,
// with syncLocalIP and syncRemoteIP on a /26.
func syncNamespaces(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("ip is needed: run `make deps` (iproute2)")
	}
	del := func() {
		for _, ns := range []string{syncNSA, syncNSB} {
			_ = exec.Command("ip", "netns", "del", ns).Run()
		}
	}
	del()
	t.Cleanup(del)
	for _, c := range [][]string{
		{"ip", "netns", "add", syncNSA},
		{"ip", "netns", "add", syncNSB},
		{"ip", "-n", syncNSA, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", syncNSB},
		{"ip", "-n", syncNSA, "addr", "add", syncLocalIP + "/26", "dev", "eth0"},
		{"ip", "-n", syncNSB, "addr", "add", syncRemoteIP + "/26", "dev", "eth0"},
		{"ip", "-n", syncNSA, "link", "set", "eth0", "up"},
		{"ip", "-n", syncNSB, "link", "set", "eth0", "up"},
		{"ip", "-n", syncNSA, "link", "set", "lo", "up"},
		{"ip", "-n", syncNSB, "link", "set", "lo", "up"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
}

// syncSetup is a cluster whose path lives on a tmpfs of its own (so the
// other master, an overlay of this machine's root, does not see it), with
// cluster_ips naming both masters, and the other master's root as seen
// from here.
func syncSetup(t *testing.T) (s *Service, clusterPath, remoteRoot string) {
	t.Helper()
	for _, p := range []string{"setfattr", "setfacl", "setcap", "flock"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s is needed: run `make deps` (attr, acl, libcap2-bin, util-linux)", p)
		}
	}
	if os.Geteuid() != 0 {
		t.Fatal("syncing needs root: run this test as root")
	}
	s, _ = newTestService(t)
	syncNamespaces(t)
	remoteRoot, ssh := liveNodeAt(t, syncNSB, syncRemoteIP, syncNSA)
	s.Getenv = func(k string) string {
		if k == "LUNA_SYNC_SSH" {
			return ssh
		}
		return ""
	}
	s.IsLocalIP = func(ip string) bool { return ip == syncLocalIP }
	base, err := os.MkdirTemp("/run", "luna-synctest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	if err := unix.Mount("tmpfs", base, "tmpfs", 0, "size=256m,mode=0755"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(base, unix.MNT_DETACH) })
	clusterPath = filepath.Join(base, "opt/luna")
	if err := os.MkdirAll(clusterPath, 0o750); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := s.Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.st.Set(ctx, store.Clusters, c.ID, map[string]any{
		"path": clusterPath, "user": "nobody", "cluster_ips": syncLocalIP + "," + syncRemoteIP}); err != nil {
		t.Fatal(err)
	}
	return s, clusterPath, remoteRoot
}

// writeTree writes files with odd owners, modes, a hard link, a symbolic
// link, a fifo, an xattr, an ACL and a file capability under dir.
func writeTree(t *testing.T, dir string) {
	t.Helper()
	for p, mode := range map[string]os.FileMode{"templates/a.tmpl": 0o640, "bin/tool": 0o4755, "home/u/notes": 0o600, "boot/k": 0o644} {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("file "+p), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(full, mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range [][]string{
		{"chown", "-R", "4321:8765", filepath.Join(dir, "home/u")},
		{"ln", filepath.Join(dir, "bin/tool"), filepath.Join(dir, "bin/tool2")},
		{"ln", "-s", "../templates/a.tmpl", filepath.Join(dir, "bin/tmpl")},
		{"mkfifo", filepath.Join(dir, "fifo")},
		{"setfattr", "-n", "user.role", "-v", "master", filepath.Join(dir, "templates/a.tmpl")},
		{"setfacl", "-m", "u:2000:r", filepath.Join(dir, "home/u/notes")},
		{"setfacl", "-d", "-m", "g:3000:rx", filepath.Join(dir, "home/u")},
		{"setcap", "cap_net_raw+ep", filepath.Join(dir, "bin/tool")},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
}

func sameTree(t *testing.T, local, remote string) {
	t.Helper()
	want, got := treeState(t, local), treeState(t, remote)
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s:\n got %s\nwant %s", p, got[p], w)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: on the other master, not here", p)
		}
	}
}

// holdRemoteLock holds the other master's sync lock as a sync of its own
// does, until the returned function is called (which closes the ssh
// session's input; the shell holding the lock then ends).
func holdRemoteLock(t *testing.T, s *Service, holder string) func() {
	t.Helper()
	f := strings.Fields(s.Getenv("LUNA_SYNC_SSH"))
	script := fmt.Sprintf(`mkdir -p /run/luna && exec flock %s sh -c 'echo "$0" > "$1"; echo held; exec cat >/dev/null' %s %s`, SyncLockFile, shellQuote(holder), SyncLockFile)
	cmd := exec.Command(f[0], append(f[1:], "root@"+syncRemoteIP, script)...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "held\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("the other master's lock: %q", line)
	}
	return func() { in.Close(); _ = cmd.Wait() }
}

// TestSyncCluster syncs the cluster path and an osimage to the other
// master over ssh between two network namespaces: owners, modes, hard
// links, symlinks, a fifo, xattrs, ACLs and a file capability come along,
// files the other master has in excess are deleted. A sync is refused
// while one runs here or the other master holds its lock; an rsync that
// fails (the other master's disk is full) is one line with its exit
// status, and the locks are free afterwards; with Progress, rsync's overall progress is
// shown.
func TestSyncCluster(t *testing.T) {
	s, path, remote := syncSetup(t)
	ctx := context.Background()
	writeTree(t, path)
	stale := filepath.Join(remote, path, "stale")
	if err := os.MkdirAll(filepath.Dir(stale), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, []byte("only there"), 0o644); err != nil {
		t.Fatal(err)
	}

	var logs []string
	o := SyncOptions{Log: func(m string) { logs = append(logs, m) }}
	if err := s.SyncCluster(ctx, o); err != nil {
		t.Fatal(err)
	}
	if want := syncLocalIP + ":" + path + " => " + syncRemoteIP + ":" + path; strings.Join(logs, "|") != want {
		t.Errorf("log = %q, want %q", logs, want)
	}
	sameTree(t, path, filepath.Join(remote, path))

	// An osimage: its tree and its packed files.
	img := filepath.Join(filepath.Dir(path), "images/compute")
	writeTree(t, img)
	if err := os.MkdirAll(filepath.Join(img, "boot"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(img, "boot/vmlinuz-"+packKernel), []byte("kernel"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(img, "lib/modules", packKernel), 0o755); err != nil {
		t.Fatal(err)
	}
	s.IsLocalIP = func(string) bool { return true } // the active master (changes are guarded)
	if err := s.AddOSImage(ctx, "compute", img, "", ""); err != nil {
		t.Fatal(err)
	}
	s.IsLocalIP = func(ip string) bool { return ip == syncLocalIP }
	rec, err := s.OSImage(ctx, "compute")
	if err != nil {
		t.Fatal(err)
	}
	packed := map[string]string{"kernfile": "compute-vmlinuz-" + packKernel, "initrdfile": "compute-initramfs-" + packKernel,
		"tarball": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "torrent": "6fa459ea-ee8a-3ca4-894e-db77e160355e"}
	set := map[string]any{}
	var files []string
	for k, v := range packed {
		set[k] = v
		f := map[string]string{"kernfile": "boot/" + v, "initrdfile": "boot/" + v, "tarball": "torrents/" + v + ".tgz", "torrent": "torrents/" + v + ".torrent"}[k]
		files = append(files, filepath.Join(path, f))
	}
	if err := s.st.Set(ctx, store.OSImages, rec.ID, set); err != nil {
		t.Fatal(err)
	}
	// Files of another image are not synced by this one's sync.
	files = append(files, filepath.Join(path, "torrents/other.tgz"))
	for _, f := range files {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	logs = nil
	if err := s.SyncOSImage(ctx, "compute", o); err != nil {
		t.Fatal(err)
	}
	if len(logs) != 5 || logs[0] != syncLocalIP+":"+img+" => "+syncRemoteIP+":"+img {
		t.Errorf("log = %q", logs)
	}
	sameTree(t, img, filepath.Join(remote, img))
	for _, f := range files[:4] {
		if b, err := os.ReadFile(filepath.Join(remote, f)); err != nil || string(b) != f {
			t.Errorf("%s on the other master: %q, %v", f, b, err)
		}
	}
	if _, err := os.Stat(filepath.Join(remote, path, "torrents/other.tgz")); err == nil {
		t.Error("osimage sync copied another image's tarball")
	}

	// A sync running here.
	unlock, err := localSyncLock("198.51.100.65 is syncing to 198.51.100.66 (pid 1)")
	if err != nil {
		t.Fatal(err)
	}
	err = s.SyncCluster(ctx, o)
	unlock()
	if err == nil || err.Error() != "A sync is running on this host ("+SyncLockFile+": 198.51.100.65 is syncing to 198.51.100.66 (pid 1)); try again when it has ended" {
		t.Errorf("err = %v", err)
	}

	// The other master syncing (into us, or anywhere).
	release := holdRemoteLock(t, s, "198.51.100.66 is syncing to 198.51.100.65 (pid 7)")
	err = s.SyncCluster(ctx, o)
	release()
	if err == nil || err.Error() != syncRemoteIP+" is syncing or being synced ("+SyncLockFile+" on "+syncRemoteIP+": 198.51.100.66 is syncing to 198.51.100.65 (pid 7)); try again when it has ended" {
		t.Errorf("err = %v", err)
	}
	// Our local lock was given back.
	if unlock, err := localSyncLock("test"); err != nil {
		t.Errorf("after a refusal: %v", err)
	} else {
		unlock()
	}

	// rsync fails: the other master's disk (a 64 MiB tmpfs) is full.
	big := filepath.Join(path, "torrents/big.tgz")
	if err := os.WriteFile(big, make([]byte, 80<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	logs = nil
	err = s.SyncCluster(ctx, o)
	if err == nil || !strings.HasPrefix(err.Error(), "Syncing "+path+" to "+syncRemoteIP+" failed (rsync: exit status ") ||
		!strings.Contains(err.Error(), "No space left on device") {
		t.Errorf("err = %v", err)
	}
	t.Logf("a full disk: %v", err)
	if err := os.Remove(big); err != nil {
		t.Fatal(err)
	}
	// Both locks are free again, and the next sync completes, showing
	// rsync's overall progress as on a terminal.
	var progress strings.Builder
	deadline := time.Now().Add(10 * time.Second)
	for {
		progress.Reset()
		err = s.SyncCluster(ctx, SyncOptions{Progress: true, Out: &progress})
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	sameTree(t, path, filepath.Join(remote, path))
	if !strings.Contains(progress.String(), "to-chk=0/") {
		t.Errorf("progress: %q", progress.String())
	}

	// Not HA; no address of this machine among cluster_ips.
	c, _ := s.Cluster(ctx)
	for ips, want := range map[string]string{
		"":                                "Cluster is not in HA mode (no cluster_ips; set them with luna cluster change --cluster_ips A,B)",
		"198.51.100.70,198.51.100.66":     "No proper cluster IPs are configured: none of 198.51.100.70,198.51.100.66 is an address of this machine",
		syncLocalIP + ",x;rm -rf /,1.2.3": "cluster_ips holds 'x;rm -rf /', not an IP address",
	} {
		if err := s.st.Set(ctx, store.Clusters, c.ID, map[string]any{"cluster_ips": ips}); err != nil {
			t.Fatal(err)
		}
		if err := s.SyncCluster(ctx, o); err == nil || err.Error() != want {
			t.Errorf("cluster_ips %q: err = %v, want %s", ips, err, want)
		}
		if err := s.SyncOSImage(ctx, "compute", o); err == nil || err.Error() != want {
			t.Errorf("osimage sync, cluster_ips %q: err = %v, want %s", ips, err, want)
		}
	}
}
