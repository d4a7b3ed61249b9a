package ansible_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/clustervision/luna-go/internal/cli"
	"github.com/clustervision/luna-go/internal/testutil"
)

// TestMain is also the luna command of the playbook: run through a
// symbolic link named luna, this test binary is luna.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "luna" {
		os.Exit(cli.Main(context.Background(), os.Args[1:], cli.StdIO()))
	}
	os.Exit(testutil.WithDB(m).Run())
}

type env struct {
	t       *testing.T
	dir     string
	bin     string
	environ []string
}

func setup(t *testing.T) *env {
	t.Helper()
	if _, err := exec.LookPath("ansible-playbook"); err != nil {
		t.Fatal("ansible-playbook is needed: run `make deps` (Debian's ansible-core)")
	}
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: dir, bin: filepath.Join(dir, "bin/luna")}
	if err := os.MkdirAll(filepath.Dir(e.bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, e.bin); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"cluster", "image/boot", "image/lib/modules/5.14.0-1.el9.x86_64", "ansible-tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "image/boot/vmlinuz-5.14.0-1.el9.x86_64"), []byte("kernel"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "luna.conf"), []byte("# defaults\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	e.environ = append(os.Environ(),
		"LUNA_MONGO_URI="+testutil.URI(), "LUNA_DB="+testutil.NewDatabase(),
		"LUNA_CONF="+filepath.Join(dir, "luna.conf"), "LUNA_LOGDIR="+filepath.Join(dir, "log"),
		"ANSIBLE_LIBRARY="+filepath.Join(wd, "library"), "ANSIBLE_MODULE_UTILS="+filepath.Join(wd, "module_utils"),
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(dir, "ansible-tmp"), "ANSIBLE_REMOTE_TEMP="+filepath.Join(dir, "ansible-tmp"),
		"ANSIBLE_NOCOLOR=1", "ANSIBLE_RETRY_FILES_ENABLED=0", "ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3",
		"ANSIBLE_LOCALHOST_WARNING=0", "ANSIBLE_INVENTORY_UNPARSED_WARNING=0", "LUNA_BIN="+e.bin)
	return e
}

// playbook runs testdata/site.yml and returns its recap for localhost.
func (e *env) playbook(extra ...string) (recap string, out string) {
	e.t.Helper()
	args := append([]string{"-i", "localhost,", "-c", "local",
		"-e", "luna_bin=" + e.bin, "-e", "cluster_path=" + filepath.Join(e.dir, "cluster"),
		"-e", "image_path=" + filepath.Join(e.dir, "image"), "testdata/site.yml"}, extra...)
	cmd := exec.Command("ansible-playbook", args...)
	cmd.Env = e.environ
	b, err := cmd.CombinedOutput()
	if err != nil {
		e.t.Fatalf("ansible-playbook %s: %v\n%s", strings.Join(extra, " "), err, b)
	}
	m := regexp.MustCompile(`(?m)^localhost\s*:\s*(.*)$`).FindStringSubmatch(string(b))
	if m == nil {
		e.t.Fatalf("no recap:\n%s", b)
	}
	return strings.Join(strings.Fields(m[1]), " "), string(b)
}

func (e *env) run(args ...string) string {
	e.t.Helper()
	return e.runIn("", args...)
}

// runIn runs luna with stdin, what its text options (--comment, ...) read.
func (e *env) runIn(stdin string, args ...string) string {
	e.t.Helper()
	cmd := exec.Command(e.bin, args...)
	cmd.Env = e.environ
	cmd.Stdin = strings.NewReader(stdin)
	b, err := cmd.CombinedOutput()
	if err != nil {
		e.t.Fatalf("luna %s: %v: %s", strings.Join(args, " "), err, b)
	}
	return string(b)
}

// field is one string field of `luna ARGS... -o json`.
func (e *env) field(key string, args ...string) string {
	e.t.Helper()
	var obj map[string]any
	out := e.run(append(args, "--output", "json")...)
	if err := json.Unmarshal([]byte(out), &obj); err != nil {
		e.t.Fatalf("luna %s: %v: %s", strings.Join(args, " "), err, out)
	}
	s, ok := obj[key].(string)
	if !ok {
		e.t.Fatalf("luna %s: no string %q: %s", strings.Join(args, " "), key, out)
	}
	return s
}

// The texts testdata/site.yml gives (its post_script without the trailing
// newline of the YAML block, which luna drops).
const postScript = "echo \"it's $HOSTNAME\" >> /sysroot/etc/motd\ntouch '/sysroot/luna done'"

func changed(recap string) string {
	return regexp.MustCompile(`changed=\d+`).FindString(recap)
}

// TestPlaybook runs the playbook in check mode (changes reported, none
// made), then for real, then again: the second run changes nothing. A
// change made behind Ansible's back is put right by the next run, and the
// dynamic inventory lists the nodes by group.
func TestPlaybook(t *testing.T) {
	e := setup(t)

	recap, out := e.playbook("--check")
	if changed(recap) == "changed=0" {
		t.Errorf("check mode on an empty database reports no change: %s\n%s", recap, out)
	}
	// Check mode made nothing: there is still no cluster.
	cmd := exec.Command(e.bin, "cluster", "show")
	cmd.Env = e.environ
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "does not exist") {
		t.Errorf("after --check: luna cluster show: %v: %s", err, b)
	}

	recap, out = e.playbook()
	if changed(recap) != "changed=11" || !strings.Contains(recap, "failed=0") {
		t.Errorf("first run: %s\n%s", recap, out)
	}
	recap, out = e.playbook()
	if changed(recap) != "changed=0" || !strings.Contains(recap, "failed=0") {
		t.Errorf("second run: %s\n%s", recap, out)
	}

	var nodes []struct {
		Name, Group, Switch, Port string
		LocalBoot                 bool `json:"localboot"`
	}
	if err := json.Unmarshal([]byte(e.run("node", "list", "-o", "json")), &nodes); err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, n := range nodes {
		got += n.Name + ":" + n.Group + ":" + n.Switch + ":" + n.Port + ":" + map[bool]string{true: "local", false: "net"}[n.LocalBoot] + " "
	}
	if got != "node01:compute:sw01:1:net node02:compute:sw01:2:local node03:compute:sw01:3:net node05:gpu:::net " {
		t.Errorf("nodes: %s", got)
	}
	if s := e.run("network", "show", "cluster", "-o", "json"); !strings.Contains(s, `"prefix": 16`) && !strings.Contains(s, `"prefix":16`) {
		t.Errorf("network: %s", s)
	}
	// The texts, given to luna on stdin, read back as the playbook gave them.
	for _, c := range []struct{ got, want string }{
		{e.field("postscript", "group", "show", "compute"), postScript},
		{e.field("comment", "group", "show", "compute"), "compute nodes"},
		{e.field("comment", "cluster", "show"), "test cluster"},
		{e.field("comment", "network", "show", "cluster"), `the nodes' network, "$NET"`},
		{e.field("comment", "node", "show", "node02"), "rack A, slot 2"},
	} {
		if c.got != c.want {
			t.Errorf("read back %q, the playbook gave %q", c.got, c.want)
		}
	}

	// Changed behind Ansible's back: check mode sees it and leaves it,
	// the next run puts it back.
	e.run("node", "change", "node01", "--localboot", "y")
	e.run("bmcsetup", "change", "base", "-I", "7")
	e.runIn("echo edited\n", "group", "change", "compute", "--postscript")
	e.run("group", "rename", "gpu", "--newname", "gpu-old")
	e.run("node", "rename", "node05", "--newname", "spare01")
	recap, out = e.playbook("--check", "--diff")
	if changed(recap) != "changed=5" || !strings.Contains(out, `-    "name": "gpu-old"`) || !strings.Contains(out, `-    "name": "spare01"`) || !strings.Contains(out, `-    "userid": 7`) || !strings.Contains(out, `-    "postscript": "echo edited"`) {
		t.Errorf("check after a change: %s\n%s", recap, out)
	}
	if s := e.run("node", "show", "node01", "-o", "json"); !strings.Contains(s, `"localboot": true`) && !strings.Contains(s, `"localboot":true`) {
		t.Errorf("check mode changed node01: %s", s)
	}
	if got := e.field("postscript", "group", "show", "compute"); got != "echo edited" {
		t.Errorf("check mode changed the post script: %q", got)
	}
	if s := e.run("node", "list", "-o", "json"); !strings.Contains(s, `"spare01"`) || strings.Contains(s, `"node05"`) {
		t.Errorf("check mode renamed spare01: %s", s)
	}
	recap, out = e.playbook()
	if changed(recap) != "changed=5" {
		t.Errorf("run after a change: %s\n%s", recap, out)
	}
	// Renamed back: node05 of group gpu, no spare01 or gpu-old left.
	if g := e.field("group", "node", "show", "node05"); g != "gpu" {
		t.Errorf("node05's group after the renames: %q", g)
	}
	for _, args := range [][]string{{"node", "show", "spare01"}, {"group", "show", "gpu-old"}} {
		cmd := exec.Command(e.bin, args...)
		cmd.Env = e.environ
		if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "does not exist") {
			t.Errorf("luna %s after the run: %v: %s", strings.Join(args, " "), err, b)
		}
	}
	if got := e.field("postscript", "group", "show", "compute"); got != postScript {
		t.Errorf("post script not put back: %q", got)
	}
	if s := e.run("bmcsetup", "show", "base", "-o", "json"); !strings.Contains(s, `"userid": 4`) && !strings.Contains(s, `"userid":4`) {
		t.Errorf("bmcsetup: %s", s)
	}

	// The dynamic inventory.
	cmd = exec.Command("ansible-inventory", "-i", "inventory/luna_inventory.py", "--list")
	cmd.Env = e.environ
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ansible-inventory: %v: %s", err, b)
	}
	var inv struct {
		Compute struct{ Hosts []string } `json:"compute"`
		Meta    struct {
			Hostvars map[string]map[string]any `json:"hostvars"`
		} `json:"_meta"`
	}
	if err := json.Unmarshal(b, &inv); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if strings.Join(inv.Compute.Hosts, " ") != "node01 node02 node03" {
		t.Errorf("inventory group compute: %v\n%s", inv.Compute.Hosts, b)
	}
	if h := inv.Meta.Hostvars["node02"]; h["ansible_host"] != "10.30.0.2" || h["luna_group"] != "compute" {
		t.Errorf("node02's variables: %v", h)
	}
}

// TestRenameOntoExisting: new_name naming another node fails the task with
// one line and renames nothing.
func TestRenameOntoExisting(t *testing.T) {
	e := setup(t)
	e.run("cluster", "init", "--frontend_address", "10.30.255.254", "--path", filepath.Join(e.dir, "cluster"), "--user", "root")
	e.run("network", "add", "-n", "cluster", "-N", "10.30.0.0", "-P", "16")
	e.run("osimage", "add", "-n", "compute", "--path", filepath.Join(e.dir, "image"))
	e.run("group", "add", "-n", "compute", "-N", "cluster", "-o", "compute")
	e.run("node", "add", "-n", "node01", "-g", "compute")
	e.run("node", "add", "-n", "node02", "-g", "compute")
	cmd := exec.Command("ansible", "localhost", "-i", "localhost,", "-c", "local", "-m", "luna_node",
		"-a", "name=node01 new_name=node02 luna_bin="+e.bin)
	cmd.Env = e.environ
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "Cannot rename node node01 to node02: both exist") {
		t.Errorf("renaming onto an existing node: %v\n%s", err, b)
	}
	var nodes []struct{ Name string }
	if err := json.Unmarshal([]byte(e.run("node", "list", "-o", "json")), &nodes); err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || nodes[0].Name != "node01" || nodes[1].Name != "node02" {
		t.Errorf("nodes after the refused rename: %v", nodes)
	}
}
