package cli

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoStoreImport: the CLI and the daemons reach the database only
// through package luna, where the rules live: no package of the module
// other than luna (and the store's own test helpers and the swarm bench)
// imports internal/store in its non-test files, and no file of
// internal/cli does, its tests included (they read stored state through
// internal/testutil/stored). `go list -deps` of a package lists
// internal/store only because luna imports it.
func TestNoStoreImport(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "../../...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	allowed := map[string]bool{"internal/luna": true, "internal/store": true, "internal/testutil": true,
		"internal/testutil/stored": true, "bench/swarm": true}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		seen++
		pkg := strings.TrimPrefix(f[0], "github.com/clustervision/luna-go/")
		for _, imp := range f[1:] {
			if strings.HasSuffix(imp, "/internal/store") && !allowed[pkg] {
				t.Errorf("%s imports %s; ask package luna instead", pkg, imp)
			}
		}
	}
	if seen < 10 {
		t.Fatalf("go list named only %d packages:\n%s", seen, out)
	}

	// The CLI's own tests.
	out, err = exec.Command("go", "list", "-f", `{{join .TestImports " "}} {{join .XTestImports " "}}`, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	imps := strings.Fields(string(out))
	if len(imps) < 5 {
		t.Fatalf("go list named only %d imports of internal/cli's tests: %q", len(imps), out)
	}
	for _, imp := range imps {
		if strings.HasSuffix(imp, "/internal/store") {
			t.Errorf("a test file of internal/cli imports %s; read stored state through internal/testutil/stored", imp)
		}
	}
}
