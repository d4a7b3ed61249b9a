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
// internal/cli or initrd does, their tests included (they read stored
// state through internal/testutil/stored). `go list -deps` of a package lists
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

	// The tests of the CLI and of the node side (initrd) read stored
	// state through internal/testutil/stored too.
	out, err = exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .TestImports " "}} {{join .XTestImports " "}}`,
		".", "../../initrd").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 {
		t.Fatalf("go list named %d packages, want 2:\n%s", len(lines), out)
	}
	for _, line := range lines {
		imps := strings.Fields(line)
		if len(imps) < 5 {
			t.Fatalf("go list named only %d imports of the tests of %s", len(imps)-1, imps[0])
		}
		for _, imp := range imps[1:] {
			if strings.HasSuffix(imp, "/internal/store") {
				t.Errorf("a test file of %s imports %s; read stored state through internal/testutil/stored", imps[0], imp)
			}
		}
	}
}
