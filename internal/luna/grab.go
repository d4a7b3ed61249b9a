package luna

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// DefaultGrabSSH is the remote shell rsync uses to reach a live node, as
// Luna 1.2: any host key is accepted and none is remembered (nodes are
// reinstalled and change keys). LUNA_GRAB_SSH replaces it (another port,
// an identity file, -F a config of its own).
const DefaultGrabSSH = "/usr/bin/ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"

// GrabOptions are the options of `luna osimage grab`.
type GrabOptions struct {
	DryRun  bool // rsync --dry-run: show what would change, change nothing (implies Verbose)
	Verbose bool // pass rsync's output on
	// Log receives one line per step; may be nil.
	Log func(msg string)
	// Out receives rsync's output when verbose; may be nil.
	Out io.Writer
}

// GrabOSImage copies the file systems of a live node into the osimage's
// tree with rsync over ssh (as root@host), one file system of the
// osimage's grab_filesystems at a time, leaving out what its
// grab_exclude_list names and deleting what the node no longer has. Owners
// are kept as numeric ids (the image's own users, not this server's),
// with hard links, ACLs and xattrs; rsync stays on each file system. A
// pack of the same osimage cannot run meanwhile (they share the pack lock).
// The first rsync that fails stops the grab with its last error line.
func (s *Service) GrabOSImage(ctx context.Context, name, host string, o GrabOptions) error {
	if err := validateGrabHost(host); err != nil {
		return err
	}
	if geteuid() != 0 {
		return Failf("Grabbing an osimage needs root rights (to keep the owners, devices and attributes of the node's files)")
	}
	if err := s.Guard(ctx); err != nil {
		return err
	}
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
	if _, err := exec.LookPath("rsync"); err != nil {
		return Failf("rsync is not installed on this server")
	}
	if o.Log == nil {
		o.Log = func(string) {}
	}
	if o.DryRun {
		o.Verbose = true
	}
	fss := grabFilesystems(img.GrabFilesystems)

	p := &packJob{s: s, ctx: ctx, img: img, c: c}
	if p.uid, p.gid, _, err = lookupUser(c.User); err != nil {
		return err
	}
	p.torrents = filepath.Join(c.Path, "torrents")
	if err := p.mkdir(p.torrents); err != nil {
		return err
	}
	unlock, err := packLock(p.torrents, img)
	if err != nil {
		return err
	}
	defer unlock()

	excl, err := os.CreateTemp("", img.Name+".excl_list.rsync.")
	if err != nil {
		return Failf("Cannot write the exclude list: %v", unwrapPathError(err))
	}
	defer os.Remove(excl.Name())
	_, err = excl.WriteString(strings.TrimRight(img.GrabExcludeList, "\n") + "\n")
	if cerr := excl.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Failf("Cannot write the exclude list: %v", err)
	}

	rsh := DefaultGrabSSH
	if v := s.Getenv("LUNA_GRAB_SSH"); v != "" {
		rsh = v
	}
	remoteHost := rsyncHost(host)
	for _, fs := range fss {
		o.Log(fmt.Sprintf("Fetching %s from %s", fs, host))
		dst := filepath.Join(img.Path, fs) + "/"
		if !o.DryRun {
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return Failf("Cannot create %s: %v", dst, unwrapPathError(err))
			}
		}
		args := []string{"-avxz", "-HAX", "--numeric-ids", "--delete", "--exclude-from=" + excl.Name()}
		if o.Verbose {
			args = append(args, "--progress")
		}
		if o.DryRun {
			args = append(args, "--dry-run")
		}
		args = append(args, "root@"+remoteHost+":"+fs, dst)
		if o.Verbose {
			o.Log("Running command: rsync " + strings.Join(quoteArgs(append([]string{"-e", rsh}, args...)), " "))
		}
		var out io.Writer
		if o.Verbose {
			out = o.Out
		}
		if err := (rsyncRun{rsh: rsh, args: args, out: out}).run(ctx); err != nil {
			if errors.Is(ctx.Err(), context.Canceled) {
				return Failf("Grab stopped while fetching %s from %s", fs, host)
			}
			var re *rsyncError
			if errors.As(err, &re) {
				return Failf("Fetching %s from %s failed %s", fs, host, re.describe())
			}
			return Failf("Fetching %s from %s failed: %v", fs, host, err)
		}
	}
	o.Log("Success.")
	return nil
}

// validateGrabHost accepts a host name or an IP address: it becomes part
// of rsync's and ssh's arguments.
func validateGrabHost(host string) error {
	if net.ParseIP(host) != nil {
		return nil
	}
	bad := Errorf("Invalid host %s: use a host name or an IP address", quote(host))
	if host == "" || len(host) > 253 {
		return bad
	}
	for _, label := range strings.Split(strings.TrimSuffix(host, "."), ".") {
		if ValidateName(HostName, label) != nil {
			return bad
		}
	}
	return nil
}

// grabFilesystems splits grab_filesystems into mount points that start and
// end with '/'; empty means "/".
func grabFilesystems(v string) []string {
	var out []string
	for _, fs := range strings.Split(v, ",") {
		fs = strings.TrimSpace(fs)
		if fs == "" {
			continue
		}
		fs = "/" + strings.Trim(filepath.Clean("/"+fs), "/") + "/"
		if fs == "//" {
			fs = "/"
		}
		out = append(out, fs)
	}
	if len(out) == 0 {
		out = []string{"/"}
	}
	return out
}

// quoteArgs quotes the arguments that need it, for a readable command line.
func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'\\$`") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return out
}
