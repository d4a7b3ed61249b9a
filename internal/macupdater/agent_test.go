package macupdater

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clustervision/luna-go/internal/luna"
)

// agentVar is one variable served by the test agent.
type agentVar struct {
	oid string // numeric, leading dot
	typ string // pass_persist type: integer, string
	val string
}

// agent is a real Net-SNMP snmpd on loopback whose bridge and ifName
// tables come from a pass_persist script reading a data file; rewriting the
// file changes what the agent answers from the next request on.
type agent struct {
	port uint16
	data string
	log  *lockedBuffer
}

// passScript answers snmpd's pass_persist protocol from a data file of
// "OID TYPE VALUE" lines sorted in OID order: get is an exact match,
// getnext the first OID after the one asked for.
const passScript = `#!/bin/sh
data="$1"
lookup() {
	awk -v mode="$1" -v req="$2" '
	function cmp(a, b,    x, y, n, m, i) {
		n = split(a, x, "."); m = split(b, y, ".")
		for (i = 2; i <= n && i <= m; i++) {
			if (x[i] + 0 < y[i] + 0) return -1
			if (x[i] + 0 > y[i] + 0) return 1
		}
		return n < m ? -1 : (n > m ? 1 : 0)
	}
	!done && ((mode == "get" && $1 == req) || (mode == "getnext" && cmp($1, req) > 0)) {
		print $1; print $2; print $3; done = 1
	}
	END { if (!done) print "NONE" }' "$data"
}
while read -r cmd; do
	case "$cmd" in
	PING) echo PONG ;;
	get | getnext) read -r oid; lookup "$cmd" "$oid" ;;
	set) read -r oid; read -r value; echo not-writable ;;
	*) exit 0 ;;
	esac
done
`

// startAgent runs snmpd in the foreground on 127.0.0.1 to 127.0.0.4 (one
// free UDP port) with community "public", serving vars.
func startAgent(t *testing.T, vars []agentVar) *agent {
	t.Helper()
	snmpd, err := exec.LookPath("snmpd")
	if err != nil {
		if _, e := os.Stat("/usr/sbin/snmpd"); e == nil {
			snmpd = "/usr/sbin/snmpd"
		} else {
			t.Fatalf("snmpd (Net-SNMP agent) not found: install with: apt-get install snmpd snmp")
		}
	}
	dir := t.TempDir()
	a := &agent{data: filepath.Join(dir, "fdb.data"), log: &lockedBuffer{}}
	a.set(t, vars)
	script := filepath.Join(dir, "fdb.sh")
	if err := os.WriteFile(script, []byte(passScript), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"persist", "mibs"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	a.port = freeUDPPort(t)
	conf := filepath.Join(dir, "snmpd.conf")
	text := fmt.Sprintf(`agentaddress udp:127.0.0.1:%[1]d,udp:127.0.0.2:%[1]d,udp:127.0.0.3:%[1]d,udp:127.0.0.4:%[1]d
rocommunity public 127.0.0.0/8
dontLogTCPWrappersConnects yes
pass_persist .1.3.6.1.2.1.17 /bin/sh %[2]s %[3]s
pass_persist .1.3.6.1.2.1.31.1.1.1.1 /bin/sh %[2]s %[3]s
`, a.port, script, a.data)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	// -f foreground, -Lo log to stdout, -C no default configuration files.
	cmd := exec.Command(snmpd, "-f", "-Lo", "-C", "-c", conf)
	cmd.Env = append(os.Environ(),
		"SNMP_PERSISTENT_DIR="+filepath.Join(dir, "persist"),
		"MIBDIRS="+filepath.Join(dir, "mibs"), "MIBS=")
	cmd.Stdout, cmd.Stderr = a.log, a.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start snmpd: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	// Ready when it answers a walk of a table the script serves.
	w := &SNMPWalker{Port: a.port, Timeout: 200 * time.Millisecond}
	target := luna.SwitchTarget{Name: "probe", IP: "127.0.0.1", Community: "public"}
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("snmpd exited:\n%s", a.log.String())
		default:
		}
		n := 0
		err := w.Walk(context.Background(), target, OIDBasePortIfIndex, func(string, any) error { n++; return nil })
		if err == nil && n > 0 {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("snmpd does not answer (last: %d variables, %v):\n%s", n, err, a.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// set replaces what the agent serves.
func (a *agent) set(t *testing.T, vars []agentVar) {
	t.Helper()
	sorted := append([]agentVar(nil), vars...)
	sort.Slice(sorted, func(i, j int) bool { return oidLess(sorted[i].oid, sorted[j].oid) })
	var b strings.Builder
	for _, v := range sorted {
		fmt.Fprintf(&b, "%s %s %s\n", v.oid, v.typ, v.val)
	}
	tmp := a.data + ".new"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, a.data); err != nil {
		t.Fatal(err)
	}
}

func oidLess(a, b string) bool {
	x, y := strings.Split(strings.TrimPrefix(a, "."), "."), strings.Split(strings.TrimPrefix(b, "."), ".")
	for i := 0; i < len(x) && i < len(y); i++ {
		p, _ := strconv.ParseUint(x[i], 10, 64)
		q, _ := strconv.ParseUint(y[i], 10, 64)
		if p != q {
			return p < q
		}
	}
	return len(x) < len(y)
}

func freeUDPPort(t *testing.T) uint16 {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

// lockedBuffer is a bytes.Buffer for writers on several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
