package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/clustervision/luna-go/internal/hostlist"
	"github.com/clustervision/luna-go/internal/luna"
)

func (a *app) switchCmd() *cobra.Command {
	return object("switch", "Switch operations",
		a.switchList(), a.switchShow(), a.switchAdd(), a.switchChange(),
		a.renameCmd(luna.Switches, luna.HostName), a.switchDelete())
}

// expand is hostlist expansion of a name argument, as a runtime error.
func expand(expr string) ([]string, error) {
	names, err := hostlist.Expand(expr)
	if err != nil {
		return nil, luna.Errorf("%s", err.Error())
	}
	return names, nil
}

func (a *app) switchList() *cobra.Command {
	return listVerb(a, "List switches", func(ctx context.Context, s *luna.Service) ([]luna.SwitchView, error) {
		return s.SwitchViews(ctx)
	}, []string{"Name", "IP"}, func(v luna.SwitchView) []string { return []string{v.Name, v.IP} })
}

func (a *app) switchShow() *cobra.Command {
	return hostlistShow[luna.SwitchView]{
		coll: luna.Switches,
		views: func(ctx context.Context, s *luna.Service, names []string) ([]luna.SwitchView, error) {
			return s.SwitchViews(ctx, names...)
		},
		comment: func(v luna.SwitchView) string { return v.Comment },
		table: func(v luna.SwitchView) (string, map[string]string, string) {
			return v.Name, map[string]string{"ip": v.IP, "network": "[" + v.Network + "]",
				"oid": v.OID, "read": v.Read, "rw": v.RW}, v.Comment
		},
	}.command(a, "Show switch")
}

func switchFlags(cmd *cobra.Command, defaults bool) {
	f := cmd.Flags()
	f.StringP("network", "N", "", "Network the switch is in")
	f.StringP("ip", "i", "", "IP of the switch")
	read, rw, oid := "", "", ""
	if defaults {
		read, rw, oid = "public", "private", luna.DefaultSwitchOID
	}
	f.StringP("read", "r", read, "SNMP read community")
	f.StringP("rw", "w", rw, "SNMP write community")
	f.StringP("oid", "o", oid, "SNMP OID of the forwarding table")
}

func switchOpts(cmd *cobra.Command) luna.SwitchOpts {
	return luna.SwitchOpts{Network: strOpt(cmd, "network"), IP: strOpt(cmd, "ip"),
		Read: strOpt(cmd, "read"), RW: strOpt(cmd, "rw"), OID: strOpt(cmd, "oid")}
}

func (a *app) switchAdd() *cobra.Command {
	cmd := noArgs(verb("add", "Add switch"))
	cmd.Flags().StringP("name", "n", "", "Name of the switch")
	switchFlags(cmd, true)
	for _, r := range []string{"name", "network", "ip"} {
		_ = cmd.MarkFlagRequired(r)
	}
	cmd.RunE = a.run(func(ctx context.Context, s *luna.Service) error {
		expr, _ := cmd.Flags().GetString("name")
		names, err := expand(expr)
		if err != nil {
			return err
		}
		return s.AddSwitches(ctx, names, switchOpts(cmd))
	})
	return cmd
}

func (a *app) switchChange() *cobra.Command {
	cmd := verb("change NAME", "Change switch")
	nameFlag(cmd)
	switchFlags(cmd, false)
	cmd.Flags().BoolP("comment", "C", false, "Change comment")
	cmd.RunE = a.withName(func(ctx context.Context, s *luna.Service, cmd *cobra.Command, expr string) error {
		names, err := expand(expr)
		if err != nil {
			return err
		}
		o := switchOpts(cmd)
		if o.IP != nil && len(names) > 1 {
			return luna.Errorf("One --ip cannot be given to %d switches", len(names))
		}
		if boolOpt(cmd, "comment") {
			if err := s.Guard(ctx); err != nil { // before an editor opens
				return err
			}
			old, err := s.Text(ctx, luna.Switches, names[0], luna.TextComment)
			if err != nil {
				return err
			}
			if o.Comment, err = a.textOpt(ctx, cmd, "comment", old); err != nil {
				return err
			}
		}
		return forEach(names, func(n string) error { return s.ChangeSwitch(ctx, n, o) })
	})
	return cmd
}

func (a *app) switchDelete() *cobra.Command {
	cmd := verb("delete NAME", "Delete switch")
	nameFlag(cmd)
	cmd.RunE = a.withName(func(ctx context.Context, s *luna.Service, _ *cobra.Command, expr string) error {
		names, err := expand(expr)
		if err != nil {
			return err
		}
		for _, n := range names { // every name must exist before any is deleted
			if err := s.Exists(ctx, luna.Switches, n); err != nil {
				return err
			}
		}
		return forEach(names, func(n string) error { return s.DeleteSwitch(ctx, n) })
	})
	return cmd
}

// forEach applies fn to every name, continues past failures and reports
// them together, so one bad name in a hostlist does not hide the others.
func forEach(names []string, fn func(string) error) error {
	var msgs []string
	var first error
	for _, n := range names {
		if err := fn(n); err != nil {
			if first == nil {
				first = err
			}
			msgs = append(msgs, err.Error())
		}
	}
	if first == nil {
		return nil
	}
	if len(msgs) == 1 {
		return first
	}
	var kind error // the first failure's, for the exit code
	if le := (*luna.Error)(nil); errors.As(first, &le) {
		kind = le.Kind
	}
	return &luna.Error{Kind: kind, Msg: fmt.Sprintf("%d of %d failed: %s", len(msgs), len(names), strings.Join(msgs, "; "))}
}
