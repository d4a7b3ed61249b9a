package power

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bougou/go-ipmi/pkg/client"
	"github.com/bougou/go-ipmi/pkg/command/chassis"
	"github.com/bougou/go-ipmi/pkg/types"
)

// DefaultCipherSuite is RMCP+ cipher suite 3 (HMAC-SHA1, HMAC-SHA1-96,
// AES-CBC-128): what ipmitool uses by default on BMCs that do not offer 17,
// and what every IPMI 2.0 BMC supports.
const DefaultCipherSuite = 3

// identifySeconds is the longest identify interval IPMI allows (1.2 asked
// ipmitool for `chassis identify 255`).
const identifySeconds = 255

// IPMI drives BMCs over IPMI v2.0 (RMCP+, ipmitool's lanplus interface)
// with github.com/bougou/go-ipmi, at the Administrator privilege level.
// One session per Do: open, one command, close.
type IPMI struct {
	CipherSuite int // RMCP+ cipher suite id, as ipmitool -C
}

// ValidCipherSuite reports whether id is a cipher suite go-ipmi can speak.
func ValidCipherSuite(id int) bool {
	if id < 0 || id > 255 {
		return false
	}
	_, _, _, ok := types.GetCipherSuiteAlgorithms(types.CipherSuiteID(id))
	return ok
}

// Do opens a session with the BMC, carries out a and closes the session.
func (p *IPMI) Do(ctx context.Context, b BMC, a Action) (string, error) {
	port := b.Port
	if port == 0 {
		port = DefaultPort
	}
	c, err := client.NewClient(b.Addr, port, b.User, b.Password)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadCredentials, err)
	}
	c.WithCipherSuiteID(types.CipherSuiteID(p.CipherSuite))
	c.WithMaxPrivilegeLevel(types.PrivilegeLevelAdministrator)
	if err := c.Connect(ctx); err != nil {
		// Close also closes the UDP socket; a cancelled context keeps it
		// from waiting for a Close Session answer from a session never opened.
		done, cancel := context.WithCancel(ctx)
		cancel()
		_ = c.Close(done)
		return "", sessionError(b, p.CipherSuite, err)
	}
	defer func() {
		// Close Session is a courtesy to the BMC's session table: give it
		// a moment even when ctx is about to end, but not more.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = c.Close(cctx)
	}()
	word, err := command(ctx, c, a)
	if err != nil {
		return "", commandError(b, a, err)
	}
	return word, nil
}

func command(ctx context.Context, c *client.Client, a Action) (string, error) {
	switch a {
	case Status:
		st, err := c.GetChassisStatus(ctx)
		if err != nil {
			return "", err
		}
		if st.PowerIsOn {
			return "on", nil
		}
		return "off", nil
	case On, Off, Reset, Cycle:
		ctl := map[Action]chassis.ChassisControl{
			On: chassis.ChassisControlPowerUp, Off: chassis.ChassisControlPowerDown,
			Reset: chassis.ChassisControlHardReset, Cycle: chassis.ChassisControlPowerCycle,
		}[a]
		_, err := c.ChassisControl(ctx, ctl)
		return string(a), err
	case Identify:
		_, err := c.ChassisIdentify(ctx, identifySeconds, false)
		return string(a), err
	case NoIdentify:
		_, err := c.ChassisIdentify(ctx, 0, false)
		return string(a), err
	}
	return "", fmt.Errorf("unknown action %q", a)
}

// sessionError says why a session could not be opened. go-ipmi flattens
// the errors of the RMCP+ handshake into text (it joins the errors of every
// cipher suite it tried), so authentication failures are recognised by the
// library's own messages.
func sessionError(b BMC, suite int, err error) error {
	text := err.Error()
	has := func(s string) bool { return strings.Contains(text, s) }
	switch {
	case unreachable(err):
		return fmt.Errorf("%w: %s: %s", ErrUnreachable, b.Addr, netReason(err, b))
	case has(client.ErrRAKPAuthentication.Error()):
		// The BMC's proof of the password did not match: a wrong password,
		// or a user it does not know (most BMCs do not say which).
		return fmt.Errorf("%w: %s: wrong password or unknown user %q", ErrBadCredentials, b.Addr, b.User)
	case has(types.RmcpStatusCodeUnauthorizedName.String()):
		return fmt.Errorf("%w: %s: unknown user %q", ErrBadCredentials, b.Addr, b.User)
	case has(types.RmcpStatusCodeUnauthorizedRoleOfPriLevel.String()), has("SetSessionPrivilegeLevel"):
		return fmt.Errorf("%w: %s: user %q may not act as administrator", ErrBadCredentials, b.Addr, b.User)
	case has("Open Session failed"):
		// The BMC would not open a session with these algorithms (ipmi_sim
		// answers a bare status instead of a status code for one it lacks).
		return fmt.Errorf("%s: no session with cipher suite %d (the BMC may not offer it; see --cipher-suite): %s", b.Addr, suite, lastCause(text))
	}
	return fmt.Errorf("%s: no IPMI session: %s", b.Addr, lastCause(text))
}

func commandError(b BMC, a Action, err error) error {
	if unreachable(err) {
		return fmt.Errorf("%w: %s: %s", ErrUnreachable, b.Addr, netReason(err, b))
	}
	var re *types.ResponseError
	if errors.As(err, &re) {
		return fmt.Errorf("%s: the BMC refused %s: %s", b.Addr, a, re.Error())
	}
	return fmt.Errorf("%s: %s failed: %s", b.Addr, a, lastCause(err.Error()))
}

// unreachable reports a network-level failure: no answer, or the host or
// its IPMI port refused by ICMP.
func unreachable(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	// go-ipmi's own "nothing matched before the read deadline" is unexported.
	return strings.Contains(err.Error(), "before UDP read deadline")
}

func netReason(err error, b BMC) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		port := b.Port
		if port == 0 {
			port = DefaultPort
		}
		return "port " + strconv.Itoa(port) + "/udp closed (ICMP port unreachable)"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	}
	return "no answer"
}

// lastCause is the innermost message of go-ipmi's "...failed, err: ..."
// chains, on one line.
func lastCause(text string) string {
	text = strings.Join(strings.Fields(text), " ")
	if i := strings.LastIndex(text, "err: "); i >= 0 {
		text = text[i+len("err: "):]
	}
	return text
}
