// Package version says which build a program is: `--version` on every
// Luna program prints Line.
package version

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/pflag"
)

// Version and Commit are set by the Makefile's build target:
// -ldflags "-X github.com/clustervision/luna-go/internal/version.Version=..."
// Without them (go build, go run, go install) they come from the module
// and VCS information Go stamps into the binary.
var (
	Version = ""
	Commit  = ""
)

// Get returns the version and commit, "devel" and "unknown" when the build
// says neither.
func Get() (version, commit string) {
	version, commit = Version, Commit
	if info, ok := debug.ReadBuildInfo(); ok {
		if version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			version = info.Main.Version
		}
		if commit == "" {
			var rev, dirty string
			for _, s := range info.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					if s.Value == "true" {
						dirty = "-dirty"
					}
				}
			}
			if len(rev) > 12 {
				rev = rev[:12]
			}
			if rev != "" {
				commit = rev + dirty
			}
		}
	}
	if version == "" {
		version = "devel"
	}
	if commit == "" {
		commit = "unknown"
	}
	return version, commit
}

// Usage is the help text of --version, the same in every program.
const Usage = "print the version and commit, and exit"

// AddFlag lists --version among a program's options, so that its --help
// shows it; the program's main answers it before any parsing (Asked).
func AddFlag(fs *pflag.FlagSet) {
	fs.Bool("version", false, Usage)
}

// Line is what `PROG --version` prints: "lweb 1.2.0-go (commit 04610bd)".
func Line(prog string) string {
	v, c := Get()
	return fmt.Sprintf("%s %s (commit %s)", prog, v, c)
}

// Asked reports whether args (without the program name) ask for the
// version: --version before any "--".
func Asked(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "--version" {
			return true
		}
	}
	return false
}
