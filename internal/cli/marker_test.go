package cli

import (
	"strings"
	"testing"

	"github.com/clustervision/luna-go/internal/luna"
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

// TestFailedRollbackIsReported: a command whose later step fails undoes
// what it stored; when the undo fails too, the command's one ERROR line
// says so and names what may be left behind, and the admin can remove it.
// Here `network add` stores the network, its name server claim is refused
// by the server (inserts into ipaddr fail), and so is the network's
// deletion.
func TestFailedRollbackIsReported(t *testing.T) {
	env, dir := newLunaEnv(t)
	env.mustRun(t, "cluster", "init", "--frontend_address", "10.30.255.254", "--user", "root", "--path", dir)
	env.mustRun(t, "network", "add", "-n", "cluster", "-N", "10.30.0.0", "-P", "16", "--ns_hostname", "master")
	st, dump := openDump(t, env)
	before := dump(t)

	liftClaims := stored.FailWrites(t, env["LUNA_DB"], "ipaddr", "INSERT")
	code, out, errs := env.run("network", "add", "-n", "net2", "-N", "10.60.0.0", "-P", "16", "--ns_hostname", "master")
	t.Logf("network add with claims refused: exit %d: %s", code, strings.TrimSpace(errs))
	if code == 0 || out != "" || !strings.HasPrefix(errs, "ERROR: ") || strings.Count(errs, "\n") != 1 {
		t.Fatalf("network add: exit %d, stdout %q, stderr %q; want one ERROR line", code, out, errs)
	}
	if got := dump(t); got != before {
		t.Errorf("network add was not undone when its claim failed:\n%s", got)
	}

	liftDeletes := stored.FailWrites(t, env["LUNA_DB"], "network", "DELETE")
	code, out, errs = env.run("network", "add", "-n", "net2", "-N", "10.60.0.0", "-P", "16", "--ns_hostname", "master")
	t.Logf("network add with claims and deletes refused: exit %d: %s", code, strings.TrimSpace(errs))
	if code == 0 || out != "" || !strings.HasPrefix(errs, "ERROR: ") || strings.Count(errs, "\n") != 1 ||
		!strings.Contains(errs, "undoing it failed too") || !strings.Contains(errs, "net2") {
		t.Fatalf("network add: exit %d, stdout %q, stderr %q; want one ERROR line saying the undo failed too and naming net2", code, out, errs)
	}
	liftClaims()
	liftDeletes()
	if st.ID(luna.Networks, "net2") == "" {
		t.Fatal("net2 is not stored, though the undo failed")
	}
	env.mustRun(t, "network", "delete", "net2")
	if got := dump(t); got != before {
		t.Errorf("after network delete net2 the store differs from before:\n%s", got)
	}
}
