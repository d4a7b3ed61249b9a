package initrd_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// libCall runs a function of luna-lib.sh in bash and returns its output
// and whether it succeeded.
func libCall(t *testing.T, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{"-c", `. ./luna-lib.sh && "$@"`, "lib"}, args...)...)
	out, err := cmd.Output()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("bash: %v (apt-get install bash)", err)
	}
	return strings.TrimSpace(string(out)), err == nil
}

func TestMACMatch(t *testing.T) {
	const ib = "80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:a1:b2:c3"
	for _, c := range []struct {
		nic, mac string
		want     bool
	}{
		{"52:54:00:00:00:01", "52:54:00:00:00:01", true},
		{"52:54:00:00:00:01", "52:54:00:00:00:01", true},
		{"52:54:00:AA:00:01", "52:54:00:aa:00:01", true}, // case does not matter
		{"52:54:00:00:00:01", "52:54:00:00:00:02", false},
		{"52:54:00:00:00:01", "54:00:00:00:01", false}, // Ethernet: exact only
		{ib, "00:02:c9:a1:b2:c3", true},                // the GUID's MAC leaves out 03:00
		{ib, "00:02:c9:03:00:a1:b2:c3", true},
		{ib, "00:02:c9:a1:b2:c4", false},
		{ib, "a1:b2:c3:00:02:c9", false}, // order matters
		{ib, "", false},
	} {
		if _, got := libCall(t, "luna_mac_match", c.nic, c.mac); got != c.want {
			t.Errorf("luna_mac_match %s %s = %v, want %v", c.nic, c.mac, got, c.want)
		}
	}
}

func TestFindNIC(t *testing.T) {
	sys := t.TempDir()
	for name, addr := range map[string]string{"lo": "00:00:00:00:00:00", "eno1": "52:54:00:00:00:01",
		"eno2": "52:54:00:00:00:02", "ib0": "80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:a1:b2:c3"} {
		if err := os.MkdirAll(filepath.Join(sys, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sys, name, "address"), []byte(addr+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for mac, want := range map[string]string{"52:54:00:00:00:02": "eno2", "00:02:c9:a1:b2:c3": "ib0", "00:00:00:00:00:00": ""} {
		got, ok := libCall(t, "luna_find_nic", mac, sys)
		if got != want || ok != (want != "") {
			t.Errorf("luna_find_nic %s = %q (ok %v), want %q", mac, got, ok, want)
		}
	}
}

func TestURLHelpers(t *testing.T) {
	for url, want := range map[string]string{"http://10.30.255.254:7050/luna": "10.30.255.254",
		"https://[fd00::1]:7050/luna": "fd00::1", "http://master/luna?x=1": "master"} {
		if got, _ := libCall(t, "luna_url_host", url); got != want {
			t.Errorf("luna_url_host %s = %q, want %q", url, got, want)
		}
	}
	got, _ := libCall(t, "luna_install_url", "http://10.30.255.254:7050/luna", "node001", "abc")
	if want := "http://10.30.255.254:7050/luna?step=install&node=node001&token=abc"; got != want {
		t.Errorf("install URL %q, want %q", got, want)
	}
	got, _ = libCall(t, "luna_install_url", "http://h:7050/luna", "node001", "", "install.error.fetch")
	if want := "http://h:7050/luna?step=install&node=node001&status=install.error.fetch"; got != want {
		t.Errorf("status URL %q, want %q", got, want)
	}
	for mask, want := range map[string]string{"255.255.0.0": "16", "255.255.255.192": "26", "255.0.0.0": "8"} {
		if got, _ := libCall(t, "luna_prefix_of", mask); got != want {
			t.Errorf("luna_prefix_of %s = %s, want %s", mask, got, want)
		}
	}
	for addr, want := range map[string]bool{"10.0.0.1": true, "fd00::1": true, "master": false, "": false} {
		if _, got := libCall(t, "luna_is_ip", addr); got != want {
			t.Errorf("luna_is_ip %q = %v, want %v", addr, got, want)
		}
	}
}
