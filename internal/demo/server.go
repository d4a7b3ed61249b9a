package demo

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// run is one demo inside the server namespace.
type run struct {
	cfg    Config
	prefix string // of the namespace names
	out    io.Writer
	work   string // work directory
	bin    string // absolute BinDir
	initrd string // absolute InitrdDir
	env    []string
	procs  []*proc // started daemons, stopped in reverse order
	lweb   *proc
	nodes  []*node
	start  time.Time
}

// proc is a daemon or a node the demo started, in a process group of its
// own (Ctrl-C reaches only the demo, which stops them in order).
type proc struct {
	name  string
	cmd   *exec.Cmd
	log   string
	done  chan struct{}
	err   error     // set when done is closed
	ended time.Time // set when done is closed
}

func runInner(ctx context.Context, cfg Config, prefix string, out io.Writer) (err error) {
	r := &run{cfg: cfg, prefix: prefix, out: out, work: workDir(prefix), start: time.Now()}
	if r.bin, err = filepath.Abs(cfg.BinDir); err != nil {
		return err
	}
	if r.initrd, err = filepath.Abs(cfg.InitrdDir); err != nil {
		return err
	}
	if err := os.MkdirAll(r.work, 0o755); err != nil {
		return err
	}
	defer func() {
		r.cleanup()
	}()
	r.env = append(os.Environ(), "LUNA_DB=luna", "LUNA_CONF="+filepath.Join(r.work, "luna.conf"),
		"LUNA_LOGDIR="+filepath.Join(r.work, "log"))
	r.env = filterEnv(r.env, innerEnv)
	if err := os.WriteFile(filepath.Join(r.work, "luna.conf"), nil, 0o644); err != nil {
		return err
	}
	steps := []struct {
		what string
		fn   func(context.Context) error
	}{
		{"server network", r.serverNet},
		{"lunadb", r.startLunadb},
		{"cluster configuration", r.configure},
		{"lweb", r.startLweb},
		{"ltorrent", r.startLtorrent},
		{"image", r.buildImage},
		{"pack", r.pack},
		{"nodes", r.setupNodes},
		{"provisioning", r.provision},
	}
	for _, s := range steps {
		if err := s.fn(ctx); err != nil {
			if ctx.Err() != nil {
				return errors.New("interrupted; everything it started is removed")
			}
			return fmt.Errorf("%s: %w", s.what, err)
		}
	}
	return nil
}

func filterEnv(env []string, drop string) []string {
	out := env[:0:0]
	for _, e := range env {
		if !strings.HasPrefix(e, drop+"=") {
			out = append(out, e)
		}
	}
	return out
}

func (r *run) say(format string, a ...any) {
	fmt.Fprintf(r.out, format+"\n", a...)
}

// sh runs a command and returns its error with the command's output.
func sh(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %s", name, strings.Join(args, " "), firstLine(string(out), err))
	}
	return nil
}

// serverNet brings up the server namespace: loopback (lunadb) and the
// bridge the nodes plug into, with the server's address.
func (r *run) serverNet(ctx context.Context) error {
	for _, c := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "br0", "address", serverMAC, "type", "bridge"}, // fixed: static neighbours name it
		{"addr", "add", serverIP + "/24", "dev", "br0"},
		{"link", "set", "br0", "up"},
	} {
		if err := sh(ctx, "ip", c...); err != nil {
			return err
		}
	}
	r.say("server: network namespace %ssrv, bridge br0 with %s/24 (TEST-NET-1)", r.prefix, serverIP)
	return nil
}

// startProc starts a program with its output in a log file.
func (r *run) startProc(name, logName string, env []string, args ...string) (*proc, error) {
	logf, err := os.Create(filepath.Join(r.work, logName))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logf.Name(), done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		p.ended = time.Now()
		close(p.done)
	}()
	return p, nil
}

// stop sends SIGTERM to the process group and waits; SIGKILL after grace.
func (p *proc) stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// waitLog waits until the log of p has a line matching re and returns the
// first submatch.
func waitLog(ctx context.Context, p *proc, re *regexp.Regexp, limit time.Duration) (string, error) {
	deadline := time.Now().Add(limit)
	for {
		b, _ := os.ReadFile(p.log)
		if m := re.FindSubmatch(b); m != nil {
			if len(m) > 1 {
				return string(m[1]), nil
			}
			return "", nil
		}
		select {
		case <-p.done:
			return "", fmt.Errorf("%s exited (%v): %s", p.name, p.err, lastLines(b, 3))
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s did not start within %s: %s", p.name, limit, lastLines(b, 3))
		}
	}
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

var lunadbRe = regexp.MustCompile(`lunadb: serving (mongodb://\S+)`)

func (r *run) startLunadb(ctx context.Context) error {
	p, err := r.startProc("lunadb", "lunadb.log", r.env, filepath.Join(r.bin, "lunadb"),
		"--listen", "127.0.0.1:27017", "--data-dir", filepath.Join(r.work, "db"))
	if err != nil {
		return err
	}
	r.procs = append(r.procs, p)
	uri, err := waitLog(ctx, p, lunadbRe, 60*time.Second)
	if err != nil {
		return err
	}
	r.env = append(r.env, "LUNA_MONGO_URI="+uri)
	r.say("server: lunadb serving %s from %s", uri, filepath.Join(r.work, "db"))
	return nil
}

// luna runs the luna CLI and shows the command and its output.
func (r *run) luna(ctx context.Context, stdin string, args ...string) error {
	shown := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " []*$'\"") {
			a = "'" + a + "'"
		}
		shown[i] = a
	}
	line := "$ luna " + strings.Join(shown, " ")
	if stdin != "" {
		line += " <<< " + fmt.Sprintf("%q", strings.TrimSpace(stdin))
	}
	r.say("%s", line)
	out, err := r.lunaOut(ctx, stdin, args...)
	if s := strings.TrimRight(out, "\n"); s != "" {
		r.say("%s", s)
	}
	return err
}

func (r *run) lunaOut(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(r.bin, "luna"), args...)
	cmd.Env = r.env
	cmd.Stdin = strings.NewReader(stdin)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	if err := cmd.Run(); err != nil {
		return b.String(), fmt.Errorf("luna %s: %s", strings.Join(args, " "), firstLine(b.String(), err))
	}
	return b.String(), nil
}

func nodeName(i int) string { return fmt.Sprintf("node%03d", i) }

func nodeMAC(i int) string { return fmt.Sprintf("52:54:00:de:%02x:%02x", i>>8, i&0xff) }

func (r *run) configure(ctx context.Context) error {
	opt := filepath.Join(r.work, "opt")
	if err := os.MkdirAll(opt, 0o755); err != nil {
		return err
	}
	r.say("")
	r.say("demo: the cluster's frontend is %s:%d, the demo bridge in its own namespace (not this host's address), so boot scripts, install scripts and curl all use it; --user root because the demo runs as root with no luna user", serverIP, lwebPort)
	cmds := [][]string{
		{"cluster", "init", "--frontend_address", serverIP, "--user", "root", "--path", opt},
		{"cluster", "change", "--torrent_pidfile", filepath.Join(r.work, "ltorrent.pid")},
		{"network", "add", "-n", "cluster", "-N", "192.0.2.0", "-P", "24", "--ns_hostname", "master"},
	}
	for _, c := range cmds {
		if err := r.luna(ctx, "", c...); err != nil {
			return err
		}
	}
	return nil
}

var lwebRe = regexp.MustCompile(`msg="lweb listening" address=(\S+)`)

func (r *run) startLweb(ctx context.Context) error {
	p, err := r.startProc("lweb", "lweb.log", r.env, filepath.Join(r.bin, "lweb"), "--tftp", "off") // the simulated firmware boots over HTTP
	if err != nil {
		return err
	}
	r.procs = append(r.procs, p)
	r.lweb = p
	addr, err := waitLog(ctx, p, lwebRe, 30*time.Second)
	if err != nil {
		return err
	}
	r.say("\nserver: lweb listening on %s (boot scripts, install scripts, tracker, /boot/, /torrents/)", addr)
	return nil
}

var ltorrentRe = regexp.MustCompile(`msg="ltorrent listening" address=(\S+)`)

func (r *run) startLtorrent(ctx context.Context) error {
	p, err := r.startProc("ltorrent", "ltorrent.log", r.env, filepath.Join(r.bin, "ltorrent"))
	if err != nil {
		return err
	}
	r.procs = append(r.procs, p)
	addr, err := waitLog(ctx, p, ltorrentRe, 30*time.Second)
	if err != nil {
		return err
	}
	r.say("server: ltorrent listening on %s (seeds <path>/torrents)", addr)
	return nil
}

// buildImage writes a small OS image tree: users, an init, a kernel and an
// initrd for `osimage add` and `pack --copy_boot`, a file of a user the host
// lacks, a hard link, a symlink, a sticky directory and an incompressible
// payload, so the tarball is about ImageMiB MiB.
func (r *run) buildImage(ctx context.Context) error {
	img := filepath.Join(r.work, "image")
	files := []struct {
		path string
		mode os.FileMode
		text string
	}{
		{"etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/bash\ndemo:x:4242:4242:Luna demo:/home/demo:/bin/bash\n"},
		{"etc/group", 0o644, "root:x:0:\ndemo:x:4242:\n"},
		{"etc/shadow", 0o600, "root:*:20000:0:99999:7:::\ndemo:*:20000:0:99999:7:::\n"},
		{"etc/os-release", 0o644, "NAME=\"Luna demo image\"\nID=lunademo\n"},
		{"sbin/init", 0o755, "#!/bin/sh\necho \"$(hostname): booted the Luna demo image\"\n"},
		{"boot/vmlinuz-" + kernver, 0o644, "not a kernel: the demo's nodes only fetch it\n"},
		{"boot/initrd.img-" + kernver, 0o644, "not an initrd: the demo's nodes run the installer themselves\n"},
		{"lib/modules/" + kernver + "/modules.dep", 0o644, ""},
		{"home/demo/.profile", 0o644, "PS1='demo$ '\n"},
		{"root/.bashrc", 0o644, "PS1='# '\n"},
	}
	for _, f := range files {
		p := filepath.Join(img, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(f.text), f.mode); err != nil {
			return err
		}
		if err := os.Chmod(p, f.mode); err != nil {
			return err
		}
	}
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{{"tmp", 0o1777 | os.ModeSticky}, {"var/log", 0o755}, {"proc", 0o555}, {"sys", 0o555}, {"dev", 0o755}, {"root", 0o700}} {
		if err := os.MkdirAll(filepath.Join(img, d.path), 0o755); err != nil {
			return err
		}
		if err := os.Chmod(filepath.Join(img, d.path), d.mode); err != nil {
			return err
		}
	}
	if err := os.Chown(filepath.Join(img, "home/demo/.profile"), 4242, 4242); err != nil {
		return err
	}
	if err := os.Chown(filepath.Join(img, "home/demo"), 4242, 4242); err != nil {
		return err
	}
	if err := os.Link(filepath.Join(img, "home/demo/.profile"), filepath.Join(img, "home/demo/.profile.orig")); err != nil {
		return err
	}
	if err := os.Symlink("../sbin/init", filepath.Join(img, "etc/init")); err != nil {
		return err
	}
	if err := specialFiles(img); err != nil {
		return err
	}
	payload := filepath.Join(img, "usr/share/lunademo")
	if err := os.MkdirAll(payload, 0o755); err != nil {
		return err
	}
	rng := rand.NewChaCha8([32]byte{'l', 'u', 'n', 'a'})
	buf := make([]byte, 1<<20)
	for i := range r.cfg.ImageMiB {
		if i%4 == 0 {
			f, err := os.Create(filepath.Join(payload, fmt.Sprintf("payload-%02d.bin", i/4)))
			if err != nil {
				return err
			}
			w := bufio.NewWriter(f)
			for j := i; j < min(i+4, r.cfg.ImageMiB); j++ {
				_, _ = rng.Read(buf) // ChaCha8.Read never fails
				if _, err := w.Write(buf); err != nil {
					f.Close()
					return err
				}
			}
			if err := w.Flush(); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		}
	}
	r.say("\nimage: %s: a minimal tree with /etc/passwd, /etc/group, /sbin/init, /boot/vmlinuz-%s and %d MiB of payload", img, kernver, r.cfg.ImageMiB)
	return ctx.Err()
}

// specialFiles adds what a real image holds besides plain files, so the
// nodes' trees are compared on it too: a setuid program, a file of mode
// 0000, a character device, a file capability (security.capability, the
// raw VFS_CAP_REVISION_2 value of cap_net_raw+ep, as setcap writes it), a
// user.* attribute and a POSIX ACL (setfacl from the acl package).
func specialFiles(img string) error {
	for _, f := range []struct {
		path string
		mode os.FileMode
	}{{"usr/bin/lunasu", 0o755 | os.ModeSetuid}, {"usr/bin/lunaping", 0o755}, {"root/secret", 0}} {
		p := filepath.Join(img, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o600); err != nil {
			return err
		}
		if err := os.Chmod(p, f.mode); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(img, "usr/share/lunademo"), 0o755); err != nil {
		return err
	}
	if err := syscall.Mknod(filepath.Join(img, "usr/share/lunademo/null"), syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	capNetRaw := []byte{0x01, 0, 0, 0x02, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if err := syscall.Setxattr(filepath.Join(img, "usr/bin/lunaping"), "security.capability", capNetRaw, 0); err != nil {
		return fmt.Errorf("file capability: %w", err)
	}
	if err := syscall.Setxattr(filepath.Join(img, "etc/os-release"), "user.luna.demo", []byte("image"), 0); err != nil {
		return fmt.Errorf("user xattr: %w", err)
	}
	if out, err := exec.Command("setfacl", "-m", "u:4242:rw", filepath.Join(img, "etc/os-release")).CombinedOutput(); err != nil {
		return fmt.Errorf("setfacl (apt-get install acl): %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

var announceRe = regexp.MustCompile(`uri="?/announce\?\S* status=200 client=` + regexp.QuoteMeta(serverIP))

// pack configures the osimage, group and nodes, packs the image and waits
// until ltorrent announced it to lweb's tracker.
func (r *run) pack(ctx context.Context) error {
	img := filepath.Join(r.work, "image")
	n := r.cfg.Nodes
	hosts := "node001"
	if n > 1 {
		hosts = fmt.Sprintf("node[001-%03d]", n)
	}
	cmds := [][]string{
		{"osimage", "add", "-n", imageName, "-p", img},
		{"group", "add", "-n", "compute", "-o", imageName, "-N", "cluster"},
		{"node", "add", "-g", "compute", "-n", hosts},
	}
	for _, c := range cmds {
		if err := r.luna(ctx, "", c...); err != nil {
			return err
		}
	}
	for i := 1; i <= n; i++ {
		if err := r.luna(ctx, "", "node", "change", nodeName(i), "--mac", nodeMAC(i)); err != nil {
			return err
		}
	}
	if err := r.luna(ctx, "", "group", "show", "compute"); err != nil {
		return err
	}
	// Tarball and torrent, and the image's own kernel and initrd copied
	// to the boot directory: no dracut run for simulated nodes.
	if err := r.luna(ctx, "", "osimage", "pack", imageName, "--copy_boot"); err != nil {
		return err
	}
	if _, err := waitLog(ctx, r.lweb, announceRe, 30*time.Second); err != nil {
		return fmt.Errorf("ltorrent did not announce the image to lweb's tracker: %w", err)
	}
	r.say("server: ltorrent seeds the image and announced it to lweb's tracker")
	return nil
}

// cleanup stops the nodes, removes their namespaces, stops the daemons in
// reverse order and removes the work directory (kept with -keep).
func (r *run) cleanup() {
	for _, nd := range r.nodes {
		if nd.proc != nil {
			nd.proc.stop(2 * time.Second)
		}
	}
	removeNamespaces(r.prefix + "node")
	for i := len(r.procs) - 1; i >= 0; i-- {
		r.procs[i].stop(15 * time.Second)
	}
	if r.cfg.Keep {
		keep := filepath.Join(os.TempDir(), "lunademo-kept-"+filepath.Base(r.work)[len(nsPrefix):])
		if err := os.Rename(r.work, keep); err == nil {
			fmt.Fprintf(r.out, "demo: logs and node roots kept in %s\n", keep)
			return
		}
	}
	os.RemoveAll(r.work)
}
