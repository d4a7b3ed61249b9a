// Tests of the dracut module 95luna: dracut builds an initramfs with it,
// and the shell functions of the installer behave as the spec says. The
// module itself is shell (module-setup.sh and the scripts beside it).
package initrd_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// moduleFiles are the files of the module, copied to modules.d/95luna.
var moduleFiles = []string{"module-setup.sh", "luna-parse-cmdline.sh", "luna-start.sh", "luna-installer.sh",
	"luna-lib.sh", "luna-dhclient-script.sh", "sshd_config", "bashrc"}

// dracutBase makes a dracut base directory that is the host's
// /usr/lib/dracut with this module added as modules.d/95luna, so the test
// never writes to the host's dracut.
func dracutBase(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("dracut"); err != nil {
		t.Fatal("dracut is needed to build an initramfs: apt-get install dracut-core")
	}
	const host = "/usr/lib/dracut"
	base := filepath.Join(t.TempDir(), "dracut")
	mods := filepath.Join(base, "modules.d")
	if err := os.MkdirAll(filepath.Join(mods, "95luna"), 0o755); err != nil {
		t.Fatal(err)
	}
	top, err := os.ReadDir(host)
	if err != nil {
		t.Fatalf("%v (apt-get install dracut-core)", err)
	}
	for _, e := range top {
		if e.Name() != "modules.d" {
			link(t, filepath.Join(host, e.Name()), filepath.Join(base, e.Name()))
		}
	}
	hostMods, err := os.ReadDir(filepath.Join(host, "modules.d"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range hostMods {
		if !strings.HasSuffix(e.Name(), "luna") {
			link(t, filepath.Join(host, "modules.d", e.Name()), filepath.Join(mods, e.Name()))
		}
	}
	for _, f := range moduleFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(mods, "95luna", f), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return base
}

func link(t *testing.T, old, new string) {
	t.Helper()
	if err := os.Symlink(old, new); err != nil {
		t.Fatal(err)
	}
}

// runDracut builds an uncompressed initramfs of the modules base and luna
// without a kernel, and without stripping, so files compare byte for byte.
func runDracut(t *testing.T, base, client string) (string, []byte, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "initramfs.img")
	cmd := exec.Command("dracut", "--no-kernel", "--modules", "base luna", "--confdir", filepath.Join(dir, "conf"),
		"--conf", "/dev/null", "--no-compress", "--no-early-microcode", "--nostrip", "--tmpdir", dir, "--force", img)
	cmd.Env = append(os.Environ(), "dracutbasedir="+base, "LUNA_LTORRENT_CLIENT="+client)
	out, err := cmd.CombinedOutput()
	return img, out, err
}

type cpioFile struct {
	mode uint32
	data []byte
}

// readCpio reads an uncompressed cpio archive in the newc format.
func readCpio(b []byte) (map[string]cpioFile, error) {
	files := map[string]cpioFile{}
	align := func(n int) int { return (n + 3) &^ 3 }
	for off := 0; off+110 <= len(b); {
		h := b[off : off+110]
		if string(h[:6]) != "070701" && string(h[:6]) != "070702" {
			if b[off] == 0 { // padding between concatenated archives
				off++
				continue
			}
			return nil, fmt.Errorf("bad cpio magic at %d", off)
		}
		field := func(i int) int {
			v, _ := strconv.ParseUint(string(h[6+8*i:14+8*i]), 16, 32)
			return int(v)
		}
		mode, size, nameSize := field(1), field(6), field(11)
		name := string(b[off+110 : off+110+nameSize-1])
		off = align(off + 110 + nameSize)
		if off+size > len(b) {
			return nil, io.ErrUnexpectedEOF
		}
		if name == "TRAILER!!!" {
			off = align(off + size)
			continue
		}
		files[strings.TrimPrefix(name, "./")] = cpioFile{mode: uint32(mode), data: b[off : off+size]}
		off = align(off + size)
	}
	return files, nil
}

func TestDracutBuildsTheModule(t *testing.T) {
	base := dracutBase(t)
	client := ltorrentClient(t)
	clientText, err := os.ReadFile(client)
	if err != nil {
		t.Fatal(err)
	}
	img, out, err := runDracut(t, base, client)
	if err != nil {
		t.Fatalf("dracut: %v\n%s", err, out)
	}
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	files, err := readCpio(b)
	if err != nil {
		t.Fatal(err)
	}
	// /lib, /sbin and /bin may be symlinks into /usr.
	find := func(paths ...string) (cpioFile, bool) {
		for _, p := range paths {
			if f, ok := files[p]; ok {
				return f, true
			}
		}
		return cpioFile{}, false
	}
	want := map[string][]string{
		"luna-parse-cmdline.sh":   {"usr/lib/dracut/hooks/cmdline/99-luna-parse-cmdline.sh", "lib/dracut/hooks/cmdline/99-luna-parse-cmdline.sh"},
		"luna-start.sh":           {"usr/lib/dracut/hooks/initqueue/finished/99-luna-start.sh", "lib/dracut/hooks/initqueue/finished/99-luna-start.sh"},
		"luna-installer.sh":       {"usr/sbin/luna-installer", "sbin/luna-installer"},
		"luna-dhclient-script.sh": {"usr/sbin/luna-dhclient-script", "sbin/luna-dhclient-script"},
		"luna-lib.sh":             {"usr/lib/luna-lib.sh", "lib/luna-lib.sh"},
		"sshd_config":             {"etc/ssh/sshd_config"},
		"bashrc":                  {"root/.bashrc"},
	}
	for src, paths := range want {
		f, ok := find(paths...)
		if !ok {
			t.Errorf("%s is not in the initramfs (looked for %v)", src, paths)
			continue
		}
		text, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.data, text) {
			t.Errorf("%s in the initramfs differs from initrd/%s", paths[0], src)
		}
	}
	c, ok := files["luna/ltorrent-client"]
	switch {
	case !ok:
		t.Error("/luna/ltorrent-client is not in the initramfs")
	case !bytes.Equal(c.data, clientText):
		t.Error("/luna/ltorrent-client is not the file LUNA_LTORRENT_CLIENT named")
	case c.mode&0o111 == 0:
		t.Errorf("/luna/ltorrent-client is not executable (mode %o)", c.mode)
	}
	for _, tool := range []string{"curl", "tar", "ip", "bash", "setsid"} {
		if _, ok := find("usr/bin/"+tool, "bin/"+tool, "usr/sbin/"+tool, "sbin/"+tool); !ok {
			t.Errorf("%s is not in the initramfs", tool)
		}
	}
	if f, ok := find("usr/sbin/luna-installer", "sbin/luna-installer"); ok && f.mode&0o111 == 0 {
		t.Errorf("/sbin/luna-installer is not executable (mode %o)", f.mode)
	}
}

func TestDracutFailsWithoutClient(t *testing.T) {
	base := dracutBase(t)
	_, out, err := runDracut(t, base, filepath.Join(t.TempDir(), "missing"))
	if err == nil {
		t.Fatalf("dracut built an initramfs without ltorrent-client:\n%s", out)
	}
	if !strings.Contains(string(out), "ltorrent-client") {
		t.Fatalf("dracut failed without naming ltorrent-client:\n%s", out)
	}
}
