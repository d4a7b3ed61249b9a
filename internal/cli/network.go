package cli

import (
	"context"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/clustervision/luna-go/internal/luna"
)

func (a *app) networkCmd() *cobra.Command {
	return object("network", "Network operations",
		a.networkList(), a.networkShow(), a.networkAdd(), a.networkChange(),
		a.renameCmd(luna.Networks, luna.DomainName), a.networkDelete())
}

func (a *app) networkList() *cobra.Command {
	return listVerb(a, "List networks", func(ctx context.Context, s *luna.Service) ([]luna.NetworkView, error) {
		return s.NetworkViews(ctx)
	}, []string{"Name", "Network"}, func(v luna.NetworkView) []string {
		return []string{v.Name, v.Network + "/" + strconv.Itoa(v.Prefix)}
	})
}

func (a *app) networkShow() *cobra.Command {
	cmd := verb("show NAME", "Show network")
	nameFlag(cmd)
	cmd.Flags().BoolP("raw", "R", false, "Print raw JSON of the object")
	cmd.Flags().BoolP("reservedips", "r", false, "List reserved IPs")
	cmd.Flags().BoolP("comment", "C", false, "Print comment")
	outputFlag(cmd)
	cmd.RunE = a.withName(func(ctx context.Context, s *luna.Service, cmd *cobra.Command, name string) error {
		js, err := jsonOutput(cmd)
		if err != nil {
			return err
		}
		if boolOpt(cmd, "raw") {
			raw, err := s.Raw(ctx, luna.Networks, name)
			if err != nil {
				return err
			}
			return a.println(raw)
		}
		views, err := s.NetworkViews(ctx, name)
		if err != nil {
			return err
		}
		v := views[0]
		switch {
		case boolOpt(cmd, "comment"):
			return a.println(v.Comment)
		case boolOpt(cmd, "reservedips"):
			hosts, err := s.NetworkHosts(ctx, name)
			if err != nil {
				return err
			}
			if js {
				if hosts == nil {
					hosts = []luna.HostAddr{}
				}
				return a.printJSON(hosts)
			}
			for _, h := range hosts {
				if err := a.println(h.IP + ":" + h.Name); err != nil {
					return err
				}
			}
			return nil
		}
		if js {
			return a.printJSON(v)
		}
		return a.printShow(v.Name, map[string]string{
			"NETWORK": v.Network, "PREFIX": strconv.Itoa(v.Prefix), "include": dash(v.Include),
			"ns_hostname": v.NSHostname, "ns_ip": dash(v.NSIP), "rev_include": dash(v.RevInclude),
			"version": strconv.Itoa(v.Version),
		}, v.Comment)
	})
	return cmd
}

func (a *app) networkAdd() *cobra.Command {
	cmd := noArgs(verb("add", "Add network"))
	f := cmd.Flags()
	f.StringP("name", "n", "", "Name of the network")
	f.StringP("network", "N", "", "Network address N.N.N.N")
	f.IntP("prefix", "P", 0, "Prefix length PP")
	f.String("ns_hostname", "", "Name server host name")
	f.String("ns_ip", "", "Name server IP (default: the last address of the network)")
	for _, r := range []string{"name", "network", "prefix"} {
		_ = cmd.MarkFlagRequired(r)
	}
	cmd.RunE = a.run(func(ctx context.Context, s *luna.Service) error {
		o := luna.NetworkAdd{}
		o.Name, _ = f.GetString("name")
		o.Network, _ = f.GetString("network")
		o.Prefix, _ = f.GetInt("prefix")
		o.NSHostname, _ = f.GetString("ns_hostname")
		o.NSIP, _ = f.GetString("ns_ip")
		return s.AddNetwork(ctx, o)
	})
	return cmd
}

func (a *app) networkChange() *cobra.Command {
	cmd := verb("change NAME", "Change network")
	nameFlag(cmd)
	f := cmd.Flags()
	f.StringP("network", "N", "", "New network address N.N.N.N (addresses keep their offsets)")
	f.IntP("prefix", "P", 0, "New prefix length")
	f.StringP("reserve", "R", "", "Reserve IP X.X.X.X")
	f.String("release", "", "Release a reserved IP X.X.X.X")
	f.String("ns_hostname", "", "Name server host name")
	f.String("ns_ip", "", "Name server IP")
	f.Bool("include", false, "Edit the text included in the forward zone")
	f.Bool("rev_include", false, "Edit the text included in the reverse zone")
	f.BoolP("comment", "C", false, "Change comment")
	cmd.RunE = a.withName(func(ctx context.Context, s *luna.Service, cmd *cobra.Command, name string) error {
		var texts []string
		for _, t := range []string{"include", "rev_include", "comment"} {
			if boolOpt(cmd, t) {
				texts = append(texts, t)
			}
		}
		if len(texts) > 1 {
			return luna.Failf("Only one element can be edited")
		}
		o := luna.NetworkChange{Network: strOpt(cmd, "network"), Prefix: intOpt(cmd, "prefix"),
			Reserve: strOpt(cmd, "reserve"), Release: strOpt(cmd, "release"),
			NSHostname: strOpt(cmd, "ns_hostname"), NSIP: strOpt(cmd, "ns_ip")}
		if len(texts) == 1 {
			if err := s.Guard(ctx); err != nil { // before an editor opens
				return err
			}
			old, err := s.Text(ctx, luna.Networks, name, texts[0]) // include, rev_include or comment
			if err != nil {
				return err
			}
			v, err := a.editText(ctx, old)
			if err != nil {
				return err
			}
			switch texts[0] {
			case "include":
				o.Include = &v
			case "rev_include":
				o.RevInclude = &v
			default:
				o.Comment = &v
			}
		}
		return s.ChangeNetwork(ctx, name, o)
	})
	return cmd
}

func (a *app) networkDelete() *cobra.Command {
	cmd := verb("delete NAME", "Delete network")
	nameFlag(cmd)
	cmd.RunE = a.withName(func(ctx context.Context, s *luna.Service, _ *cobra.Command, name string) error {
		return s.DeleteNetwork(ctx, name)
	})
	return cmd
}

// renameCmd is the generic `rename NAME --newname NEW`.
func (a *app) renameCmd(coll, kind string) *cobra.Command {
	cmd := verb("rename NAME", "Rename "+coll)
	nameFlag(cmd)
	cmd.Flags().String("newname", "", "New name")
	alias(cmd, "--nn", "newname")
	_ = cmd.MarkFlagRequired("newname")
	cmd.RunE = a.withName(func(ctx context.Context, s *luna.Service, cmd *cobra.Command, name string) error {
		nn, _ := cmd.Flags().GetString("newname")
		return s.Rename(ctx, coll, kind, name, nn)
	})
	return cmd
}
