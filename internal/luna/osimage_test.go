package luna

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCompareKernelVersions(t *testing.T) {
	older := [][2]string{
		{"3.10.0-693.5.2.el7.x86_64", "3.10.0-1160.el7.x86_64"},
		{"3.10.0-514.26.2.el7.x86_64", "3.10.0-693.5.2.el7.x86_64"},
		{"5.10.0-9-amd64", "5.10.0-28-amd64"},
		{"4.19.0-26-amd64", "5.10.0-9-amd64"},
		{"5.4.0", "5.4.0-1"},
		{"5.4.0-rc1", "5.4.0-1"},
		{"5.10.0-009-amd64", "5.10.0-10-amd64"},
		{"6.1.0-18-amd64", "6.1.0-18-cloud-amd64"},
	}
	for _, p := range older {
		if c := CompareKernelVersions(p[0], p[1]); c >= 0 {
			t.Errorf("CompareKernelVersions(%q, %q) = %d, want < 0", p[0], p[1], c)
		}
		if c := CompareKernelVersions(p[1], p[0]); c <= 0 {
			t.Errorf("CompareKernelVersions(%q, %q) = %d, want > 0", p[1], p[0], c)
		}
	}
	// Equal by numbers but spelled differently: still a total order.
	if c := CompareKernelVersions("5.10.01", "5.10.1"); c == 0 {
		t.Errorf("CompareKernelVersions of different strings is 0")
	}
	if c := CompareKernelVersions("5.10.1", "5.10.1"); c != 0 {
		t.Errorf("CompareKernelVersions of equal strings = %d", c)
	}
}

func TestSortKernelVersions(t *testing.T) {
	got := []string{"5.10.0-9-amd64", "3.10.0-1160.el7.x86_64", "5.10.0-28-amd64", "3.10.0-693.5.2.el7.x86_64"}
	SortKernelVersions(got)
	want := []string{"3.10.0-693.5.2.el7.x86_64", "3.10.0-1160.el7.x86_64", "5.10.0-9-amd64", "5.10.0-28-amd64"}
	if !slices.Equal(got, want) {
		t.Errorf("sorted = %q, want %q", got, want)
	}
}

// tree builds files (ending in "/" for directories) under a new directory.
func tree(t *testing.T, paths ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, p := range paths {
		full := filepath.Join(root, p)
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("kernel"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestInstalledKernels(t *testing.T) {
	root := tree(t,
		// RHEL layout: image in /boot.
		"lib/modules/3.10.0-693.5.2.el7.x86_64/kernel/",
		"boot/vmlinuz-3.10.0-693.5.2.el7.x86_64",
		"lib/modules/3.10.0-1160.el7.x86_64/",
		"boot/vmlinuz-3.10.0-1160.el7.x86_64",
		// Fedora layout: image beside the modules.
		"lib/modules/5.10.0-9-amd64/vmlinuz",
		// Modules left over from a removed kernel.
		"lib/modules/3.10.0-514.el7.x86_64/extra/",
		// A kernel image without modules.
		"boot/vmlinuz-4.0.0",
		// Names that cannot be kernel versions.
		"lib/modules/bad name/vmlinuz",
		"lib/modules/README",
	)
	if err := os.Symlink("/nonexistent/vmlinuz", filepath.Join(root, "boot/vmlinuz-5.10.0-28-amd64")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "lib/modules/5.10.0-28-amd64"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := InstalledKernels(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"3.10.0-693.5.2.el7.x86_64", "3.10.0-1160.el7.x86_64", "5.10.0-9-amd64", "5.10.0-28-amd64"}
	if !slices.Equal(got, want) {
		t.Errorf("InstalledKernels = %q, want %q", got, want)
	}

	for _, empty := range []string{t.TempDir(), tree(t, "lib/modules"), filepath.Join(root, "missing")} {
		got, err := InstalledKernels(empty)
		if err != nil || len(got) != 0 {
			t.Errorf("InstalledKernels(%s) = %q, %v; want none", empty, got, err)
		}
	}
}

func TestOSImageValidation(t *testing.T) {
	for _, ok := range []string{"", "console=ttyS0,115200n8 rd.debug", "net.ifnames=0 biosdevname=0 ${ip}"} {
		if err := validateKernOpts(ok); err != nil {
			t.Errorf("validateKernOpts(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"a\nb", "a`id`", "a $(id)", `a="b"`, "a='b'", "a;b", "a&b", "a|b", "a<b", "a>b"} {
		if err := validateKernOpts(bad); err == nil {
			t.Errorf("validateKernOpts(%q) accepted", bad)
		}
	}
	for _, ok := range []string{"", "luna", "luna,-i18n,-plymouth", "ipmi_si,nvme-core,-floppy"} {
		if err := validateModules("dracut modules", ok); err != nil {
			t.Errorf("validateModules(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{",", "luna,", "a,,b", "-", "--a", "a b", "a;b"} {
		if err := validateModules("dracut modules", bad); err == nil {
			t.Errorf("validateModules(%q) accepted", bad)
		}
	}
	for in, want := range map[string]string{"/,/boot": "/,/boot", "/ , /boot/ ,/var//lib": "/,/boot,/var/lib"} {
		if got, err := normalizeFilesystems(in); err != nil || got != want {
			t.Errorf("normalizeFilesystems(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "boot", "/,", "/a b", "/../etc", "/$(x)"} {
		if _, err := normalizeFilesystems(bad); err == nil {
			t.Errorf("normalizeFilesystems(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"", "-1", "../x", "a/b", "a b"} {
		if err := validateKernVer(bad); err == nil {
			t.Errorf("validateKernVer(%q) accepted", bad)
		}
	}
	if err := validateKernVer("5.10.0-28-amd64+rt"); err != nil {
		t.Error(err)
	}
}

func TestGrabDefault(t *testing.T) {
	dir := t.TempDir()
	got, err := grabDefault(dir)
	if err != nil || got != strings.TrimRight(defaultGrabExclude, "\n") || !strings.Contains(got, "/proc/*") {
		t.Errorf("grabDefault without template = %q, %v", got, err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, grabTemplate), []byte("/proc/*\n/site/*\n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := grabDefault(dir); err != nil || got != "/proc/*\n/site/*" {
		t.Errorf("grabDefault with template = %q, %v", got, err)
	}
}
