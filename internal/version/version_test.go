package version

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var programs = []string{"luna", "lweb", "lunadb", "ltorrent", "ltorrent-client", "lpower", "lunademo", "lchroot"}

// TestEveryProgramVersion builds every program as `make build` does (the
// version and commit given with -ldflags -X) and runs `PROG --version`:
// it prints "PROG VERSION (commit COMMIT)" and exits 0, and `PROG --help`
// lists --version with the same text everywhere. Built without
// -ldflags, luna still answers, with the fallback.
func TestEveryProgramVersion(t *testing.T) {
	bin := t.TempDir()
	pkgs := make([]string, len(programs))
	for i, p := range programs {
		pkgs[i] = "github.com/clustervision/luna-go/cmd/" + p
	}
	ld := "-X github.com/clustervision/luna-go/internal/version.Version=9.8.7-test -X github.com/clustervision/luna-go/internal/version.Commit=0123abcd"
	build := exec.Command("go", append([]string{"build", "-ldflags", ld, "-o", bin + "/"}, pkgs...)...)
	build.Env = append(build.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, p := range programs {
		out, err := exec.Command(filepath.Join(bin, p), "--version").CombinedOutput()
		if err != nil {
			t.Errorf("%s --version: %v\n%s", p, err, out)
			continue
		}
		if want := p + " 9.8.7-test (commit 0123abcd)\n"; string(out) != want {
			t.Errorf("%s --version printed %q, want %q", p, out, want)
		}
		// --help lists it (lunademo's Go flags write -version).
		help, err := exec.Command(filepath.Join(bin, p), "--help").CombinedOutput()
		if !regexp.MustCompile(`(?m)^ +(--|-)version\b.*\n?.*` + regexp.QuoteMeta(Usage)).Match(help) {
			t.Errorf("%s --help (%v) does not list --version with %q:\n%s", p, err, Usage, help)
		}
	}

	plain := filepath.Join(t.TempDir(), "luna")
	if out, err := exec.Command("go", "build", "-o", plain, "github.com/clustervision/luna-go/cmd/luna").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(plain, "--version").CombinedOutput()
	if err != nil || !regexp.MustCompile(`^luna \S+ \(commit \S+\)\n$`).Match(out) {
		t.Fatalf("luna --version without -ldflags: %q, %v", out, err)
	}
}

func TestAsked(t *testing.T) {
	for args, want := range map[string]bool{
		"--version": true, "node list --version": true, "-- --version": false, "node list": false, "": false,
	} {
		if got := Asked(strings.Fields(args)); got != want {
			t.Errorf("Asked(%q) = %v", args, got)
		}
	}
}
