// Package bootnet writes the boot network's configuration files, for
// `luna cluster makedhcp` and `luna cluster makedns`: the DHCP server's
// configuration (ISC dhcpd or Kea) and the named zones. Each file is
// written atomically (a temporary file renamed over the old one), then the
// daemon is restarted or reloaded when this machine runs it under systemd
// (or rndc reaches named); otherwise a message says so and the files stay.
package bootnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/clustervision/luna-go/internal/dhcpconf"
	"github.com/clustervision/luna-go/internal/dnszone"
	"github.com/clustervision/luna-go/internal/luna"
)

// Env is what the verbs need from the machine; tests replace parts of it.
type Env struct {
	Svc *luna.Service
	Out io.Writer // what was written and restarted, for the administrator
	// Run runs a command (systemctl, rndc) and returns its combined output.
	Run func(ctx context.Context, name string, args ...string) ([]byte, error)
	// Systemd reports whether systemd manages this machine's services.
	Systemd  func() bool
	LookPath func(string) (string, error)
	Now      func() time.Time
	// DaemonFiles are the files the DHCP servers read, by format: a
	// configuration written elsewhere does not restart them.
	DaemonFiles map[string]string
	// NoRestart leaves the daemons alone (LUNA_NO_RESTART=1: tests, image
	// builds): the files are written and a message says so.
	NoRestart bool
}

// NewEnv is the real machine.
func NewEnv(svc *luna.Service, out io.Writer) *Env {
	return &Env{Svc: svc, Out: out,
		Run: func(ctx context.Context, name string, args ...string) ([]byte, error) {
			return exec.CommandContext(ctx, name, args...).CombinedOutput()
		},
		Systemd: func() bool {
			st, err := os.Stat("/run/systemd/system")
			return err == nil && st.IsDir()
		},
		LookPath:    exec.LookPath,
		Now:         time.Now,
		NoRestart:   svc.Getenv != nil && svc.Getenv("LUNA_NO_RESTART") != "",
		DaemonFiles: map[string]string{FormatISC: DefaultDHCPDConf, FormatKea: DefaultKeaConf},
	}
}

func (e *Env) say(format string, a ...any) { fmt.Fprintf(e.Out, format+"\n", a...) }

// DHCP formats.
const (
	FormatISC = "isc"
	FormatKea = "kea"
)

// DHCPRequest is `luna cluster makedhcp`.
type DHCPRequest struct {
	luna.DHCPOptions
	Format string // isc (default) or kea
	File   string // default /etc/dhcp/dhcpd.conf (isc), /etc/kea/kea-dhcp4.conf (kea)
}

// Default configuration files.
const (
	DefaultDHCPDConf = "/etc/dhcp/dhcpd.conf"
	DefaultKeaConf   = "/etc/kea/kea-dhcp4.conf"
)

// SecondaryFile is where the other master's configuration is written: the
// file's name with -secondary before its extension (dhcpd-secondary.conf).
func SecondaryFile(path string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "-secondary" + ext
}

// MakeDHCP reserves the range (when given), writes the configuration and
// restarts the DHCP server.
func MakeDHCP(ctx context.Context, e *Env, r DHCPRequest) error {
	if r.Format == "" {
		r.Format = FormatISC
	}
	if r.Format != FormatISC && r.Format != FormatKea {
		return luna.Errorf("Unknown DHCP configuration format '%s': use isc or kea", r.Format)
	}
	if r.File == "" {
		r.File = DefaultDHCPDConf
		if r.Format == FormatKea {
			r.File = DefaultKeaConf
		}
	}
	if !filepath.IsAbs(r.File) {
		return luna.Errorf("The DHCP configuration file '%s' should be an absolute path", r.File)
	}
	cfg, err := e.Svc.ConfigureDHCP(ctx, r.DHCPOptions)
	if err != nil {
		return err
	}
	var files dhcpconf.Files
	if r.Format == FormatKea {
		files, err = dhcpconf.Kea(cfg, dhcpconf.KeaOptions{HooksDir: keaHooksDir()})
	} else {
		var override []byte
		if c, cerr := e.Svc.Cluster(ctx); cerr == nil && c.Path != "" {
			path := filepath.Join(c.Path, "templates", dhcpconf.TemplateName)
			if override, err = os.ReadFile(path); err == nil {
				e.say("Using the template %s.", path)
			} else if !errors.Is(err, os.ErrNotExist) {
				return luna.Failf("Error on reading %s: %v", path, err)
			}
		}
		files, err = dhcpconf.ISC(cfg, override)
	}
	if err != nil {
		return luna.Failf("Error on creating DHCP config: %v", err)
	}
	groups := []string{"dhcpd"}
	if r.Format == FormatKea {
		groups = []string{"_kea", "kea"}
	}
	if err := WriteFile(r.File, files.Primary, groups); err != nil {
		return luna.Failf("Error on writing DHCP config: %v", err)
	}
	e.say("Wrote %s: subnet %s/%d, range %s-%s, %d hosts.", r.File, cfg.Network, cfg.Prefix, cfg.RangeStart, cfg.RangeEnd, len(cfg.Hosts))
	if files.Secondary != nil {
		sec := SecondaryFile(r.File)
		if err := WriteFile(sec, files.Secondary, groups); err != nil {
			return luna.Failf("Error on writing DHCP config: %v", err)
		}
		peer := "the other master"
		if len(cfg.Peers) == 2 {
			peer = cfg.Peers[1].Address
		}
		e.say("Wrote %s: copy it to %s as %s and restart its DHCP server there.", sec, peer, r.File)
	}
	units := []string{"isc-dhcp-server.service", "dhcpd.service"}
	if r.Format == FormatKea {
		units = []string{"kea-dhcp4-server.service", "kea-dhcp4.service"}
	}
	if daemonFile := e.DaemonFiles[r.Format]; r.File != daemonFile {
		e.say("The DHCP server reads %s, not %s: it was not restarted.", daemonFile, r.File)
		return nil
	}
	return e.restart(ctx, "the DHCP server", units, "restart")
}

// restart restarts (or reloads) the first of units this machine has.
func (e *Env) restart(ctx context.Context, what string, units []string, action string) error {
	if e.NoRestart {
		e.say("LUNA_NO_RESTART is set: %s was not %sed.", what, action)
		return nil
	}
	if !e.Systemd() {
		e.say("systemd does not run here: %s was not %sed; do it yourself to use the new files.", what, action)
		return nil
	}
	for _, u := range units {
		out, err := e.Run(ctx, "systemctl", "show", "--property=LoadState", "--value", u)
		if err != nil || strings.TrimSpace(string(out)) != "loaded" {
			continue
		}
		if out, err := e.Run(ctx, "systemctl", action, u); err != nil {
			return luna.Failf("Unable to %s %s (%s): %s", action, what, u, oneLine(out, err))
		}
		e.say("%s: %sed %s.", strings.ToUpper(what[:1])+what[1:], action, u)
		return nil
	}
	e.say("None of %s is installed: %s was not %sed.", strings.Join(units, ", "), what, action)
	return nil
}

func oneLine(out []byte, err error) string {
	s := strings.TrimSpace(string(out))
	if s == "" {
		return err.Error()
	}
	return strings.ReplaceAll(s, "\n", "; ")
}

// keaHooksDir finds Kea's hook libraries (for failover).
func keaHooksDir() string {
	cands, _ := filepath.Glob("/usr/lib/*/kea/hooks")
	cands = append(cands, "/usr/lib64/kea/hooks", "/usr/lib/kea/hooks", "/usr/local/lib/kea/hooks")
	for _, d := range cands {
		if _, err := os.Stat(filepath.Join(d, "libdhcp_ha.so")); err == nil {
			return d
		}
	}
	return ""
}

// MakeDNS writes the include file and every zone whose contents changed
// (with a new SOA serial), removes zone files no network needs any more,
// and reloads named when something changed.
func MakeDNS(ctx context.Context, e *Env) error {
	cfg, err := e.Svc.DNSConfig(ctx)
	if err != nil {
		return err
	}
	zones, err := dnszone.Build(cfg)
	if err != nil {
		return luna.Failf("Error on creating DNS zones: %v", err)
	}
	if err := os.MkdirAll(cfg.ZoneDir, 0o755); err != nil {
		return luna.Failf("Cannot create the zone directory: %v", err)
	}
	groups := []string{"named", "bind"}
	changed := 0
	keep := map[string]bool{}
	for _, z := range zones {
		path := filepath.Join(cfg.ZoneDir, z.File)
		keep[z.File] = true
		old, hasOld := dnszone.ReadSerial(path, z.Name)
		if hasOld {
			if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, z.Text(old)) {
				continue
			}
		}
		serial := dnszone.NextSerial(old, hasOld, e.Now().Unix())
		if err := WriteFile(path, z.Text(serial), groups); err != nil {
			return luna.Failf("Error on writing zone %s: %v", z.Name, err)
		}
		changed++
	}
	entries, err := os.ReadDir(cfg.ZoneDir)
	if err != nil {
		return luna.Failf("Cannot read the zone directory: %v", err)
	}
	for _, d := range entries {
		if strings.HasSuffix(d.Name(), dnszone.FileSuffix) && !keep[d.Name()] && d.Type().IsRegular() {
			if err := os.Remove(filepath.Join(cfg.ZoneDir, d.Name())); err != nil {
				return luna.Failf("Unable to remove '%s': %v", d.Name(), err)
			}
			e.say("Removed %s.", filepath.Join(cfg.ZoneDir, d.Name()))
			changed++
		}
	}
	inc := dnszone.IncludeFile(zones, cfg.ZoneDir)
	if cur, err := os.ReadFile(cfg.IncludeFile); err != nil || !bytes.Equal(cur, inc) {
		if err := WriteFile(cfg.IncludeFile, inc, groups); err != nil {
			return luna.Failf("Error on writing %s: %v", cfg.IncludeFile, err)
		}
		changed++
	}
	e.say("Zones in %s: %d, changed files: %d; include file %s.", cfg.ZoneDir, len(zones), changed, cfg.IncludeFile)
	if changed == 0 {
		return nil
	}
	return e.reloadNamed(ctx)
}

// reloadNamed asks named to load the new zones: rndc when it reaches
// named, otherwise systemd.
func (e *Env) reloadNamed(ctx context.Context) error {
	if e.NoRestart {
		e.say("LUNA_NO_RESTART is set: named was not reloaded.")
		return nil
	}
	if _, err := e.LookPath("rndc"); err == nil {
		if out, err := e.Run(ctx, "rndc", "reload"); err == nil {
			e.say("Reloaded named (rndc).")
			return nil
		} else if !e.Systemd() {
			e.say("rndc could not reach named (%s): named was not reloaded.", oneLine(out, err))
			return nil
		}
	}
	return e.restart(ctx, "named", []string{"named.service", "bind9.service"}, "reload")
}

// WriteFile replaces path with data atomically: a temporary file in the
// same directory, synced, then renamed. An existing file's mode and owner
// are kept; a new file is 0640, owned by root and the first of groups that
// exists here (so the daemon that reads it can), or 0644 when none does.
func WriteFile(path string, data []byte, groups []string) error {
	dir := filepath.Dir(path)
	mode, uid, gid := os.FileMode(0o644), -1, -1
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(sys.Uid), int(sys.Gid)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	} else {
		for _, g := range groups {
			if grp, err := user.LookupGroup(g); err == nil {
				gid, _ = strconv.Atoi(grp.Gid)
				mode = 0o640
				break
			}
		}
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Chmod(mode); err != nil {
		return fail(err)
	}
	if (uid >= 0 || gid >= 0) && os.Geteuid() == 0 {
		if err := f.Chown(uid, gid); err != nil {
			return fail(err)
		}
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
