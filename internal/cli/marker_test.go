package cli

import (
	"strings"
	"testing"

	"github.com/clustervision/luna-go/internal/testutil/stored"
)

// TestChangeMarkerWriteFailsTheCommand: when the change marker cannot be
// written after an object was (the server refuses writes of luna_meta),
// the command fails with one ERROR line that says so, instead of leaving
// lweb serving stale boot data with no trace; once the server writes
// again, the next change succeeds and moves the marker.
func TestChangeMarkerWriteFailsTheCommand(t *testing.T) {
	env, dir := newLunaEnv(t)
	env.mustRun(t, "cluster", "init", "--frontend_address", "10.30.255.254", "--user", "root", "--path", dir)
	env.mustRun(t, "bmcsetup", "add", "-n", "base")
	st, _ := openDump(t, env)
	before := st.ChangeMarker()
	if before == "" {
		t.Fatal("no change marker after bmcsetup add")
	}

	lift := stored.FailWrites(t, env["LUNA_DB"], stored.Meta)
	for _, args := range [][]string{
		{"bmcsetup", "change", "base", "-u", "admin2"},
		{"bmcsetup", "add", "-n", "spare"},
		{"cluster", "change", "--nodeprefix", "cn"},
	} {
		code, out, errs := env.run(args...)
		t.Logf("luna %s: exit %d: %s", strings.Join(args, " "), code, strings.TrimSpace(errs))
		if code == 0 || out != "" || !strings.HasPrefix(errs, "ERROR: ") || strings.Count(errs, "\n") != 1 ||
			!strings.Contains(errs, "the change marker could not be written") {
			t.Errorf("luna %s with the marker unwritable: exit %d, stdout %q, stderr %q; want one ERROR line about the change marker",
				strings.Join(args, " "), code, out, errs)
		}
	}
	if got := st.ChangeMarker(); got != before {
		t.Errorf("the change marker moved while its writes failed: %q -> %q", before, got)
	}

	lift()
	env.mustRun(t, "bmcsetup", "change", "base", "-u", "admin3")
	if got := st.ChangeMarker(); got == before {
		t.Error("the change marker did not move after the fault was lifted")
	}
}
