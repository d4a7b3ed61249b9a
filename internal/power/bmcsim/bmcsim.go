// Package bmcsim runs real BMC simulators on loopback addresses for the
// tests and the benchmark of lpower: go-ipmi's reference BMC in this
// process (GoBMC) and OpenIPMI's ipmi_sim as a child process (IPMISim).
// Both speak IPMI v2.0 over UDP to any client (lpower, ipmitool), and both
// let the caller read back, on the simulator's side, what the client did.
package bmcsim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bougou/go-ipmi/pkg/bmc"
	"github.com/bougou/go-ipmi/pkg/clock"
	"github.com/bougou/go-ipmi/pkg/hal"
	"github.com/bougou/go-ipmi/pkg/hal/mock"
	"github.com/bougou/go-ipmi/pkg/server"
	"github.com/bougou/go-ipmi/pkg/transport/udp"
)

// GoBMC is go-ipmi's reference BMC (pkg/server) with an in-memory chassis
// that records what it was asked to do.
type GoBMC struct {
	Addr    string // the UDP address it listens on
	chassis *chassis
	srv     *server.Server
	cancel  context.CancelFunc
	done    chan struct{}
}

// chassis is go-ipmi's mock chassis with its power, reset and identify
// actions recorded.
type chassis struct {
	*mock.Chassis
	mu    sync.Mutex
	on    bool
	calls []string
}

func (c *chassis) record(call string) {
	c.calls = append(c.calls, call)
}

func (c *chassis) PowerState(context.Context) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.on, nil
}

func (c *chassis) SetPower(_ context.Context, on bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on = on
	c.record(map[bool]string{true: "on", false: "off"}[on])
	return nil
}

func (c *chassis) PowerCycle(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.record("cycle")
	c.on = true
	return nil
}

func (c *chassis) ColdReset(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.record("reset")
	return nil
}

func (c *chassis) Identify(_ context.Context, seconds uint8) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.record("identify " + strconv.Itoa(int(seconds)))
	return nil
}

// simHAL is go-ipmi's mock hardware with the recording chassis.
type simHAL struct {
	*mock.HAL
	ch *chassis
}

func (h simHAL) Chassis() hal.ChassisHAL { return h.ch }

// StartGoBMC listens on addr (host:port) with one administrator, user id 2.
func StartGoBMC(addr, user, password string) (*GoBMC, error) {
	conn, err := udp.Listen(addr)
	if err != nil {
		return nil, err
	}
	return serveGoBMC(conn, user, password)
}

func serveGoBMC(conn *udp.Conn, user, password string) (*GoBMC, error) {
	m := mock.New()
	h := simHAL{HAL: m, ch: &chassis{Chassis: m.Chassis().(*mock.Chassis)}}
	info := bmc.DeviceInfo{DeviceID: 0x20, DeviceRevision: 1, FirmwareMajor: 1, IPMIVersion: 0x20, ManufacturerID: 0x1291, ProductID: 1}
	var guid [16]byte
	copy(guid[:], "luna-go bmcsim")
	b := bmc.New(info, guid, h, bmc.WithClock(clock.Real))
	u, err := b.Users.Add(2, user)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	u.SetPassword([]byte(password))
	u.Enabled = true
	u.ChannelAccess[1] = bmc.UserChannelAccess{MaxPrivilege: bmc.PrivilegeLevelAdministrator, Enabled: true}
	ctx, cancel := context.WithCancel(context.Background())
	s := &GoBMC{Addr: conn.LocalAddr().String(), chassis: h.ch, srv: server.NewServer(b, conn),
		cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ctx)
	}()
	return s, nil
}

// Close stops the BMC and frees its port.
func (s *GoBMC) Close() {
	s.cancel()
	_ = s.srv.Close()
	<-s.done
}

// On is the simulated chassis power state.
func (s *GoBMC) On() bool {
	on, _ := s.chassis.PowerState(context.Background())
	return on
}

// SetOn sets the chassis power state directly (as a person at the machine
// would), without recording a call.
func (s *GoBMC) SetOn(on bool) {
	s.chassis.mu.Lock()
	defer s.chassis.mu.Unlock()
	s.chassis.on = on
}

// Calls are the chassis actions the BMC carried out, in order: on, off,
// cycle, reset, identify SECONDS.
func (s *GoBMC) Calls() []string {
	s.chassis.mu.Lock()
	defer s.chassis.mu.Unlock()
	return append([]string(nil), s.chassis.calls...)
}

// StartGoBMCs starts one GoBMC on each host, all on the same UDP port: the
// port given, or when port is 0 one that is free on every host.
func StartGoBMCs(hosts []string, port int, user, password string) ([]*GoBMC, int, error) {
	for attempt := 0; ; attempt++ {
		sims, p, err := startAll(hosts, port, user, password)
		if err == nil || port != 0 || attempt == 20 || !errors.Is(err, syscall.EADDRINUSE) {
			return sims, p, err
		}
	}
}

func startAll(hosts []string, port int, user, password string) ([]*GoBMC, int, error) {
	sims := make([]*GoBMC, 0, len(hosts))
	fail := func(err error) ([]*GoBMC, int, error) {
		for _, s := range sims {
			s.Close()
		}
		return nil, 0, err
	}
	for _, h := range hosts {
		conn, err := udp.Listen(net.JoinHostPort(h, strconv.Itoa(port)))
		if err != nil {
			return fail(err)
		}
		if port == 0 {
			port = conn.LocalAddr().(*net.UDPAddr).Port
		}
		s, err := serveGoBMC(conn, user, password)
		if err != nil {
			return fail(err)
		}
		sims = append(sims, s)
	}
	return sims, port, nil
}

// IPMISim is OpenIPMI's ipmi_sim serving one BMC. Its chassis is a shell
// script ipmi_sim runs for every power query and change: the power state
// lives in a file, and every call is appended to a log.
type IPMISim struct {
	Addr string
	dir  string
	cmd  *exec.Cmd
	out  *os.File
}

// chassisScript answers ipmi_sim's chassis_control calls: `MC get PARAM...`
// prints PARAM:VALUE lines, `MC set PARAM VALUE...` stores power changes.
const chassisScript = `#!/bin/sh
dir=$(dirname "$0")
echo "$*" >> "$dir/calls"
shift
op=$1
shift
case $op in
get)
	for p in "$@"; do
		case $p in
		power) echo "power:$(cat "$dir/power" 2>/dev/null || echo 0)" ;;
		*) echo "$p:0" ;;
		esac
	done ;;
set)
	while [ $# -gt 1 ]; do
		if [ "$1" = power ]; then echo "$2" > "$dir/power"; fi
		shift 2
	done ;;
esac
`

// StartIPMISim runs ipmi_sim in dir (which it fills) on host:port with one
// administrator, user id 2, and cipher suite 3 (ipmi_sim 2.0.33 has no 17).
// It returns once the simulator answers.
func StartIPMISim(ctx context.Context, dir, host string, port int, user, password string) (*IPMISim, error) {
	bin, err := exec.LookPath("ipmi_sim")
	if err != nil {
		return nil, errors.New("ipmi_sim not found: install Debian's openipmi package (make deps)")
	}
	for _, w := range []string{user, password} {
		if strings.ContainsAny(w, "\"\\ \t\n") {
			return nil, fmt.Errorf("ipmi_sim: user and password must be plain words, not %q", w)
		}
	}
	conf := fmt.Sprintf(`name "lunasim"
set_working_mc 0x20
  startlan 1
    addr %s %d
    priv_limit admin
    allowed_auths_admin md5
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "%s 0x20"
  user 2 true "%s" "%s" admin 10 md5
`, host, port, filepath.Join(dir, "chassis"), user, password)
	emu := "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 0x09 0x08 0x9f 0x1291 0xf02\nmc_enable 0x20\n"
	files := []struct {
		name, text string
		mode       os.FileMode
	}{{"lan.conf", conf, 0o644}, {"sim.emu", emu, 0o644}, {"chassis", chassisScript, 0o755}, {"power", "0\n", 0o644}}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), []byte(f.text), f.mode); err != nil {
			return nil, err
		}
	}
	out, err := os.Create(filepath.Join(dir, "ipmi_sim.out"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-n", "-c", filepath.Join(dir, "lan.conf"), "-f", filepath.Join(dir, "sim.emu"), "-s", filepath.Join(dir, "state"))
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Stdin = nil
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start ipmi_sim: %w", err)
	}
	s := &IPMISim{Addr: net.JoinHostPort(host, strconv.Itoa(port)), dir: dir, cmd: cmd, out: out}
	if err := s.waitReady(ctx); err != nil {
		s.Close()
		log, _ := os.ReadFile(out.Name())
		return nil, fmt.Errorf("ipmi_sim on %s: %w: %s", s.Addr, err, strings.TrimSpace(string(log)))
	}
	return s, nil
}

// waitReady sends RMCP presence pings (ASF) until one is answered.
func (s *IPMISim) waitReady(ctx context.Context) error {
	conn, err := net.Dial("udp", s.Addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	ping := []byte{0x06, 0x00, 0xff, 0x06, 0x00, 0x00, 0x11, 0xbe, 0x80, 0x00, 0x00, 0x00}
	buf := make([]byte, 64)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		_, _ = conn.Write(ping)
		_ = conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, err := conn.Read(buf); err == nil && n > 0 {
			return nil
		}
		if !s.alive() {
			return errors.New("ipmi_sim exited")
		}
	}
	return errors.New("no answer to an RMCP ping within 10s")
}

func (s *IPMISim) alive() bool { return s.cmd.Process.Signal(syscall.Signal(0)) == nil }

// Power is the chassis power state as the simulator's chassis holds it.
func (s *IPMISim) Power() (bool, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, "power"))
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(string(b)) == "1", nil
}

// SetPower sets the chassis power state directly.
func (s *IPMISim) SetPower(on bool) error {
	v := "0\n"
	if on {
		v = "1\n"
	}
	return os.WriteFile(filepath.Join(s.dir, "power"), []byte(v), 0o644)
}

// ChassisCalls are the chassis changes ipmi_sim made, in order, such as
// "set power 1" (queries left out).
func (s *IPMISim) ChassisCalls() ([]string, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, "calls"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[1] == "set" {
			out = append(out, strings.Join(f[1:], " "))
		}
	}
	return out, nil
}

// Close stops ipmi_sim.
func (s *IPMISim) Close() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.out.Close()
}
