package cli

import (
	"context"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/clustervision/luna-go/internal/bootnet"
	"github.com/clustervision/luna-go/internal/luna"
)

func (a *app) clusterCmd() *cobra.Command {
	return object("cluster", "Basic cluster operations",
		a.clusterInit(), a.clusterShow(), a.clusterChange(), a.clusterDelete(), a.clusterListMACs(),
		a.clusterMakeDHCP(), a.clusterMakeDNS(), a.clusterSync())
}

func (a *app) clusterInit() *cobra.Command {
	cmd := noArgs(verb("init", "Initialize cluster"))
	f := cmd.Flags()
	f.String("frontend_address", "", "Address of the controller's provisioning interface")
	f.String("nodeprefix", "node", "Prefix for new nodes")
	f.Int("nodedigits", 3, "Zero-autopadding")
	f.String("user", "luna", "Username to run services as")
	f.String("path", "/opt/luna", "Path to store files")
	_ = cmd.MarkFlagRequired("frontend_address")
	cmd.RunE = a.run(func(ctx context.Context, s *luna.Service) error {
		o := luna.ClusterInit{}
		o.FrontendAddress, _ = f.GetString("frontend_address")
		o.NodePrefix, _ = f.GetString("nodeprefix")
		o.NodeDigits, _ = f.GetInt("nodedigits")
		o.User, _ = f.GetString("user")
		o.Path, _ = f.GetString("path")
		return s.InitCluster(ctx, o)
	})
	return cmd
}

// clusterFields are the rows of `cluster show`, empty values as "-".
func (a *app) clusterFields(c *luna.ClusterView) map[string]string {
	itoa := strconv.Itoa
	m := map[string]string{
		"nodeprefix": c.NodePrefix, "nodedigits": itoa(c.NodeDigits), "user": c.User, "path": c.Path,
		"debug": itoa(c.Debug), "cluster_ips": c.ClusterIPs, "frontend_address": c.FrontendAddress,
		"frontend_port": itoa(c.FrontendPort), "frontend_https": yesno(c.FrontendHTTPS), "insecure_install": yesno(c.InsecureInstall),
		"allow_rebind": yesno(c.AllowRebind),
		"https_cert":   c.HTTPSCert, "https_key": c.HTTPSKey,
		"server_port": itoa(c.ServerPort), "tracker_interval": itoa(c.TrackerInterval),
		"tracker_min_interval": itoa(c.TrackerMinInterval), "tracker_maxpeers": itoa(c.TrackerMaxPeers),
		"torrent_listen_port_min": itoa(c.TorrentListenPortMin), "torrent_listen_port_max": itoa(c.TorrentListenPortMax),
		"torrent_pidfile": c.TorrentPidfile, "lweb_num_proc": itoa(c.LwebNumProc), "lweb_pidfile": c.LwebPidfile,
		"torrent_soft_timeout": itoa(c.TorrentSoftTimeout), "torrent_hard_timeout": itoa(c.TorrentHardTimeout),
		"named_include_file": c.NamedIncludeFile, "named_zone_dir": c.NamedZoneDir,
	}
	m["dhcp_net"], m["dhcp_range_start"], m["dhcp_range_end"] = c.DHCPNet, c.DHCPRangeStart, c.DHCPRangeEnd
	if c.DHCPNet != "" {
		m["dhcp_net"] = "[" + c.DHCPNet + "]"
	}
	for k, v := range m {
		m[k] = dash(v)
	}
	return m
}

func (a *app) clusterShow() *cobra.Command {
	cmd := noArgs(verb("show", "Print cluster parameters"))
	cmd.Flags().BoolP("raw", "R", false, "Print raw JSON of the object")
	cmd.Flags().BoolP("comment", "C", false, "Print comment")
	outputFlag(cmd)
	cmd.RunE = a.run(func(ctx context.Context, s *luna.Service) error {
		js, err := jsonOutput(cmd)
		if err != nil {
			return err
		}
		c, err := s.ClusterView(ctx)
		if err != nil {
			return err
		}
		switch {
		case boolOpt(cmd, "raw"):
			raw, err := s.Raw(ctx, luna.Clusters, luna.ClusterName)
			if err != nil {
				return err
			}
			return a.println(raw)
		case boolOpt(cmd, "comment"):
			return a.println(c.Comment)
		}
		fields := a.clusterFields(c)
		if js {
			obj := map[string]any{"name": c.Name, "comment": c.Comment}
			for k, v := range fields {
				obj[k] = v
				if v == "-" {
					obj[k] = ""
				}
			}
			obj["dhcp_net"] = c.DHCPNet
			for _, k := range []string{"nodedigits", "debug", "frontend_port", "server_port", "tracker_interval",
				"tracker_min_interval", "tracker_maxpeers", "torrent_listen_port_min", "torrent_listen_port_max", "lweb_num_proc",
				"torrent_soft_timeout", "torrent_hard_timeout"} {
				obj[k], _ = strconv.Atoi(fields[k])
			}
			obj["frontend_https"] = c.FrontendHTTPS
			obj["insecure_install"] = c.InsecureInstall
			obj["allow_rebind"] = c.AllowRebind
			return a.printJSON(obj)
		}
		return a.printShow("", fields, dash(c.Comment))
	})
	return cmd
}

func (a *app) clusterChange() *cobra.Command {
	cmd := noArgs(verb("change", "Change cluster parameters"))
	f := cmd.Flags()
	f.StringP("nodeprefix", "p", "", "Prefix for new nodes")
	f.IntP("nodedigits", "d", 0, "Zero-autopadding")
	f.String("path", "", "Path to store files")
	f.String("user", "", "Username to run services as")
	f.String("frontend_address", "", "Address of the controller's provisioning interface")
	f.Int("frontend_port", 0, "Port of the boot server (lweb)")
	f.String("frontend_https", "", "Serve boot and install scripts over HTTPS {y,yes,n,no}")
	f.String("insecure_install", "", "Serve install scripts to anyone, as Luna 1.2 did {y,yes,n,no}")
	f.String("allow_rebind", "", "Let a discovery from another address bind a node that already has a MAC {y,yes,n,no}")
	f.String("https_cert", "", "Certificate file lweb serves HTTPS with")
	f.String("https_key", "", "Key file of the HTTPS certificate")
	f.Int("server_port", 0, "Internal server port")
	f.Int("tracker_interval", 0, "BitTorrent announce interval, seconds")
	f.Int("tracker_min_interval", 0, "BitTorrent minimal announce interval, seconds")
	f.Int("tracker_maxpeers", 0, "Most peers returned by the tracker")
	f.Int("torrent_listen_port_min", 0, "Lowest port ltorrent listens on")
	f.Int("torrent_listen_port_max", 0, "Highest port ltorrent listens on")
	f.String("torrent_pidfile", "", "Pid file of ltorrent")
	f.Int("torrent_soft_timeout", 0, "Seconds ltorrent keeps seeding an unreferenced image after its last upload")
	f.Int("torrent_hard_timeout", 0, "Seconds ltorrent keeps seeding an image after it stopped being referenced")
	f.Int("lweb_num_proc", 0, "Number of lweb processes (0 for autodetection.)")
	f.String("lweb_pidfile", "", "Pid file of lweb")
	f.String("cluster_ips", "", "IPs of the HA cluster members, A.A.A.A,B.B.B.B ('' disables HA)")
	f.String("named_include_file", "", "File that includes the zones for named")
	f.String("named_zone_dir", "", "Directory of the zone files")
	f.BoolP("comment", "C", false, "Change comment")
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		// A choice option in 1.2 (argparse): a bad value is a usage error.
		for _, yn := range []string{"frontend_https", "insecure_install", "allow_rebind"} {
			if v := strOpt(cmd, yn); v != nil {
				if _, err := luna.YesNo(yn, *v); err != nil {
					return usagef("argument --%s: invalid choice: '%s' (choose from 'y', 'yes', 'n', 'no')", yn, *v)
				}
			}
		}
		return nil
	}
	cmd.RunE = a.run(func(ctx context.Context, s *luna.Service) error {
		o := luna.ClusterChange{
			NodePrefix: strOpt(cmd, "nodeprefix"), NodeDigits: intOpt(cmd, "nodedigits"),
			Path: strOpt(cmd, "path"), User: strOpt(cmd, "user"),
			FrontendAddress: strOpt(cmd, "frontend_address"), FrontendPort: intOpt(cmd, "frontend_port"),
			FrontendHTTPS: strOpt(cmd, "frontend_https"), InsecureInstall: strOpt(cmd, "insecure_install"), AllowRebind: strOpt(cmd, "allow_rebind"), HTTPSCert: strOpt(cmd, "https_cert"), HTTPSKey: strOpt(cmd, "https_key"),
			ServerPort: intOpt(cmd, "server_port"), TrackerInterval: intOpt(cmd, "tracker_interval"),
			TrackerMinInterval: intOpt(cmd, "tracker_min_interval"), TrackerMaxPeers: intOpt(cmd, "tracker_maxpeers"),
			TorrentListenPortMin: intOpt(cmd, "torrent_listen_port_min"), TorrentListenPortMax: intOpt(cmd, "torrent_listen_port_max"),
			TorrentPidfile: strOpt(cmd, "torrent_pidfile"), LwebNumProc: intOpt(cmd, "lweb_num_proc"),
			TorrentSoftTimeout: intOpt(cmd, "torrent_soft_timeout"), TorrentHardTimeout: intOpt(cmd, "torrent_hard_timeout"),
			LwebPidfile: strOpt(cmd, "lweb_pidfile"), ClusterIPs: strOpt(cmd, "cluster_ips"),
			NamedIncludeFile: strOpt(cmd, "named_include_file"), NamedZoneDir: strOpt(cmd, "named_zone_dir"),
		}
		if boolOpt(cmd, "comment") {
			if err := s.Guard(ctx); err != nil { // before an editor opens
				return err
			}
			old, err := s.Text(ctx, luna.Clusters, luna.ClusterName, luna.TextComment)
			if err != nil {
				return err
			}
			if o.Comment, err = a.textOpt(ctx, cmd, "comment", old); err != nil {
				return err
			}
		}
		return s.ChangeCluster(ctx, o)
	})
	return cmd
}

func (a *app) clusterDelete() *cobra.Command {
	cmd := noArgs(verb("delete", "Delete cluster"))
	cmd.Flags().Bool("force", false, "Delete the whole Luna database")
	cmd.RunE = a.run(func(ctx context.Context, s *luna.Service) error {
		return s.DeleteCluster(ctx, boolOpt(cmd, "force"))
	})
	return cmd
}

func (a *app) clusterListMACs() *cobra.Command {
	cmd := noArgs(verb("listmacs", "List MAC addresses learned from the switches"))
	outputFlag(cmd)
	cmd.RunE = a.run(func(ctx context.Context, s *luna.Service) error {
		js, err := jsonOutput(cmd)
		if err != nil {
			return err
		}
		rows, err := s.ListMACs(ctx)
		if err != nil {
			return err
		}
		if js {
			if rows == nil {
				rows = []luna.LearnedMACRow{}
			}
			return a.printJSON(rows)
		}
		var cells [][]string
		for _, r := range rows {
			cells = append(cells, []string{r.Switch, r.Port, r.PortName, r.MAC, yesno(r.ConfPort), r.Node})
		}
		return a.printTable([]string{"Switch", "Port", "Portname", "MAC", "Confport", "Node"}, cells)
	})
	return cmd
}

func (a *app) clusterMakeDHCP() *cobra.Command {
	cmd := noArgs(verb("makedhcp", "Configure dhcpd"))
	f := cmd.Flags()
	f.Bool("native_dhcp_ha", false, "Create (native) config for high available DHCP.")
	f.StringP("network", "N", "", "Network name")
	f.StringP("start_ip", "s", "", "First ip in dynamic range")
	f.StringP("end_ip", "e", "", "Last ip in dynamic range")
	f.String("format", bootnet.FormatISC, "Configuration to write: isc (dhcpd.conf) or kea (kea-dhcp4 JSON)")
	f.String("file", "", "File to write (default "+bootnet.DefaultDHCPDConf+", or "+bootnet.DefaultKeaConf+" for kea)")
	cmd.RunE = a.run(func(ctx context.Context, s *luna.Service) error {
		r := bootnet.DHCPRequest{}
		r.Format, _ = f.GetString("format")
		r.Network, _ = f.GetString("network")
		r.Start, _ = f.GetString("start_ip")
		r.End, _ = f.GetString("end_ip")
		r.NativeHA = boolOpt(cmd, "native_dhcp_ha")
		r.File, _ = f.GetString("file")
		return bootnet.MakeDHCP(ctx, bootnet.NewEnv(s, a.io.Out), r)
	})
	return cmd
}

func (a *app) clusterMakeDNS() *cobra.Command {
	cmd := noArgs(verb("makedns", "Configure named"))
	cmd.RunE = a.run(func(ctx context.Context, s *luna.Service) error {
		return bootnet.MakeDNS(ctx, bootnet.NewEnv(s, a.io.Out))
	})
	return cmd
}
