// Package lpower is the lpower command: power nodes on and off, reset or
// cycle them, read their power state or light their identify LED, through
// their BMCs over IPMI v2.0, many at once.
//
//	lpower [hosts] [-g GROUPS] [-i IFNAME] status|on|off|reset|cycle|identify|noidentify
//
// The BMC of a node is its address on interface IFNAME (default BMC); the
// credentials are its group's bmcsetup, read from the database (so they
// never appear on a command line). One line per node on stdout, sorted by
// node name: `<node>: <word>` (on/off for status, the action otherwise) or
// `<node>: error: <reason>`. The exit status is 1 when any node failed.
package lpower

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/clustervision/luna-go/internal/config"
	"github.com/clustervision/luna-go/internal/hostlist"
	"github.com/clustervision/luna-go/internal/luna"
	"github.com/clustervision/luna-go/internal/power"
	"github.com/clustervision/luna-go/internal/version"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // a node (or the whole run) failed
	exitUsage  = 2
)

// Options are lpower's command-line settings.
type Options struct {
	Groups      string        // hostlist of group names
	Interface   string        // the node interface whose address is the BMC's
	Parallel    int           // BMCs in flight at most
	Timeout     time.Duration // for each BMC
	CipherSuite int           // RMCP+ cipher suite
	Port        int           // UDP port of every BMC (hidden: tests and the benchmark)
}

// usageError is a bad command line: exit 2.
type usageError struct{ error }

// Main runs lpower with args and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	cmd, res := newCommand(stdout, stderr, getenv)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	switch {
	case err != nil: // cobra's own errors are bad command lines too
		fmt.Fprintf(stderr, "lpower: error: %s\n", oneLine(err.Error()))
		fmt.Fprintf(stderr, "usage: %s\n", cmd.UseLine())
		return exitUsage
	case res.err != nil:
		fmt.Fprintf(stderr, "lpower: error: %s\n", oneLine(res.err.Error()))
		return exitFailed
	case res.failed:
		return exitFailed
	}
	return exitOK
}

// Command is lpower's command tree with its options and help, attached to
// no streams: what internal/manpage documents.
func Command() *cobra.Command {
	cmd, _ := newCommand(io.Discard, io.Discard, os.Getenv)
	return cmd
}

// outcome is what a run of lpower's command found: a node or group that
// failed, or an error that stopped it.
type outcome struct {
	failed bool
	err    error
}

func newCommand(stdout, stderr io.Writer, getenv func(string) string) (*cobra.Command, *outcome) {
	o := Options{}
	var hosts string
	var action power.Action
	names := make([]string, len(power.Actions))
	for i, a := range power.Actions {
		names[i] = string(a)
	}
	res := &outcome{}
	cmd := &cobra.Command{
		Use:   "lpower [hosts] [--groups/-g GROUPS] [--interface/-i IFNAME] {" + strings.Join(names, ",") + "}",
		Short: "BMC power management: IPMI v2.0 power control of nodes and groups",
		Long: "lpower asks the BMCs of nodes (a hostlist such as node[001-010]) and of every node of\n" +
			"groups (-g) for their power state, powers them on or off, resets or cycles them,\n" +
			"or lights their identify LED (255 s) or switches it off. The BMC is the node's\n" +
			"address on the interface (-i, default BMC); user and password are the group's bmcsetup.",
		Args: func(_ *cobra.Command, args []string) error {
			switch {
			case len(args) == 0:
				return fmt.Errorf("the action is missing (choose from %s)", strings.Join(names, ", "))
			case len(args) > 2:
				return fmt.Errorf("too many arguments: %s", strings.Join(args[2:], " "))
			}
			return nil
		},
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 2 {
				hosts = args[0]
			}
			a, err := power.ParseAction(args[len(args)-1])
			if err != nil {
				return usageError{err}
			}
			action = a
			if o.Parallel < 1 {
				return usageError{fmt.Errorf("--parallel must be at least 1, not %d", o.Parallel)}
			}
			if o.Timeout <= 0 {
				return usageError{fmt.Errorf("--timeout must be positive, not %s", o.Timeout)}
			}
			if !power.ValidCipherSuite(o.CipherSuite) {
				return usageError{fmt.Errorf("--cipher-suite %d is not an IPMI v2.0 cipher suite (0 to 19; 3 and 17 are the usual ones)", o.CipherSuite)}
			}
			if o.Port < 1 || o.Port > 65535 {
				return usageError{fmt.Errorf("--port %d is not a UDP port", o.Port)}
			}
			res.failed, res.err = run(cmd.Context(), o, hosts, action, cmd.OutOrStdout(), stderr, getenv)
			var usage usageError
			if errors.As(res.err, &usage) {
				return res.err
			}
			return nil
		},
	}
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	f := cmd.Flags()
	f.StringVarP(&o.Groups, "groups", "g", "", "group list (hostlist syntax): every node of these groups")
	f.StringVarP(&o.Interface, "interface", "i", luna.BMCIf, "interface whose address is the node's BMC")
	f.IntVar(&o.Parallel, "parallel", 64, "BMCs to talk to at once")
	f.DurationVar(&o.Timeout, "timeout", 10*time.Second, "time allowed for each BMC (session and command)")
	f.IntVarP(&o.CipherSuite, "cipher-suite", "C", power.DefaultCipherSuite, "RMCP+ cipher suite, as ipmitool -C (3: SHA1/AES-128; 17: SHA256/AES-128)")
	f.IntVar(&o.Port, "port", power.DefaultPort, "UDP port of the BMCs")
	version.AddFlag(f)
	_ = f.MarkHidden("port")
	return cmd, res
}

// run drives the BMCs and prints one line per node; it reports whether any
// node (or group) failed, and an error when nothing could be done.
func run(ctx context.Context, o Options, hosts string, a power.Action, stdout, stderr io.Writer, getenv func(string) string) (bool, error) {
	var nodes, groups []string
	var err error
	if hosts != "" {
		if nodes, err = hostlist.Expand(hosts); err != nil {
			return false, usageError{err}
		}
	}
	if o.Groups != "" {
		if groups, err = hostlist.Expand(o.Groups); err != nil {
			return false, usageError{err}
		}
	}
	if len(nodes) == 0 && len(groups) == 0 {
		return false, nil // as 1.2: nothing asked, nothing done
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return false, fmt.Errorf("read the configuration: %w", err)
	}
	connect, err := config.ConnectTimeout(getenv, 5*time.Second)
	if err != nil {
		return false, err
	}
	svc, err := luna.Open(ctx, cfg, connect)
	if err != nil {
		return false, err
	}
	targets, unknownGroups, err := svc.PowerTargets(ctx, nodes, groups, o.Interface)
	_ = svc.Close(context.WithoutCancel(ctx))
	if err != nil {
		return false, fmt.Errorf("read the nodes: %w", err)
	}
	failed := false
	for _, g := range unknownGroups {
		fmt.Fprintf(stderr, "lpower: error: group '%s' does not exist\n", g)
		failed = true
	}

	var jobs []power.Job
	for _, t := range targets {
		if t.Reason == "" {
			jobs = append(jobs, power.Job{Node: t.Node, BMC: power.BMC{Addr: t.Addr, Port: o.Port, User: t.User, Password: t.Password}})
		}
	}
	pool := &power.Pool{Controller: &power.IPMI{CipherSuite: o.CipherSuite}, Parallel: o.Parallel, Timeout: o.Timeout}
	results := pool.Run(ctx, a, jobs)

	w := bufio.NewWriter(stdout)
	r := 0
	for _, t := range targets {
		if t.Reason != "" {
			fmt.Fprintf(w, "%s: error: %s\n", t.Node, t.Reason)
			failed = true
			continue
		}
		res := results[r]
		r++
		if res.Err != nil {
			fmt.Fprintf(w, "%s: error: %s\n", res.Node, oneLine(res.Err.Error()))
			failed = true
			continue
		}
		fmt.Fprintf(w, "%s: %s\n", res.Node, res.Word)
	}
	return failed, w.Flush()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
