package luna

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/clustervision/luna-go/internal/store"
)

// rsyncRun is one rsync over ssh, as grab and the HA syncs run it.
type rsyncRun struct {
	rsh  string   // the remote shell (-e)
	args []string // everything after -e RSH
	out  io.Writer
}

// rsyncError is an rsync that ended badly: its exit status (-1 when it
// did not run or was killed) and the last line it wrote on stderr.
type rsyncError struct {
	code int
	err  error
	last string
}

func (e *rsyncError) status() string {
	what := e.err.Error()
	if m, ok := rsyncExitMeanings[e.code]; ok {
		what += ", " + m
	}
	return what
}

func (e *rsyncError) Error() string {
	if e.last == "" {
		return "rsync: " + e.status()
	}
	return "rsync: " + e.status() + ": " + e.last
}

// rsyncExitMeanings are the exit statuses of rsync(1) seen in practice.
var rsyncExitMeanings = map[int]string{
	1:   "syntax or usage error",
	2:   "protocol incompatibility",
	3:   "errors selecting input/output files, dirs",
	5:   "error starting client-server protocol",
	10:  "error in socket I/O",
	11:  "error in file I/O",
	12:  "error in rsync protocol data stream",
	20:  "received SIGUSR1 or SIGINT",
	23:  "partial transfer due to error",
	24:  "partial transfer due to vanished source files",
	30:  "timeout in data send/receive",
	35:  "timeout waiting for daemon connection",
	255: "ssh failed",
}

// run runs rsync; stdout goes to out (nil: discarded), stderr is kept for
// the error. A failure is an *rsyncError.
func (r rsyncRun) run(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, "rsync", append([]string{"-e", r.rsh}, r.args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = io.Discard
	if r.out != nil {
		cmd.Stdout = r.out
	}
	err := cmd.Run()
	if err == nil {
		return nil
	}
	e := &rsyncError{code: -1, err: err, last: rsyncCause(stderr.String())}
	var xe *exec.ExitError
	if errors.As(err, &xe) {
		e.code = xe.ExitCode()
	}
	return e
}

// rsyncCause is the line of rsync's stderr that says what went wrong:
// the first one that is not a closing summary ("rsync error: ... (code
// 11)"); the lines after it are mostly its consequences (a broken pipe, a
// connection closed). Only the summary: that.
func rsyncCause(stderr string) string {
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "rsync error:") {
			return l
		}
	}
	return lastLine(stderr)
}

// describe is the part of a failure line after "failed ": "(rsync: exit
// status 23, partial transfer due to error): <rsync's last line>".
func (e *rsyncError) describe() string {
	if e.last == "" {
		return "(rsync: " + e.status() + ")"
	}
	return "(rsync: " + e.status() + "): " + e.last
}

// rsyncHost is host as rsync's HOST:PATH wants it: IPv6 in brackets.
func rsyncHost(host string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// SyncLockFile is the lock a master holds while it syncs to the other
// masters, and that it takes on each of them (over ssh, with flock(1))
// while it writes there: a master that syncs cannot be written into, and
// two masters never sync into each other. flock(2) locks go with their
// holder: a sync that dies (or whose ssh connection drops) leaves no
// stale lock behind. The file's content says who holds it.
var SyncLockFile = "/run/luna/sync.lock"

// syncLockBusy is flock(1)'s exit status (-E) when the lock is taken.
const syncLockBusy = 75

// localSyncLock takes SyncLockFile on this machine and writes holder into
// it.
func localSyncLock(holder string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(SyncLockFile), 0o755); err != nil {
		return nil, Failf("Cannot create %s: %v", filepath.Dir(SyncLockFile), unwrapPathError(err))
	}
	f, err := os.OpenFile(SyncLockFile, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, Failf("Cannot open %s: %v", SyncLockFile, unwrapPathError(err))
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := io.ReadAll(io.LimitReader(f, 512))
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, Failf("A sync is running on this host (%s: %s); try again when it has ended", SyncLockFile, strings.TrimSpace(string(b)))
		}
		return nil, Failf("Cannot lock %s: %v", SyncLockFile, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(holder+"\n"), 0)
	return func() { _ = f.Truncate(0); f.Close() }, nil
}

// remoteSyncLock takes SyncLockFile on host over ssh (rsh) and holds it
// until the returned function is called: a shell there runs flock(1)
// around a cat that ends when the ssh connection closes. holder is written
// into the remote lock file; it must need no quoting beyond shellQuote.
func remoteSyncLock(ctx context.Context, rsh, host, holder string) (func(), error) {
	dir := filepath.Dir(SyncLockFile)
	lock := shellQuote(SyncLockFile)
	script := fmt.Sprintf(`mkdir -p %s && flock -n -E %d %s sh -c 'printf "%%s\n" "$0" > "$1"; echo locked; exec cat >/dev/null' %s %s; rc=$?; if [ $rc = %d ]; then cat %s; fi; exit $rc`,
		shellQuote(dir), syncLockBusy, lock, shellQuote(holder), lock, syncLockBusy, lock)
	f := strings.Fields(rsh)
	if len(f) == 0 {
		return nil, Failf("The ssh command is empty")
	}
	cmd := exec.CommandContext(ctx, f[0], append(f[1:], "root@"+host, script)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, Failf("Cannot run %s: %v", f[0], err)
	}
	r := bufio.NewReader(stdout)
	line, _ := r.ReadString('\n')
	if strings.TrimSpace(line) == "locked" {
		return func() {
			stdin.Close()
			_ = cmd.Wait()
		}, nil
	}
	rest, _ := io.ReadAll(r)
	stdin.Close()
	err = cmd.Wait()
	var xe *exec.ExitError
	if errors.As(err, &xe) && xe.ExitCode() == syncLockBusy {
		who := strings.TrimSpace(line + string(rest))
		return nil, Failf("%s is syncing or being synced (%s on %s: %s); try again when it has ended", host, SyncLockFile, host, who)
	}
	return nil, Failf("Cannot take the sync lock on %s (ssh: %v): %s", host, err, lastLine(stderr.String()))
}

// SyncOptions are the options of `luna cluster sync` and `luna osimage
// sync`.
type SyncOptions struct {
	// Log receives a line per copy ("<local>:<path> => <ip>:<path>"); may
	// be nil.
	Log func(msg string)
	// Progress adds rsync's overall progress (--info=progress2) on Out:
	// for a terminal.
	Progress bool
	Out      io.Writer
}

// syncTargets are this master's IP and the other masters' (cluster_ips
// without the local one, in their configured order).
func (s *Service) syncTargets(c *store.Cluster) (local string, others []string, err error) {
	if strings.TrimSpace(c.ClusterIPs) == "" {
		return "", nil, Failf("Cluster is not in HA mode (no cluster_ips; set them with luna cluster change --cluster_ips A,B)")
	}
	var ips []string
	for _, ip := range strings.Split(c.ClusterIPs, ",") {
		if ip = strings.TrimSpace(ip); ip != "" {
			ips = append(ips, ip)
		}
	}
	for _, ip := range ips {
		if local == "" && s.IsLocalIP(ip) {
			local = ip
			continue
		}
		if err := validateGrabHost(ip); err != nil {
			return "", nil, Failf("cluster_ips holds %s, not an IP address", quote(ip))
		}
		others = append(others, ip)
	}
	if local == "" {
		return "", nil, Failf("No proper cluster IPs are configured: none of %s is an address of this machine", c.ClusterIPs)
	}
	return local, others, nil
}

// syncPaths copies each of paths (absolute, as they are here) to the same
// place on every other master, as root over ssh, holding the sync lock
// here and on the master written to. rsync keeps owners (as numbers),
// modes, hard links, ACLs and xattrs and deletes what the source no longer
// has; the parent directory is created on the other side when missing.
// The first failure stops the sync with one line.
func (s *Service) syncPaths(ctx context.Context, c *store.Cluster, paths []string, o SyncOptions) error {
	if geteuid() != 0 {
		return Failf("Syncing needs root rights (to keep owners, ACLs and attributes, and to log in as root on the other masters)")
	}
	if _, err := exec.LookPath("rsync"); err != nil {
		return Failf("rsync is not installed on this server")
	}
	local, others, err := s.syncTargets(c)
	if err != nil {
		return err
	}
	for _, p := range paths {
		if _, err := os.Lstat(p); err != nil {
			return Failf("Cannot sync %s: %v", p, unwrapPathError(err))
		}
	}
	if o.Log == nil {
		o.Log = func(string) {}
	}
	rsh := DefaultGrabSSH
	if v := s.Getenv("LUNA_SYNC_SSH"); v != "" {
		rsh = v
	}
	pid := strconv.Itoa(os.Getpid())
	unlock, err := localSyncLock(local + " is syncing to " + strings.Join(others, ",") + " (pid " + pid + ")")
	if err != nil {
		return err
	}
	defer unlock()
	for _, ip := range others {
		release, err := remoteSyncLock(ctx, rsh, ip, local+" is syncing into this host (pid "+pid+" there)")
		if err != nil {
			return err
		}
		err = s.rsyncTo(ctx, rsh, local, ip, paths, o)
		release()
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) rsyncTo(ctx context.Context, rsh, local, ip string, paths []string, o SyncOptions) error {
	for _, p := range paths {
		o.Log(fmt.Sprintf("%s:%s => %s:%s", local, p, ip, p))
		parent := filepath.Dir(p)
		args := []string{"-aHAX", "--numeric-ids", "--delete", "--protect-args",
			"--rsync-path=mkdir -p -- " + shellQuote(parent) + " && rsync"}
		var out io.Writer
		if o.Progress && o.Out != nil {
			args = append(args, "--info=progress2")
			out = o.Out
		}
		args = append(args, p, "root@"+rsyncHost(ip)+":"+parent+"/")
		if err := (rsyncRun{rsh: rsh, args: args, out: out}).run(ctx); err != nil {
			if errors.Is(ctx.Err(), context.Canceled) {
				return Failf("Sync stopped while copying %s to %s", p, ip)
			}
			var re *rsyncError
			if errors.As(err, &re) {
				return Failf("Syncing %s to %s failed %s", p, ip, re.describe())
			}
			return Failf("Syncing %s to %s failed: %v", p, ip, err)
		}
	}
	return nil
}

// SyncCluster copies the cluster's path (templates, boot files, torrents,
// ...) to the other masters of an HA cluster (cluster_ips).
func (s *Service) SyncCluster(ctx context.Context, o SyncOptions) error {
	c, err := s.Cluster(ctx)
	if err != nil {
		return err
	}
	if c.Path == "" || !filepath.IsAbs(c.Path) {
		return Failf("The cluster path %s is not an absolute path", quote(c.Path))
	}
	return s.syncPaths(ctx, c, []string{filepath.Clean(c.Path)}, o)
}

// SyncOSImage copies an osimage to the other masters of an HA cluster:
// its tree and, once packed, its kernel, initrd, tarball and torrent. A
// pack of the same osimage cannot run meanwhile (they share the pack
// lock).
func (s *Service) SyncOSImage(ctx context.Context, name string, o SyncOptions) error {
	c, err := s.Cluster(ctx)
	if err != nil {
		return err
	}
	img, err := s.OSImage(ctx, name)
	if err != nil {
		return err
	}
	if !isDir(img.Path) {
		return Errorf("'%s' is not a valid directory", img.Path)
	}
	if _, _, err := s.syncTargets(c); err != nil {
		return err
	}
	torrents := filepath.Join(c.Path, "torrents")
	boot := filepath.Join(c.Path, "boot")
	paths := []string{filepath.Clean(img.Path)}
	for _, f := range []struct{ dir, name string }{
		{boot, img.KernFile}, {boot, img.InitrdFile}, {torrents, tarballName(img.Tarball)}, {torrents, torrentName(img.Torrent)},
	} {
		if f.name != "" {
			paths = append(paths, filepath.Join(f.dir, f.name))
		}
	}
	if !isDir(torrents) {
		return s.syncPaths(ctx, c, paths, o)
	}
	unlock, err := packLock(torrents, img)
	if err != nil {
		return err
	}
	defer unlock()
	return s.syncPaths(ctx, c, paths, o)
}

func tarballName(uuid string) string {
	if uuid == "" {
		return ""
	}
	return uuid + ".tgz"
}

func torrentName(uuid string) string {
	if uuid == "" {
		return ""
	}
	return uuid + ".torrent"
}
