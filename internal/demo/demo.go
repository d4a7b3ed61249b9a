// Package demo is `make demo`: on one machine with no other setup it starts
// lunadb, lweb and ltorrent, builds a small OS image, configures a cluster
// with the luna CLI, packs the image and provisions simulated nodes, each
// in a network namespace of its own running the real node-side flow
// (discovery by MAC, the Luna installer, the install script, ltorrent-client
// over BitTorrent, unpack, status reports). It shows a live status table,
// a per-node timeline at the end, checks every installed tree against the
// image and removes everything it started (docs/demo.md).
//
// The demo runs in two processes. The outer one checks what is needed,
// creates the server's network namespace and runs itself again inside it
// (`ip netns exec`); the inner one does the work there, so lunadb, lweb and
// ltorrent listen on that namespace's loopback and bridge and nothing is
// added to the host's network. The outer one removes the server namespace
// and the work directory whatever happened to the inner one.
package demo

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/clustervision/luna-go/internal/version"
)

// Config is what the command line sets.
type Config struct {
	Nodes     int           // simulated nodes, 1..100
	BinDir    string        // luna, lunadb, lweb, ltorrent, ltorrent-client
	InitrdDir string        // the dracut module's scripts (initrd/)
	ImageMiB  int           // payload of the image, MiB
	Timeout   time.Duration // for all nodes to install
	Keep      bool          // keep the work directory (logs, node roots)
}

const (
	innerEnv  = "LUNADEMO_INNER" // set for the process inside the server namespace
	nsPrefix  = "lunademo-"
	serverIP  = "192.0.2.254" // TEST-NET-1: the cluster network is 192.0.2.0/24
	serverMAC = "52:54:00:de:ff:fe"
	lwebPort  = 7050
	kernver   = "6.1.0-demo"
	maxNodes  = 100 // nodes get 192.0.2.1-100
	imageName = "compute"
)

// errReported is an error the inner process has printed already.
var errReported = errors.New("failed")

// Main runs the demo with its command-line arguments and returns the exit
// code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lunademo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg Config
	fs.IntVar(&cfg.Nodes, "n", 8, "number of simulated nodes (1-100)")
	fs.StringVar(&cfg.BinDir, "bin", "bin", "directory with luna, lunadb, lweb, ltorrent and ltorrent-client (make build)")
	fs.StringVar(&cfg.InitrdDir, "initrd", "initrd", "directory of the Luna dracut module's scripts")
	fs.IntVar(&cfg.ImageMiB, "size", 16, "image payload in MiB")
	fs.DurationVar(&cfg.Timeout, "timeout", 5*time.Minute, "time allowed for every node to install")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the work directory (logs, node roots) in /tmp/lunademo-kept-PID")
	fs.Bool("version", false, version.Usage) // answered by cmd/lunademo; listed in -help
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || cfg.Nodes < 1 || cfg.Nodes > maxNodes || cfg.ImageMiB < 1 || cfg.ImageMiB > 4096 || cfg.Timeout <= 0 {
		fmt.Fprintf(stderr, "lunademo: bad arguments: -n is 1 to %d, -size 1 to 4096, -timeout positive, no positional arguments\n", maxNodes)
		return 2
	}
	var err error
	if prefix := os.Getenv(innerEnv); prefix != "" {
		err = runInner(ctx, cfg, prefix, stdout)
	} else {
		if err = preflight(cfg); err != nil {
			fmt.Fprintf(stderr, "lunademo: %v\n", err)
			return 1
		}
		err = runOuter(ctx, cfg, args, stdout, stderr)
	}
	switch {
	case errors.Is(err, errReported):
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "lunademo: %v\n", err)
		return 1
	}
	return 0
}

// preflight says in one line what the demo needs and does not have.
func preflight(cfg Config) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (network and mount namespaces, chroot): run it as root, e.g. sudo make demo")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("needs `ip netns` (iproute2): apt-get install iproute2, or make deps")
	}
	if out, err := exec.Command("ip", "netns", "list").CombinedOutput(); err != nil {
		return fmt.Errorf("needs `ip netns`, which fails here: %s", firstLine(string(out), err))
	}
	var missing []string
	for _, tool := range []string{"unshare", "chroot", "mount", "bash", "curl", "tar", "gzip", "find", "sha256sum", "sed"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("needs %s on PATH: make deps", strings.Join(missing, ", "))
	}
	for _, b := range []string{"luna", "lunadb", "lweb", "ltorrent", "ltorrent-client"} {
		if fi, err := os.Stat(filepath.Join(cfg.BinDir, b)); err != nil || fi.IsDir() {
			return fmt.Errorf("needs %s: run make build", filepath.Join(cfg.BinDir, b))
		}
	}
	for _, f := range []string{"luna-installer.sh", "luna-lib.sh"} {
		if _, err := os.Stat(filepath.Join(cfg.InitrdDir, f)); err != nil {
			return fmt.Errorf("needs the dracut module's %s in %s (-initrd)", f, cfg.InitrdDir)
		}
	}
	return nil
}

func firstLine(out string, err error) string {
	if s := strings.TrimSpace(out); s != "" {
		return strings.SplitN(s, "\n", 2)[0]
	}
	return err.Error()
}

// runOuter creates the server namespace, runs the demo inside it and
// removes the namespace and the work directory afterwards.
func runOuter(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	removeStale()
	prefix := fmt.Sprintf("%s%d-", nsPrefix, os.Getpid())
	srv := prefix + "srv"
	if out, err := exec.Command("ip", "netns", "add", srv).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns add %s: %s", srv, firstLine(string(out), err))
	}
	defer removeNamespaces(prefix)
	defer os.RemoveAll(workDir(prefix))
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", srv, exe}, args...)...)
	cmd.Env = append(os.Environ(), innerEnv+"="+prefix)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// The inner process ends with this one, even after a SIGKILL of it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		// Ctrl-C reaches the inner process too (same process group);
		// SIGTERM is for a kill of this one alone.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err = <-done:
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			err = <-done
		}
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		return errReported // the inner process said why
	case ctx.Err() != nil:
		return errors.New("interrupted; everything it started is removed")
	}
	return fmt.Errorf("the demo in namespace %s: %w", srv, err)
}

// workDir is where a run keeps its database, image, cluster path, node
// roots and logs.
func workDir(prefix string) string {
	return filepath.Join(os.TempDir(), strings.TrimSuffix(prefix, "-"))
}

var staleRe = regexp.MustCompile(`^` + nsPrefix + `(\d+)-`)

// removeStale removes the namespaces and work directories of demos whose
// outer process is gone (killed with SIGKILL).
func removeStale() {
	seen := map[string]bool{}
	names, _ := filepath.Glob("/run/netns/" + nsPrefix + "*")
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), nsPrefix+"*"))
	for _, p := range append(names, dirs...) {
		m := staleRe.FindStringSubmatch(filepath.Base(p) + "-")
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid <= 0 || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		prefix := nsPrefix + m[1] + "-"
		if !seen[prefix] {
			seen[prefix] = true
			removeNamespaces(prefix)
			os.RemoveAll(workDir(prefix))
		}
	}
}

// removeNamespaces kills what runs in the namespaces named with prefix and
// deletes them.
func removeNamespaces(prefix string) {
	names, _ := filepath.Glob("/run/netns/" + prefix + "*")
	for _, p := range names {
		name := filepath.Base(p)
		if out, err := exec.Command("ip", "netns", "pids", name).Output(); err == nil {
			for _, f := range strings.Fields(string(out)) {
				if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		_ = exec.Command("ip", "netns", "del", name).Run()
	}
}
