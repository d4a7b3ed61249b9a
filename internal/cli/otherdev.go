package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/clustervision/luna-go/internal/luna"
)

func (a *app) otherdevCmd() *cobra.Command {
	return object("otherdev", "Other devices operations",
		a.otherdevList(), a.otherdevShow(), a.otherdevAdd(), a.otherdevChange(),
		a.renameCmd(luna.OtherDevs, luna.HostName), a.otherdevDelete())
}

// connectedCell is one line per network: "[net]:" padded to the longest
// network name + 3, then the address.
func connectedCell(conns []luna.Connection) string {
	width := 0
	for _, c := range conns {
		if len(c.Network) > width {
			width = len(c.Network)
		}
	}
	var ls []string
	for _, c := range conns {
		ls = append(ls, fmt.Sprintf("%-*s%s", width+3, "["+c.Network+"]:", c.IP))
	}
	return strings.Join(ls, "\n")
}

func (a *app) otherdevList() *cobra.Command {
	return listVerb(a, "List other devices", func(ctx context.Context, s *luna.Service) ([]luna.OtherDevView, error) {
		return s.OtherDevViews(ctx)
	}, []string{"Name", "IPs"}, func(v luna.OtherDevView) []string {
		return []string{v.Name, connectedCell(v.Connected)}
	})
}

func (a *app) otherdevShow() *cobra.Command {
	return hostlistShow[luna.OtherDevView]{
		coll: luna.OtherDevs,
		views: func(ctx context.Context, s *luna.Service, names []string) ([]luna.OtherDevView, error) {
			return s.OtherDevViews(ctx, names...)
		},
		comment: func(v luna.OtherDevView) string { return v.Comment },
		table: func(v luna.OtherDevView) (string, map[string]string, string) {
			return v.Name, map[string]string{"connected": connectedCell(v.Connected)}, v.Comment
		},
	}.command(a, "Show other device")
}

func (a *app) otherdevAdd() *cobra.Command {
	cmd := noArgs(verb("add", "Add other device"))
	f := cmd.Flags()
	f.StringP("name", "n", "", "Name of the device")
	f.StringP("network", "N", "", "Network the device is connected to")
	f.StringP("ip", "i", "", "IP of the device")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("network")
	cmd.RunE = a.run(func(ctx context.Context, s *luna.Service) error {
		expr, _ := f.GetString("name")
		names, err := expand(expr)
		if err != nil {
			return err
		}
		network, _ := f.GetString("network")
		ip, _ := f.GetString("ip")
		return s.AddOtherDevs(ctx, names, network, ip)
	})
	return cmd
}

func (a *app) otherdevChange() *cobra.Command {
	cmd := verb("change NAME", "Change other device")
	nameFlag(cmd)
	cmd.Flags().StringP("network", "N", "", "Network")
	cmd.Flags().StringP("ip", "i", "", "IP of the device in the network. Specify empty string to delete")
	cmd.Flags().BoolP("comment", "C", false, "Change comment")
	cmd.RunE = a.withName(func(ctx context.Context, s *luna.Service, cmd *cobra.Command, expr string) error {
		names, err := expand(expr)
		if err != nil {
			return err
		}
		ip := strOpt(cmd, "ip")
		if ip != nil && *ip != "" && len(names) > 1 {
			return luna.Errorf("One --ip cannot be given to %d devices", len(names))
		}
		var comment *string
		if boolOpt(cmd, "comment") {
			if err := s.Guard(ctx); err != nil { // before an editor opens
				return err
			}
			old, err := s.Text(ctx, luna.OtherDevs, names[0], luna.TextComment)
			if err != nil {
				return err
			}
			if comment, err = a.textOpt(ctx, cmd, "comment", old); err != nil {
				return err
			}
		}
		return forEach(names, func(n string) error { return s.ChangeOtherDev(ctx, n, strOpt(cmd, "network"), ip, comment) })
	})
	return cmd
}

func (a *app) otherdevDelete() *cobra.Command {
	cmd := verb("delete NAME", "Delete other device")
	nameFlag(cmd)
	cmd.RunE = a.withName(func(ctx context.Context, s *luna.Service, _ *cobra.Command, expr string) error {
		names, err := expand(expr)
		if err != nil {
			return err
		}
		for _, n := range names {
			if err := s.Exists(ctx, luna.OtherDevs, n); err != nil {
				return err
			}
		}
		return forEach(names, func(n string) error { return s.DeleteOtherDev(ctx, n) })
	})
	return cmd
}
