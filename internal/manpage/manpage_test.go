package manpage

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestPages writes every page as `make man` does, checks each with groff
// (-ww: every warning) and man --warnings, and checks that the rendered
// page of every command lists each of its options and subcommands.
func TestPages(t *testing.T) {
	for _, tool := range []string{"groff", "man"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed: apt-get install groff-base man-db (or make deps)", tool)
		}
	}
	dir := t.TempDir()
	if err := Write(dir, "Luna test", time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"luna", "lweb", "ltorrent", "lpower", "lchroot", "lunadb"} {
		if _, err := os.Stat(filepath.Join(dir, want+".8")); err != nil {
			t.Errorf("no page for %s: %v", want, err)
		}
	}
	pages := 0
	for _, p := range Programs {
		walk(p.Command(), func(c *cobra.Command) {
			pages++
			name := strings.ReplaceAll(c.CommandPath(), " ", "-")
			page := filepath.Join(dir, name+".8")
			text := render(t, page)
			if !strings.Contains(text, `.TH "`+strings.ToUpper(name)+`" "8" "Dec 2026" "Luna test" "Luna Manual"`) {
				head, _, _ := strings.Cut(readFile(t, page), "\n.SH")
				t.Errorf("%s: header: %s", name, head)
			}
			for _, sect := range []string{"NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS"} {
				if !strings.Contains(text, "\n"+sect+"\n") {
					t.Errorf("%s: no %s section", name, sect)
				}
			}
			// The synopsis as cobra's usage line, <...> included.
			if use := c.UseLine(); !strings.Contains(text, use) {
				t.Errorf("%s: synopsis %q missing", name, use)
			}
			c.NonInheritedFlags().VisitAll(func(f *pflag.Flag) {
				if f.Hidden {
					return
				}
				if !strings.Contains(text, "--"+f.Name+"=") && !strings.Contains(text, "--"+f.Name+"[") {
					t.Errorf("%s: option --%s missing", name, f.Name)
				}
				if f.Shorthand != "" && !strings.Contains(text, "-"+f.Shorthand+", --"+f.Name) {
					t.Errorf("%s: option -%s missing", name, f.Shorthand)
				}
				if !strings.Contains(strings.Join(strings.Fields(text), " "), strings.Join(strings.Fields(f.Usage), " ")) {
					t.Errorf("%s: --%s's text %q missing", name, f.Name, f.Usage)
				}
			})
			var subs []string
			for _, s := range c.Commands() {
				if s.IsAvailableCommand() {
					subs = append(subs, s.Name())
				}
			}
			if len(subs) > 0 && !strings.Contains(text, "\nCOMMANDS\n") {
				t.Errorf("%s: no COMMANDS section", name)
			}
			for _, s := range subs {
				if !strings.Contains(text, "\n       "+s+" ") {
					t.Errorf("%s: subcommand %s not in COMMANDS", name, s)
				}
				if !strings.Contains(text, name+"-"+s+"(8)") {
					t.Errorf("%s: %s-%s(8) not in SEE ALSO", name, name, s)
				}
			}
		})
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.8"))
	if len(files) != pages {
		t.Errorf("%d pages written, %d commands", len(files), pages)
	}
	if pages < 70 {
		t.Errorf("only %d pages", pages)
	}
}

// walk calls fn on c and every available subcommand below it.
func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, s := range c.Commands() {
		if s.IsAvailableCommand() && !s.IsAdditionalHelpTopicCommand() {
			walk(s, fn)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// render checks page with groff (-Tutf8 -ww) and man --warnings, both
// silent, and returns it as plain text on long lines (the .TH line first,
// for the header check).
func render(t *testing.T, page string) string {
	t.Helper()
	run := func(name string, args ...string) string {
		var out, errb bytes.Buffer
		cmd := exec.Command(name, args...)
		cmd.Stdout, cmd.Stderr = &out, &errb
		cmd.Env = append(os.Environ(), "MANWIDTH=250", "MAN_KEEP_FORMATTING=0")
		if err := cmd.Run(); err != nil || errb.Len() > 0 {
			t.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, errb.String())
		}
		return out.String()
	}
	run("groff", "-man", "-Tutf8", "-ww", "-z", page)
	run("man", "--warnings", "-l", "-Tutf8", page)
	text := run("groff", "-man", "-Tascii", "-P-bcou", "-rLL=250n", "-ww", page)
	th := ""
	for _, l := range strings.Split(readFile(t, page), "\n") {
		if strings.HasPrefix(l, ".TH ") {
			th = l
		}
	}
	return th + "\n" + text
}
