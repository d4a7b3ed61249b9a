package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/clustervision/luna-go/internal/luna"
	"github.com/clustervision/luna-go/internal/render"
)

func (a *app) nodeCmd() *cobra.Command {
	return object("node", "Node operations",
		a.nodeList(), a.nodeShow(), a.nodeAdd(), a.nodeChange(),
		a.renameCmd(luna.Nodes, luna.HostName), a.nodeDelete())
}

// nodeIPsCell is one line per interface with an address: "IF:" padded to
// the longest name + 1, the IPv4 address, IPv6 on the next line.
func nodeIPsCell(ifs []luna.NodeIface) string {
	w := 0
	for _, i := range ifs {
		if len(i.Name)+1 > w {
			w = len(i.Name) + 1
		}
	}
	var ls []string
	for _, i := range ifs {
		label := fmt.Sprintf("%-*s", w, i.Name+":")
		switch {
		case i.IPv4 != "" && i.IPv6 != "":
			ls = append(ls, label+i.IPv4, strings.Repeat(" ", w)+i.IPv6)
		case i.IPv4 != "":
			ls = append(ls, label+i.IPv4)
		case i.IPv6 != "":
			ls = append(ls, label+i.IPv6)
		}
	}
	return strings.Join(ls, "\n")
}

func statusCell(st *luna.NodeStatusView) string {
	if st == nil {
		return "-"
	}
	return st.Text()
}

func (a *app) nodeList() *cobra.Command {
	cmd := noArgs(verb("list", "List nodes"))
	cmd.Flags().StringP("group", "g", "", "Only the nodes of this group")
	cmd.Flags().BoolP("one-line", "1", false, "One line per node")
	outputFlag(cmd)
	cmd.RunE = a.run(func(ctx context.Context, s *luna.Service) error {
		js, err := jsonOutput(cmd)
		if err != nil {
			return err
		}
		group, _ := cmd.Flags().GetString("group")
		views, err := s.NodeViews(ctx, group, nil)
		if err != nil {
			return err
		}
		if js {
			return a.printJSON(views)
		}
		header := []string{"Name", "Group", "MAC", "IPs", "Status"}
		if boolOpt(cmd, "one-line") {
			return a.printOneLine(header, views)
		}
		rows := make([][]string, 0, len(views))
		for _, v := range views {
			rows = append(rows, []string{v.Name, bracket(v.Group), dash(v.MAC), nodeIPsCell(v.Interfaces), statusCell(v.Status)})
		}
		return a.printTable(header, rows)
	})
	return cmd
}

// printOneLine prints `node list --one-line`: the IPs of a node side by
// side, one sub-column per interface name, the separators under the header
// and at the bottom split to line up with the '|' between them.
func (a *app) printOneLine(header []string, views []luna.NodeView) error {
	names := map[string]bool{}
	for _, v := range views {
		for _, i := range v.Interfaces {
			names[i.Name] = true
		}
	}
	cols := make([]string, 0, len(names))
	for n := range names {
		cols = append(cols, n)
	}
	sort.Strings(cols)
	n4 := make([]int, len(cols)) // longest IPv4 per column
	m := make([]int, len(cols))  // longest address text per column
	for _, v := range views {
		for _, i := range v.Interfaces {
			k := sort.SearchStrings(cols, i.Name)
			n4[k] = max(n4[k], len(i.IPv4))
		}
	}
	addrText := func(k int, i luna.NodeIface) string {
		switch {
		case i.IPv4 != "" && i.IPv6 != "":
			return fmt.Sprintf("%-*s %s", n4[k], i.IPv4, i.IPv6)
		case i.IPv4 != "":
			return i.IPv4
		}
		return i.IPv6
	}
	for _, v := range views {
		for _, i := range v.Interfaces {
			k := sort.SearchStrings(cols, i.Name)
			m[k] = max(m[k], len(addrText(k, i)))
		}
	}
	rows := make([][]string, 0, len(views))
	for _, v := range views {
		have := map[string]luna.NodeIface{}
		for _, i := range v.Interfaces {
			have[i.Name] = i
		}
		parts := make([]string, len(cols))
		for k, c := range cols {
			if i, ok := have[c]; ok {
				parts[k] = fmt.Sprintf("%-*s %-*s", len(c)+1, c+":", m[k], addrText(k, i))
			} else {
				parts[k] = strings.Repeat(" ", len(c)+2+m[k])
			}
		}
		rows = append(rows, []string{v.Name, bracket(v.Group), dash(v.MAC), strings.TrimRight(strings.Join(parts, " | "), " "), statusCell(v.Status)})
	}
	var b strings.Builder
	saved := a.io.Out
	a.io.Out = &b
	err := a.printTable(header, rows)
	a.io.Out = saved
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(cols) > 1 {
		// Column 4 (IPs) of a separator starts after the first three "+---" segments.
		split := func(sep string) string {
			segs := strings.Split(sep, "+")
			// segs[0] is "" before the first '+'; IPs is segs[4].
			width := len(segs[4])
			var sub []string
			used := 0
			for k, c := range cols {
				w := len(c) + 1 + 1 + m[k] + 2 // " " + "IF:" padded + " " + address + " "
				if k == len(cols)-1 {
					w = width - used
				}
				sub = append(sub, strings.Repeat("-", w))
				used += w + 1
			}
			segs[4] = strings.Join(sub, "+")
			return strings.Join(segs, "+")
		}
		lines[2] = split(lines[2])
		lines[len(lines)-1] = split(lines[len(lines)-1])
	}
	_, err = fmt.Fprintln(a.io.Out, strings.Join(lines, "\n"))
	return err
}

func (a *app) nodeShow() *cobra.Command {
	return hostlistShow[luna.NodeView]{
		coll: luna.Nodes,
		views: func(ctx context.Context, s *luna.Service, names []string) ([]luna.NodeView, error) {
			return s.NodeViews(ctx, "", names)
		},
		comment: func(v luna.NodeView) string { return v.Comment },
		table: func(v luna.NodeView) (string, map[string]string, string) {
			fields := map[string]string{"group": bracket(v.Group), "interfaces": nodeIPsCell(v.Interfaces),
				"localboot": yesno(v.LocalBoot), "mac": dash(v.MAC), "port": dash(v.Port),
				"service": yesno(v.Service), "setupbmc": yesno(v.SetupBMC), "switch": bracket(v.Switch)}
			if v.Status != nil {
				fields["status"] = statusCell(v.Status)
			}
			return v.Name, fields, v.Comment
		},
		flags: func(cmd *cobra.Command) {
			cmd.Flags().StringP("script", "s", "", "Print the boot or install script lweb serves the node {boot,install}")
		},
		special: func(ctx context.Context, s *luna.Service, cmd *cobra.Command, names []string) (bool, error) {
			script := strOpt(cmd, "script")
			if script == nil {
				return false, nil
			}
			if *script != "boot" && *script != "install" {
				return true, usagef("argument --script/-s: invalid choice: %q (choose from 'boot', 'install')", *script)
			}
			for _, n := range names {
				if err := a.printScript(ctx, s, n, *script); err != nil {
					return true, err
				}
			}
			return true, nil
		},
	}.command(a, "Show node")
}

func (a *app) nodeAdd() *cobra.Command {
	cmd := noArgs(verb("add", "Add node"))
	cmd.Flags().StringP("name", "n", "", "Name of the node or a hostlist (default: next <nodeprefix><number>)")
	cmd.Flags().StringP("group", "g", "", "Group of the node")
	_ = cmd.MarkFlagRequired("group")
	cmd.RunE = a.run(func(ctx context.Context, s *luna.Service) error {
		var names []string
		if expr, _ := cmd.Flags().GetString("name"); cmd.Flags().Changed("name") {
			var err error
			if names, err = expand(expr); err != nil {
				return err
			}
		}
		group, _ := cmd.Flags().GetString("group")
		_, err := s.AddNodes(ctx, group, names)
		return err
	})
	return cmd
}

func (a *app) nodeChange() *cobra.Command {
	cmd := verb("change NAME", "Change node")
	nameFlag(cmd)
	f := cmd.Flags()
	f.StringP("group", "g", "", "Move the node to this group")
	pairOption(cmd, "interface", "i", "interface_ip", "Set the address of an interface: -i IF X.X.X.X")
	f.String("mac", "", "MAC address XX:XX:XX:XX:XX:XX ('' removes it)")
	f.StringP("switch", "s", "", "Switch the node is connected to ('' clears)")
	f.StringP("port", "p", "", "Switch port ('' clears)")
	f.StringP("localboot", "l", "", "Boot from the local disk {y,yes,n,no}")
	f.String("setupbmc", "", "Configure the BMC while installing {y,yes,n,no}")
	f.String("service", "", "Boot into the service (maintenance) mode {y,yes,n,no}")
	f.BoolP("comment", "C", false, "Change comment")
	alias(cmd, "--sb", "setupbmc")
	alias(cmd, "--sv", "service")
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		// Choice options in 1.2 (argparse): a bad value is a usage error.
		for _, yn := range []string{"localboot", "setupbmc", "service"} {
			if v := strOpt(cmd, yn); v != nil {
				if _, err := luna.YesNo(yn, *v); err != nil {
					return usagef("argument --%s: invalid choice: '%s' (choose from 'y', 'yes', 'n', 'no')", yn, *v)
				}
			}
		}
		return nil
	}
	cmd.RunE = a.withName(func(ctx context.Context, s *luna.Service, cmd *cobra.Command, expr string) error {
		names, err := expand(expr)
		if err != nil {
			return err
		}
		o := luna.NodeChange{Group: strOpt(cmd, "group"), MAC: strOpt(cmd, "mac"), Switch: strOpt(cmd, "switch"),
			Port: strOpt(cmd, "port"), LocalBoot: strOpt(cmd, "localboot"), SetupBMC: strOpt(cmd, "setupbmc"),
			Service: strOpt(cmd, "service")}
		if ifn := strOpt(cmd, "interface"); ifn != nil {
			if o.Group != nil {
				return usagef("argument --interface/-i: not allowed with argument --group/-g")
			}
			o.IfaceName, o.IfaceIP = *ifn, strOpt(cmd, "interface_ip")
		}
		if len(names) > 1 && (o.IfaceIP != nil || (o.MAC != nil && *o.MAC != "")) {
			return luna.Errorf("One --mac or --interface address cannot be given to %d nodes", len(names))
		}
		if boolOpt(cmd, "comment") {
			old, err := s.Text(ctx, luna.Nodes, names[0], luna.TextComment)
			if err != nil {
				return err
			}
			if o.Comment, err = a.textOpt(ctx, cmd, "comment", old); err != nil {
				return err
			}
		}
		return forEach(names, func(n string) error { return s.ChangeNode(ctx, n, o) })
	})
	return cmd
}

func (a *app) nodeDelete() *cobra.Command {
	cmd := verb("delete NAME", "Delete node")
	nameFlag(cmd)
	cmd.RunE = a.withName(func(ctx context.Context, s *luna.Service, _ *cobra.Command, expr string) error {
		names, err := expand(expr)
		if err != nil {
			return err
		}
		return s.DeleteNodes(ctx, names)
	})
	return cmd
}

// printScript prints what lweb would serve the node: its iPXE boot script
// (with the token of its current boot, if any) or its install script.
func (a *app) printScript(ctx context.Context, s *luna.Service, name, which string) error {
	c, err := s.ClusterView(ctx)
	if err != nil {
		return err
	}
	rd := &render.Renderer{Dir: filepath.Join(c.Path, "templates")}
	var body []byte
	if which == "boot" {
		p, err := s.BootParams(ctx, name)
		if err != nil {
			return err
		}
		if body, err = rd.NodeBoot("ipxe", p); err != nil {
			return err
		}
	} else {
		p, err := s.InstallParams(ctx, name)
		if err != nil {
			return err
		}
		if p.Torrent == "" {
			// As 1.2: the script is shown before the first pack, so the
			// part and post scripts can be checked early.
			fmt.Fprintf(a.io.Err, "WARNING: The osimage of node '%s' is not packed: the script has no image to download (luna osimage pack)\n", name)
		}
		if body, err = rd.InstallScript(p); err != nil {
			return err
		}
	}
	_, err = a.io.Out.Write(body)
	return err
}
