package cli

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoStoreImport: the CLI reaches the database only through package
// luna, where the rules live; neither it nor anything it imports outside
// luna may import internal/store directly (`go list -deps` of this package
// lists internal/store only because luna imports it).
func TestNoStoreImport(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, imp := range strings.Fields(string(out)) {
		if strings.HasSuffix(imp, "/internal/store") {
			t.Errorf("internal/cli imports %s; ask package luna instead", imp)
		}
	}
}
