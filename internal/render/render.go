// Package render produces the scripts lweb serves: the iPXE boot menu, the
// node boot scripts (iPXE and syslinux) and the install script. The
// templates are written for Go's text/template and embedded; a file of the
// same name in <cluster path>/templates overrides one.
package render

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/template"
	"time"
	"unicode"

	"github.com/clustervision/luna-go/internal/luna"
)

//go:embed templates/*.tmpl
var builtin embed.FS

// Template file names.
const (
	IPXEMenu         = "ipxe-menu.tmpl"
	NodeBootIPXE     = "nodeboot-ipxe.tmpl"
	NodeBootSyslinux = "nodeboot-syslinux.tmpl"
	Install          = "install.sh.tmpl"
)

// MenuData is what the iPXE menu shows.
type MenuData struct {
	BaseURL   string
	Nodes     []string
	TimeoutMS int
}

// Renderer renders templates, preferring overrides in Dir. Overrides are
// re-read when their modification time changes, so edits need no restart.
type Renderer struct {
	Dir string // <cluster path>/templates; "" = builtin only

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	mtime   time.Time
	checked time.Time // when the override file was last looked at
	tmpl    *template.Template
}

// recheck is how often an override file is looked at again for changes.
const recheck = time.Second

var funcs = template.FuncMap{"shq": ShellQuote}

// ShellQuote quotes s as one word for the shell.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (r *Renderer) template(name string) (*template.Template, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cache == nil {
		r.cache = map[string]cached{}
	}
	var text []byte
	var mtime time.Time
	if r.Dir != "" {
		path := filepath.Join(r.Dir, name)
		c, ok := r.cache[path]
		fresh := ok && time.Since(c.checked) < recheck
		if fresh && c.tmpl != nil {
			return c.tmpl, nil
		}
		var st os.FileInfo
		err := fs.ErrNotExist // known not to exist a moment ago
		if !fresh {
			st, err = os.Stat(path)
		}
		switch {
		case err == nil:
			if c, ok := r.cache[path]; ok && c.mtime.Equal(st.ModTime()) {
				c.checked = time.Now()
				r.cache[path] = c
				return c.tmpl, nil
			}
			if text, err = os.ReadFile(path); err != nil {
				return nil, fmt.Errorf("read template: %w", err)
			}
			mtime = st.ModTime()
			t, err := template.New(name).Option("missingkey=error").Funcs(funcs).Parse(string(text))
			if err != nil {
				return nil, fmt.Errorf("template %s: %w", path, err)
			}
			r.cache[path] = cached{mtime: mtime, checked: time.Now(), tmpl: t}
			return t, nil
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("template %s: %w", path, err)
		case !fresh:
			r.cache[path] = cached{checked: time.Now()} // no override: the builtin one
		}
	}
	if c, ok := r.cache[name]; ok {
		return c.tmpl, nil
	}
	text, err := builtin.ReadFile("templates/" + name)
	if err != nil {
		return nil, fmt.Errorf("no template %s", name)
	}
	t, err := template.New(name).Option("missingkey=error").Funcs(funcs).Parse(string(text))
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	r.cache[name] = cached{tmpl: t}
	return t, nil
}

func (r *Renderer) render(name string, data any) ([]byte, error) {
	t, err := r.template(name)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return b.Bytes(), nil
}

// Stored values can hold anything: Luna 1.2 validated no name, and a
// database migrated from it may hold names with spaces or line breaks. What
// the templates put into a script without quoting (iPXE and syslinux have
// no quoting; the install script's comment line) is checked here, whatever
// the CLI lets through: a value that could add a command or an argument
// makes the render fail with one line naming it, and the boot menu leaves
// such a node out.

// plainWord says whether v can stand as one word of an iPXE, syslinux or
// shell line: no white space or control characters, quotes, '$', '`' or
// backslashes.
func plainWord(v string) bool {
	for _, r := range v {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) || strings.ContainsRune("'\"`\\$", r) {
			return false
		}
	}
	return true
}

// oneLine says whether v has no control characters (line breaks above all).
func oneLine(v string) bool {
	return strings.IndexFunc(v, func(r rune) bool { return unicode.IsControl(r) }) < 0
}

func unsafeValue(what, v, where string) error {
	return fmt.Errorf("the %s %q cannot go into the %s: rename or change it", what, v, where)
}

// checkBoot refuses boot parameters a boot script cannot carry.
func checkBoot(p *luna.BootParams) error {
	for _, f := range []struct{ what, v string }{{"node name", p.Name}, {"host name", p.Hostname}, {"MAC", p.MAC},
		{"kernel file", p.KernelFile}, {"initrd file", p.InitrdFile}, {"server URL", p.BaseURL}} {
		if !plainWord(f.v) {
			return unsafeValue(f.what, f.v, "boot script")
		}
	}
	if !oneLine(p.KernOpts) {
		return unsafeValue("kernel options", p.KernOpts, "boot script")
	}
	return nil
}

// checkInstall refuses install parameters the install script cannot
// carry: everything in it is quoted, but names also stand in its comment
// line and interface names in file names.
func checkInstall(p *luna.InstallParams) error {
	for _, f := range []struct{ what, v string }{{"node name", p.Name}, {"host name", p.Hostname}} {
		if !oneLine(f.v) {
			return unsafeValue(f.what, f.v, "install script")
		}
	}
	for _, ifc := range p.Interfaces {
		if !oneLine(ifc.Name) || strings.Contains(ifc.Name, "/") || ifc.Name == "." || ifc.Name == ".." || ifc.Name == "" {
			return unsafeValue("interface name", ifc.Name, "install script")
		}
	}
	return nil
}

// Menu renders the iPXE boot menu. Nodes whose names cannot stand in it
// are left out.
func (r *Renderer) Menu(d MenuData) ([]byte, error) {
	if d.TimeoutMS == 0 {
		d.TimeoutMS = 10000
	}
	if !plainWord(d.BaseURL) {
		return nil, unsafeValue("server URL", d.BaseURL, "boot menu")
	}
	var nodes []string
	for _, n := range d.Nodes {
		if n != "" && plainWord(n) {
			nodes = append(nodes, n)
		}
	}
	d.Nodes = nodes
	return r.render(IPXEMenu, d)
}

// NodeBoot renders a node boot script; kind is "ipxe" or "syslinux".
func (r *Renderer) NodeBoot(kind string, p *luna.BootParams) ([]byte, error) {
	if err := checkBoot(p); err != nil {
		return nil, err
	}
	switch kind {
	case "ipxe", "":
		return r.render(NodeBootIPXE, p)
	case "syslinux":
		return r.render(NodeBootSyslinux, p)
	}
	return nil, fmt.Errorf("unknown boot script type %q", kind)
}

// InstallScript renders the install script.
func (r *Renderer) InstallScript(p *luna.InstallParams) ([]byte, error) {
	if err := checkInstall(p); err != nil {
		return nil, err
	}
	return r.render(Install, p)
}
