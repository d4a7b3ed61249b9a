package cli

import (
	"context"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/clustervision/luna-go/internal/luna"
)

func (a *app) bmcsetupCmd() *cobra.Command {
	return object("bmcsetup", "BMCSetup operations",
		a.bmcsetupList(), a.bmcsetupShow(), a.bmcsetupAdd(), a.bmcsetupChange(),
		a.renameCmd(luna.BMCSetups, luna.ObjectName), a.bmcsetupDelete())
}

func (a *app) bmcsetupList() *cobra.Command {
	cmd := noArgs(verb("list", "List BMC configurations"))
	outputFlag(cmd)
	cmd.RunE = a.run(func(ctx context.Context, s *luna.Service) error {
		js, err := jsonOutput(cmd)
		if err != nil {
			return err
		}
		views, err := s.BMCSetupViews(ctx)
		if err != nil {
			return err
		}
		var rows [][]string
		for _, b := range views {
			rows = append(rows, []string{b.Name, b.User, b.Password})
		}
		if js {
			return a.printJSON(views)
		}
		return a.printTable([]string{"Name", "User", "Password"}, rows)
	})
	return cmd
}

func (a *app) bmcsetupShow() *cobra.Command {
	cmd := verb("show NAME", "Show BMC configuration")
	nameFlag(cmd)
	cmd.Flags().BoolP("raw", "R", false, "Print raw JSON of the object")
	cmd.Flags().BoolP("comment", "C", false, "Print comment")
	outputFlag(cmd)
	cmd.RunE = a.withName(func(ctx context.Context, s *luna.Service, cmd *cobra.Command, name string) error {
		js, err := jsonOutput(cmd)
		if err != nil {
			return err
		}
		if boolOpt(cmd, "raw") {
			raw, err := s.Raw(ctx, luna.BMCSetups, name)
			if err != nil {
				return err
			}
			return a.println(raw)
		}
		views, err := s.BMCSetupViews(ctx, name)
		if err != nil {
			return err
		}
		b := views[0]
		switch {
		case boolOpt(cmd, "comment"):
			return a.println(b.Comment)
		case js:
			return a.printJSON(b)
		}
		return a.printShow(b.Name, map[string]string{
			"mgmtchannel": strconv.Itoa(b.MgmtChannel), "netchannel": strconv.Itoa(b.NetChannel),
			"password": b.Password, "user": b.User, "userid": strconv.Itoa(b.UserID),
		}, b.Comment)
	})
	return cmd
}

func bmcFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringP("user", "u", "ladmin", "Username")
	f.StringP("password", "p", "ladmin", "Password")
	f.IntP("userid", "I", 3, "User ID")
	f.IntP("netchannel", "N", 1, "Channel number for LAN properties")
	f.IntP("mgmtchannel", "M", 1, "Channel number for management properties")
}

func bmcOpts(cmd *cobra.Command) luna.BMCSetupOpts {
	return luna.BMCSetupOpts{User: strOpt(cmd, "user"), Password: strOpt(cmd, "password"),
		UserID: intOpt(cmd, "userid"), NetChannel: intOpt(cmd, "netchannel"), MgmtChannel: intOpt(cmd, "mgmtchannel")}
}

func (a *app) bmcsetupAdd() *cobra.Command {
	cmd := noArgs(verb("add", "Add BMC configuration"))
	cmd.Flags().StringP("name", "n", "", "Name of the BMC configuration")
	_ = cmd.MarkFlagRequired("name")
	bmcFlags(cmd)
	cmd.RunE = a.run(func(ctx context.Context, s *luna.Service) error {
		name, _ := cmd.Flags().GetString("name")
		return s.AddBMCSetup(ctx, name, bmcOpts(cmd))
	})
	return cmd
}

func (a *app) bmcsetupChange() *cobra.Command {
	cmd := verb("change NAME", "Change BMC configuration")
	nameFlag(cmd)
	bmcFlags(cmd)
	cmd.Flags().BoolP("comment", "C", false, "Change comment")
	cmd.RunE = a.withName(func(ctx context.Context, s *luna.Service, cmd *cobra.Command, name string) error {
		o := bmcOpts(cmd)
		if boolOpt(cmd, "comment") {
			if err := s.Guard(ctx); err != nil { // before an editor opens
				return err
			}
			old, err := s.Text(ctx, luna.BMCSetups, name, luna.TextComment)
			if err != nil {
				return err
			}
			if o.Comment, err = a.textOpt(ctx, cmd, "comment", old); err != nil {
				return err
			}
		}
		return s.ChangeBMCSetup(ctx, name, o)
	})
	return cmd
}

func (a *app) bmcsetupDelete() *cobra.Command {
	cmd := verb("delete NAME", "Delete BMC configuration")
	nameFlag(cmd)
	cmd.RunE = a.withName(func(ctx context.Context, s *luna.Service, _ *cobra.Command, name string) error {
		return s.DeleteBMCSetup(ctx, name)
	})
	return cmd
}
