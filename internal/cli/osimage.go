package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/clustervision/luna-go/internal/luna"
)

func (a *app) osimageCmd() *cobra.Command {
	return object("osimage", "OsImage operations",
		a.osimageList(), a.osimageShow(), a.osimageAdd(), a.osimageChange(), a.osimageClone(), a.osimagePack(), a.osimageGrab(), a.osimageSync(),
		a.renameCmd(luna.OSImages, luna.ObjectName), a.osimageDelete())
}

func (a *app) osimageList() *cobra.Command {
	return listVerb(a, "List osimages", func(ctx context.Context, s *luna.Service) ([]luna.OSImageView, error) {
		return s.OSImageViews(ctx)
	}, []string{"Name", "Path", "Kernel version"}, func(v luna.OSImageView) []string {
		return []string{v.Name, v.Path, v.KernVer}
	})
}

// exclusive refuses more than one of the given flags, in argparse's words.
func exclusive(cmd *cobra.Command, names ...string) error {
	var set []string
	for _, n := range names {
		if f := cmd.Flags().Lookup(n); f != nil && f.Changed {
			spelling := "--" + f.Name
			if f.Shorthand != "" {
				spelling += "/-" + f.Shorthand
			}
			set = append(set, spelling)
		}
	}
	if len(set) > 1 {
		return usagef("argument %s: not allowed with argument %s", set[1], set[0])
	}
	return nil
}

func (a *app) osimageShow() *cobra.Command {
	cmd := verb("show NAME", "Show osimage")
	nameFlag(cmd)
	f := cmd.Flags()
	f.BoolP("raw", "R", false, "Print raw JSON of the object")
	f.BoolP("path", "p", false, "Print path of the image")
	f.BoolP("kernver", "k", false, "List the installed kernels; the configured one is marked <=")
	f.BoolP("kernopts", "o", false, "Print kernel options")
	f.BoolP("grab_exclude_list", "e", false, "Print the grab exclude list")
	f.BoolP("grab_filesystems", "f", false, "Print the file systems grab copies")
	f.BoolP("comment", "C", false, "Print comment")
	outputLongFlag(cmd)
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		return exclusive(cmd, "raw", "path", "kernver", "kernopts", "grab_exclude_list", "grab_filesystems", "comment")
	}
	cmd.RunE = a.withName(func(ctx context.Context, s *luna.Service, cmd *cobra.Command, name string) error {
		js, err := jsonOutput(cmd)
		if err != nil {
			return err
		}
		if boolOpt(cmd, "raw") {
			raw, err := s.Raw(ctx, luna.OSImages, name)
			if err != nil {
				return err
			}
			return a.println(raw)
		}
		views, err := s.OSImageViews(ctx, name)
		if err != nil {
			return err
		}
		v := views[0]
		switch {
		case boolOpt(cmd, "path"):
			return a.println(v.Path)
		case boolOpt(cmd, "kernver"):
			return a.printKernels(v)
		case boolOpt(cmd, "kernopts"):
			return a.println(v.KernOpts)
		case boolOpt(cmd, "grab_exclude_list"):
			return a.println(v.GrabExcludeList)
		case boolOpt(cmd, "grab_filesystems"):
			return a.println(v.GrabFilesystems)
		case boolOpt(cmd, "comment"):
			return a.println(v.Comment)
		case js:
			return a.printJSON(v)
		}
		fields := map[string]string{
			"dracutmodules": dash(v.DracutModules), "grab_exclude_list": dash(v.GrabExcludeList),
			"grab_filesystems": dash(v.GrabFilesystems), "initrdfile": dash(v.InitrdFile),
			"kernfile": dash(v.KernFile), "kernmodules": dash(v.KernModules), "kernopts": dash(v.KernOpts),
			"kernver": dash(v.KernVer), "path": dash(v.Path),
		}
		if v.Tarball != "" {
			fields["tarball"] = v.Tarball
		}
		if v.Torrent != "" {
			fields["torrent"] = v.Torrent
		}
		return a.printShow(v.Name, fields, v.Comment)
	})
	return cmd
}

// printKernels lists the installed kernels and the configured one, oldest
// first, marking the configured one with " <=".
func (a *app) printKernels(v luna.OSImageView) error {
	kerns, _ := luna.InstalledKernels(v.Path)
	if v.KernVer != "" && !slices.Contains(kerns, v.KernVer) {
		kerns = append(kerns, v.KernVer)
	}
	luna.SortKernelVersions(kerns)
	var b strings.Builder
	for _, k := range kerns {
		b.WriteString(k)
		if k == v.KernVer {
			b.WriteString(" <=")
		}
		b.WriteByte('\n')
	}
	_, err := a.io.Out.Write([]byte(b.String()))
	return err
}

func (a *app) osimageAdd() *cobra.Command {
	cmd := noArgs(verb("add", "Add osimage"))
	f := cmd.Flags()
	f.StringP("name", "n", "", "Name of the osimage")
	f.StringP("path", "p", "", "Path to the root of the image")
	f.StringP("kernver", "k", "", "Kernel version (default: the newest installed)")
	f.StringP("kernopts", "o", "", "Kernel options")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("path")
	cmd.RunE = a.run(func(ctx context.Context, s *luna.Service) error {
		name, _ := f.GetString("name")
		path, _ := f.GetString("path")
		kernver, _ := f.GetString("kernver")
		kernopts, _ := f.GetString("kernopts")
		return s.AddOSImage(ctx, name, path, kernver, kernopts)
	})
	return cmd
}

func (a *app) osimageChange() *cobra.Command {
	cmd := verb("change NAME", "Change osimage")
	nameFlag(cmd)
	f := cmd.Flags()
	f.StringP("kernver", "k", "", "Kernel version (a warning when it is not installed)")
	f.StringP("kernopts", "o", "", "Kernel options ('' clears them)")
	f.StringP("dracutmodules", "d", "", "Dracut modules, comma-separated; -name leaves one out")
	f.StringP("kernmodules", "m", "", "Kernel drivers for the initrd, comma-separated; -name leaves one out")
	f.StringP("path", "p", "", "Path to the root of the image")
	f.BoolP("grab_exclude_list", "e", false, "Edit the list of paths grab leaves out")
	f.StringP("grab_filesystems", "f", "", "File systems grab copies, comma-separated")
	f.BoolP("comment", "C", false, "Change comment")
	cmd.RunE = a.withName(func(ctx context.Context, s *luna.Service, cmd *cobra.Command, name string) error {
		if boolOpt(cmd, "grab_exclude_list") && boolOpt(cmd, "comment") {
			return luna.Failf("Only one element can be edited")
		}
		o := luna.OSImageChange{KernVer: strOpt(cmd, "kernver"), KernOpts: strOpt(cmd, "kernopts"),
			DracutModules: strOpt(cmd, "dracutmodules"), KernModules: strOpt(cmd, "kernmodules"),
			Path: strOpt(cmd, "path"), GrabFilesystems: strOpt(cmd, "grab_filesystems")}
		if boolOpt(cmd, "grab_exclude_list") || boolOpt(cmd, "comment") {
			excl, err := s.Text(ctx, luna.OSImages, name, luna.TextGrabExcludeList)
			if err != nil {
				return err
			}
			comment, err := s.Text(ctx, luna.OSImages, name, luna.TextComment)
			if err != nil {
				return err
			}
			if o.GrabExcludeList, err = a.textOpt(ctx, cmd, "grab_exclude_list", excl); err != nil {
				return err
			}
			if o.Comment, err = a.textOpt(ctx, cmd, "comment", comment); err != nil {
				return err
			}
		}
		warnings, err := s.ChangeOSImage(ctx, name, o)
		for _, w := range warnings {
			fmt.Fprintf(a.io.Err, "WARNING: %s\n", oneLine(w))
		}
		return err
	})
	return cmd
}

func (a *app) osimageClone() *cobra.Command {
	cmd := verb("clone NAME", "Clone osimage")
	nameFlag(cmd)
	f := cmd.Flags()
	f.StringP("to", "t", "", "Name of the new osimage")
	f.StringP("path", "p", "", "Path of the copy (must not exist)")
	_ = cmd.MarkFlagRequired("to")
	_ = cmd.MarkFlagRequired("path")
	cmd.RunE = a.withName(func(ctx context.Context, s *luna.Service, cmd *cobra.Command, name string) error {
		to, _ := f.GetString("to")
		path, _ := f.GetString("path")
		return s.CloneOSImage(ctx, name, to, path, a.io.Err)
	})
	return cmd
}

func (a *app) osimageDelete() *cobra.Command {
	cmd := verb("delete NAME", "Delete osimage")
	nameFlag(cmd)
	cmd.RunE = a.withName(func(ctx context.Context, s *luna.Service, _ *cobra.Command, name string) error {
		return s.DeleteOSImage(ctx, name)
	})
	return cmd
}
