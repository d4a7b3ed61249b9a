package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/clustervision/luna-go/internal/luna"
)

func (a *app) groupCmd() *cobra.Command {
	return object("group", "Group operations",
		a.groupList(), a.groupShow(), a.groupAdd(), a.groupChange(), a.groupClone(),
		a.renameCmd(luna.Groups, luna.ObjectName), a.groupDelete())
}

// ifacesCell is the 1.2 interfaces cell: "[IF]:" padded to the longest
// name + 3, then "[net]:NETWORK/PREFIX", IPv6 on its own line.
func ifacesCell(ifs []luna.IfaceView) string {
	ifs = append([]luna.IfaceView(nil), ifs...)
	sort.Slice(ifs, func(i, j int) bool { return ifs[i].Name < ifs[j].Name })
	w := 0
	for _, i := range ifs {
		if len(i.Name)+3 > w {
			w = len(i.Name) + 3
		}
	}
	var ls []string
	for _, i := range ifs {
		label := fmt.Sprintf("%-*s", w, "["+i.Name+"]:")
		var nets []string
		if i.Network4 != "" {
			nets = append(nets, "["+i.Network4+"]:"+i.Net4)
		}
		if i.Network6 != "" {
			nets = append(nets, "["+i.Network6+"]:"+i.Net6)
		}
		if len(nets) == 0 {
			nets = []string{"-"}
		}
		ls = append(ls, label+nets[0])
		for _, n := range nets[1:] {
			ls = append(ls, strings.Repeat(" ", w)+n)
		}
	}
	return strings.Join(ls, "\n")
}

func bracket(s string) string {
	if s == "" {
		return "-"
	}
	return "[" + s + "]"
}

func (a *app) groupList() *cobra.Command {
	return listVerb(a, "List groups", func(ctx context.Context, s *luna.Service) ([]luna.GroupView, error) {
		return s.GroupViews(ctx)
	}, []string{"Name", "Osimage", "Interfaces"}, func(v luna.GroupView) []string {
		return []string{v.Name, bracket(v.OSImage), ifacesCell(v.Interfaces)}
	})
}

func (a *app) groupShow() *cobra.Command {
	cmd := verb("show NAME", "Show group")
	nameFlag(cmd)
	f := cmd.Flags()
	f.BoolP("raw", "R", false, "Print raw JSON of the object")
	f.BoolP("osimage", "o", false, "Print osimage")
	f.Bool("prescript", false, "Print prescript")
	f.Bool("postscript", false, "Print postscript")
	f.Bool("partscript", false, "Print partscript")
	f.BoolP("bmcsetup", "b", false, "Print bmcsetup")
	f.StringP("interface", "i", "", "Print the configuration of an interface")
	f.BoolP("comment", "C", false, "Print comment")
	f.String("output", "table", "Output format: table or json (-o is --osimage here, as in 1.2)")
	alias(cmd, "--pre", "prescript")
	alias(cmd, "--post", "postscript")
	alias(cmd, "--part", "partscript")
	cmd.RunE = a.withName(func(ctx context.Context, s *luna.Service, cmd *cobra.Command, name string) error {
		js, err := jsonOutput(cmd)
		if err != nil {
			return err
		}
		n := 0
		for _, fl := range []string{"raw", "osimage", "prescript", "postscript", "partscript", "bmcsetup", "interface", "comment"} {
			if cmd.Flags().Changed(fl) {
				n++
			}
		}
		if n > 1 {
			return usagef("only one of --raw, --osimage, --prescript, --postscript, --partscript, --bmcsetup, --interface, --comment may be given")
		}
		if boolOpt(cmd, "raw") {
			raw, err := s.Raw(ctx, luna.Groups, name)
			if err != nil {
				return err
			}
			return a.println(raw)
		}
		views, err := s.GroupViews(ctx, name)
		if err != nil {
			return err
		}
		v := views[0]
		switch {
		case boolOpt(cmd, "osimage"):
			return a.println(bracket(v.OSImage))
		case boolOpt(cmd, "bmcsetup"):
			return a.println(bracket(v.BMCSetup))
		case boolOpt(cmd, "prescript"):
			return a.println(v.PreScript)
		case boolOpt(cmd, "postscript"):
			return a.println(v.PostScript)
		case boolOpt(cmd, "partscript"):
			return a.println(v.PartScript)
		case boolOpt(cmd, "comment"):
			return a.println(v.Comment)
		case cmd.Flags().Changed("interface"):
			ifName, _ := cmd.Flags().GetString("interface")
			for _, i := range v.Interfaces {
				if i.Name == ifName {
					if js {
						return a.printJSON(i)
					}
					return a.printShow(i.Name, map[string]string{
						"network4": netCell(i.Network4, i.Net4), "netmask4": dash(i.Netmask4),
						"network6": netCell(i.Network6, i.Net6), "params": dash(i.Params),
					}, "")
				}
			}
			return luna.Failf("Interface '%s' does not exist", ifName)
		case js:
			return a.printJSON(v)
		}
		return a.printShow(v.Name, map[string]string{
			"bmcsetup": bracket(v.BMCSetup), "domain": bracket(v.Domain), "interfaces": ifacesCell(v.Interfaces),
			"osimage": bracket(v.OSImage), "partscript": v.PartScript, "postscript": v.PostScript,
			"prescript": v.PreScript, "torrent_if": dash(v.TorrentIf),
		}, v.Comment)
	})
	return cmd
}

func netCell(name, net string) string {
	if name == "" {
		return "-"
	}
	return "[" + name + "]:" + net
}

func (a *app) groupAdd() *cobra.Command {
	cmd := noArgs(verb("add", "Add group"))
	f := cmd.Flags()
	f.StringP("name", "n", "", "Name of the group")
	f.StringP("osimage", "o", "", "Osimage of the group")
	f.StringP("bmcsetup", "b", "", "BMC configuration")
	f.String("bmcnetwork", "", "Network of the BMC interface")
	f.StringP("network", "N", "", "Network of the boot interface (BOOTIF)")
	alias(cmd, "-bn", "bmcnetwork")
	for _, r := range []string{"name", "osimage", "network"} {
		_ = cmd.MarkFlagRequired(r)
	}
	cmd.RunE = a.run(func(ctx context.Context, s *luna.Service) error {
		o := luna.GroupAdd{}
		o.Name, _ = f.GetString("name")
		o.OSImage, _ = f.GetString("osimage")
		o.BMCSetup, _ = f.GetString("bmcsetup")
		o.BMCNetwork, _ = f.GetString("bmcnetwork")
		o.Network, _ = f.GetString("network")
		return s.AddGroup(ctx, o)
	})
	return cmd
}

func (a *app) groupChange() *cobra.Command {
	cmd := verb("change NAME", "Change group")
	nameFlag(cmd)
	f := cmd.Flags()
	f.StringP("osimage", "o", "", "Osimage of the group")
	f.StringP("domain", "d", "", "Network used as the nodes' domain ('' clears)")
	f.Bool("prescript", false, "Edit the script run before partitioning")
	f.Bool("postscript", false, "Edit the script run after unpacking the image")
	f.Bool("partscript", false, "Edit the partitioning script")
	f.StringP("bmcsetup", "b", "", "BMC configuration ('' clears)")
	f.String("torrent_if", "", "Interface used for BitTorrent ('' clears)")
	f.StringP("interface", "i", "", "Interface to act on with --add, --delete, --setnet, --delnet, --rename or --edit")
	f.BoolP("add", "A", false, "Add the interface")
	f.BoolP("delete", "D", false, "Delete the interface")
	f.String("setnet", "", "Put the interface in NETWORK, giving every node an address")
	f.String("delnet", "", "Take the interface out of [NETWORK], releasing the nodes' addresses")
	f.BoolP("edit", "e", false, "Edit the interface's parameters (ifcfg lines)")
	f.String("rename", "", "New name of the interface")
	f.BoolP("comment", "C", false, "Change comment")
	// 1.2's `group add -bn NET` typed here: refused with a hint, with or without NET.
	f.String("bmcnetwork", "", "Not an option of group change")
	_ = f.MarkHidden("bmcnetwork")
	optionalValue(cmd, "delnet")
	optionalValue(cmd, "bmcnetwork")
	for sp, long := range map[string]string{"--pre": "prescript", "--post": "postscript", "--part": "partscript",
		"--ti": "torrent_if", "--sn": "setnet", "--dn": "delnet", "--nn": "rename", "-bn": "bmcnetwork"} {
		alias(cmd, sp, long)
	}
	// Refused before the database is asked: a command-line error.
	cmd.PreRunE = func(cmd *cobra.Command, args []string) error {
		if !cmd.Flags().Changed("bmcnetwork") {
			return nil
		}
		name, err := objectName(cmd, args)
		if err != nil {
			return err
		}
		// The network it was meant for: its value (-bn ipmi), else
		// --setnet's (the 1.2 README's --bmcnetwork --setnet ipmi).
		network := "NETWORK"
		if v, _ := cmd.Flags().GetString("bmcnetwork"); strings.TrimSpace(v) != "" {
			network = strings.TrimSpace(v)
		} else if v := strOpt(cmd, "setnet"); v != nil && *v != "" {
			network = *v
		}
		return usagef("--bmcnetwork is an option of group add only: type 'luna group change %s -i BMC -A', then 'luna group change %s -i BMC --setnet %s'", name, name, network)

	}
	cmd.RunE = a.withName(func(ctx context.Context, s *luna.Service, cmd *cobra.Command, name string) error {
		var texts []string
		for _, t := range []string{"prescript", "postscript", "partscript", "comment"} {
			if boolOpt(cmd, t) {
				texts = append(texts, t)
			}
		}
		ifName := strOpt(cmd, "interface")
		if len(texts) > 1 || (len(texts) == 1 && ifName != nil) {
			return luna.Failf("Only one element can be edited")
		}
		if err := s.Exists(ctx, luna.Groups, name); err != nil {
			return err
		}
		if ifName != nil {
			op := luna.IfaceOp{Iface: *ifName, Add: boolOpt(cmd, "add"), Delete: boolOpt(cmd, "delete"),
				SetNet: strOpt(cmd, "setnet"), Rename: strOpt(cmd, "rename")}
			if dn := strOpt(cmd, "delnet"); dn != nil {
				v := strings.TrimSpace(*dn)
				op.DelNet = &v
			}
			actions := 0
			for _, on := range []bool{op.Add, op.Delete, op.SetNet != nil, op.DelNet != nil, op.Rename != nil, boolOpt(cmd, "edit")} {
				if on {
					actions++
				}
			}
			if actions > 1 {
				return luna.Failf("Only one action for an interface can be given")
			}
			if boolOpt(cmd, "edit") {
				old, err := s.InterfaceParams(ctx, name, *ifName)
				if err != nil {
					return err
				}
				v, err := a.editText(ctx, old)
				if err != nil {
					return err
				}
				op.Params = &v
			}
			return s.ChangeGroupInterface(ctx, name, op)
		}
		for _, fl := range []string{"add", "delete", "setnet", "delnet", "rename", "edit"} {
			// --edit also goes with a text option (the man page's `--pre -e`).
			if cmd.Flags().Changed(fl) && (fl != "edit" || len(texts) == 0) {
				return usagef("--%s needs --interface", fl)
			}
		}
		o := luna.GroupChange{OSImage: strOpt(cmd, "osimage"), Domain: strOpt(cmd, "domain"),
			BMCSetup: strOpt(cmd, "bmcsetup"), TorrentIf: strOpt(cmd, "torrent_if")}
		if len(texts) == 1 {
			old, err := s.Text(ctx, luna.Groups, name, texts[0]) // prescript, postscript, partscript or comment
			if err != nil {
				return err
			}
			v, err := a.editText(ctx, old)
			if err != nil {
				return err
			}
			switch texts[0] {
			case "prescript":
				o.PreScript = &v
			case "postscript":
				o.PostScript = &v
			case "partscript":
				o.PartScript = &v
			default:
				o.Comment = &v
			}
		}
		return s.ChangeGroup(ctx, name, o)
	})
	return cmd
}

func (a *app) groupClone() *cobra.Command {
	cmd := verb("clone NAME", "Clone group")
	nameFlag(cmd)
	cmd.Flags().StringP("to", "t", "", "Name of the new group")
	_ = cmd.MarkFlagRequired("to")
	cmd.RunE = a.withName(func(ctx context.Context, s *luna.Service, cmd *cobra.Command, name string) error {
		to, _ := cmd.Flags().GetString("to")
		return s.CloneGroup(ctx, name, to)
	})
	return cmd
}

func (a *app) groupDelete() *cobra.Command {
	cmd := verb("delete NAME", "Delete group")
	nameFlag(cmd)
	cmd.RunE = a.withName(func(ctx context.Context, s *luna.Service, _ *cobra.Command, name string) error {
		return s.DeleteGroup(ctx, name)
	})
	return cmd
}
