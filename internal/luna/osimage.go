package luna

import (
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"unicode"

	"github.com/clustervision/luna-go/internal/store"
)

// Defaults of a new osimage, as Luna 1.2.
const (
	DefaultDracutModules   = "luna,-i18n,-plymouth"
	DefaultKernModules     = "ipmi_devintf,ipmi_si,ipmi_msghandler"
	DefaultGrabFilesystems = "/,/boot"
)

// grabTemplate is the file under the cluster path whose content, when it
// exists, is the grab exclude list of a new osimage (as in Luna 1.2).
const grabTemplate = "templates/grab_default_centos.lst"

// defaultGrabExclude is the grab exclude list used when the cluster has no
// template of its own: rsync patterns for what must not be copied from a
// live node (run-time state, caches, logs, host identity, files written at
// install time).
//
//go:embed defaults/grab_default.lst
var defaultGrabExclude string

var (
	// kernverRe is a kernel version: it becomes part of file names and of
	// dracut and boot script command lines.
	kernverRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)
	// moduleItem is one dracut module or kernel driver, "-" to leave it out.
	moduleItem = regexp.MustCompile(`^-?[A-Za-z0-9_.][A-Za-z0-9_.-]*$`)
)

// OSImage loads an osimage by name.
func (s *Service) OSImage(ctx context.Context, name string) (*store.OSImage, error) {
	var img store.OSImage
	if err := s.load(ctx, store.OSImages, name, &img); err != nil {
		return nil, err
	}
	return &img, nil
}

// AddOSImage registers the image tree at path. Without kernver the newest
// installed kernel is chosen.
func (s *Service) AddOSImage(ctx context.Context, name, path, kernver, kernopts string) error {
	if err := ValidateName(ObjectName, name); err != nil {
		return err
	}
	if err := validateKernOpts(kernopts); err != nil {
		return err
	}
	if err := s.Guard(ctx); err != nil {
		return err
	}
	img, err := s.newOSImage(ctx, name, path, kernver)
	if err != nil {
		return err
	}
	img.KernOpts = kernopts
	return s.insertOSImage(ctx, img)
}

// newOSImage checks everything `osimage add` checks and returns the new
// document with 1.2's defaults; nothing is stored.
func (s *Service) newOSImage(ctx context.Context, name, path, kernver string) (store.OSImage, error) {
	var img store.OSImage
	if err := ValidateName(ObjectName, name); err != nil {
		return img, err
	}
	c, err := s.Cluster(ctx)
	if err != nil {
		return img, err
	}
	if _, err := s.IDOf(ctx, store.OSImages, name); err == nil {
		return img, AlreadyCreated(name)
	}
	abs, err := s.imagePath(ctx, path, nil)
	if err != nil {
		return img, err
	}
	kerns, err := InstalledKernels(abs)
	if err != nil {
		return img, Errorf("Cannot list the kernels in '%s': %v", abs, err)
	}
	if len(kerns) == 0 {
		return img, Errorf("No kernels installed in '%s'", abs)
	}
	switch {
	case kernver == "":
		kernver = kerns[len(kerns)-1]
	case !slices.Contains(kerns, kernver):
		return img, Errorf("Available kernels are '%s'", strings.Join(kerns, ", "))
	}
	excl, err := grabDefault(c.Path)
	if err != nil {
		return img, err
	}
	return store.OSImage{
		ID:              store.NewID(),
		Name:            name,
		Path:            abs,
		KernVer:         kernver,
		DracutModules:   DefaultDracutModules,
		KernModules:     DefaultKernModules,
		GrabExcludeList: excl,
		GrabFilesystems: DefaultGrabFilesystems,
	}, nil
}

// insertOSImage stores a new osimage; the unique indexes on name and path
// catch a concurrent add of either.
func (s *Service) insertOSImage(ctx context.Context, img store.OSImage) error {
	err := s.st.Insert(ctx, store.OSImages, img)
	if !errors.Is(err, store.ErrExists) {
		return err
	}
	if _, e := s.IDOf(ctx, store.OSImages, img.Name); e == nil {
		return AlreadyCreated(img.Name)
	}
	return s.pathTaken(ctx, img.Path, img.ID)
}

// grabDefault is the exclude list of a new osimage: the cluster's template
// when it has one, else the built-in list.
func grabDefault(clusterPath string) (string, error) {
	text := defaultGrabExclude
	file := filepath.Join(clusterPath, grabTemplate)
	b, err := os.ReadFile(file)
	switch {
	case err == nil:
		text = string(b)
	case !errors.Is(err, fs.ErrNotExist):
		return "", Errorf("Cannot read '%s': %v", file, unwrapPathError(err))
	}
	return strings.TrimRight(text, "\r\n"), nil
}

// imagePath makes path absolute and checks that it is a directory no other
// osimage (than self) has.
func (s *Service) imagePath(ctx context.Context, path string, self *store.ID) (string, error) {
	if strings.TrimSpace(path) == "" {
		return "", Errorf("'%s' is not a valid directory", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", Errorf("'%s' is not a valid directory", path)
	}
	var id store.ID
	if self != nil {
		id = *self
	}
	if err := s.pathTaken(ctx, abs, id); err != nil {
		return "", err
	}
	if !isDir(abs) {
		return "", Errorf("'%s' is not a valid directory", abs)
	}
	return abs, nil
}

// pathTaken refuses a path that an osimage other than self already has.
func (s *Service) pathTaken(ctx context.Context, path string, self store.ID) error {
	var all []store.OSImage
	if err := s.st.List(ctx, store.OSImages, &all); err != nil {
		return err
	}
	for _, o := range all {
		if o.Path == path && o.ID != self {
			return Errorf("Path belongs to osimage '%s'", o.Name)
		}
	}
	return nil
}

// OSImageChange are the options of `luna osimage change`; nil = not given,
// an empty value clears the field where that makes sense.
type OSImageChange struct {
	KernVer         *string
	KernOpts        *string
	DracutModules   *string
	KernModules     *string
	Path            *string
	GrabExcludeList *string
	GrabFilesystems *string
	Comment         *string
}

// ChangeOSImage validates every given option, then stores them all in one
// update. A kernel version that is not installed in the image is allowed
// (it may be installed later) and comes back as a warning.
// It holds the object's lock while it works (see locked).
func (s *Service) ChangeOSImage(ctx context.Context, name string, o OSImageChange) (warnings []string, err error) {
	err = s.locked(ctx, store.OSImages, name, func(ctx context.Context, id store.ID) error {
		var e error
		warnings, e = s.changeOSImage(ctx, id, name, o)
		return e
	})
	return warnings, err
}

func (s *Service) changeOSImage(ctx context.Context, id store.ID, name string, o OSImageChange) (warnings []string, err error) {
	set := map[string]any{}
	if o.KernVer != nil {
		if err := validateKernVer(*o.KernVer); err != nil {
			return nil, err
		}
		set["kernver"] = *o.KernVer
	}
	if o.KernOpts != nil {
		if err := validateKernOpts(*o.KernOpts); err != nil {
			return nil, err
		}
		set["kernopts"] = *o.KernOpts
	}
	if o.DracutModules != nil {
		if err := validateModules("dracut modules", *o.DracutModules); err != nil {
			return nil, err
		}
		set["dracutmodules"] = *o.DracutModules
	}
	if o.KernModules != nil {
		if err := validateModules("kernel modules", *o.KernModules); err != nil {
			return nil, err
		}
		set["kernmodules"] = *o.KernModules
	}
	if o.GrabFilesystems != nil {
		v, err := normalizeFilesystems(*o.GrabFilesystems)
		if err != nil {
			return nil, err
		}
		set["grab_filesystems"] = v
	}
	if o.GrabExcludeList != nil {
		if strings.ContainsRune(*o.GrabExcludeList, 0) {
			return nil, Errorf("Invalid grab_exclude_list: it must be text")
		}
		set["grab_exclude_list"] = *o.GrabExcludeList
	}
	if o.Comment != nil {
		set["comment"] = *o.Comment
	}
	if err := s.Guard(ctx); err != nil {
		return nil, err
	}
	img := &store.OSImage{}
	if err := s.byID(ctx, store.OSImages, id, name, img); err != nil {
		return nil, err
	}
	if o.Path != nil {
		abs, err := s.imagePath(ctx, *o.Path, &img.ID)
		if err != nil {
			return nil, err
		}
		set["path"] = abs
		img.Path = abs
	}
	if o.KernVer != nil {
		img.KernVer = *o.KernVer
	}
	if o.KernVer != nil || o.Path != nil {
		if w := kernelWarning(img.Path, img.KernVer); w != "" {
			warnings = append(warnings, w)
		}
	}
	if len(set) == 0 {
		return warnings, nil
	}
	err = s.st.Set(ctx, store.OSImages, img.ID, set)
	if errors.Is(err, store.ErrExists) {
		err = s.pathTaken(ctx, img.Path, img.ID)
	}
	if err != nil {
		return nil, err
	}
	return warnings, nil
}

// kernelWarning says when kernver is not an installed kernel of path.
func kernelWarning(path, kernver string) string {
	kerns, err := InstalledKernels(path)
	if err != nil || slices.Contains(kerns, kernver) {
		return ""
	}
	if len(kerns) == 0 {
		return fmt.Sprintf("Kernel '%s' is not installed in '%s': no kernels are installed there", kernver, path)
	}
	return fmt.Sprintf("Kernel '%s' is not installed in '%s'; available kernels are '%s'",
		kernver, path, strings.Join(kerns, ", "))
}

// CloneOSImage copies the tree of osimage name to path and registers the
// copy as osimage to, with the source's settings but no packed files. The
// copy is removed again when the new osimage cannot be created.
func (s *Service) CloneOSImage(ctx context.Context, name, to, path string, progress io.Writer) (err error) {
	if err := ValidateName(ObjectName, to); err != nil {
		return err
	}
	if err := s.Guard(ctx); err != nil {
		return err
	}
	src, err := s.OSImage(ctx, name)
	if err != nil {
		return err
	}
	if _, err := s.IDOf(ctx, store.OSImages, to); err == nil {
		return Failf("OsImage %s already exists.", to)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return Errorf("'%s' is not a valid directory", path)
	}
	if _, err := os.Lstat(abs); err == nil {
		return Failf("Path %s already exists.", abs)
	}
	if !isDir(src.Path) {
		return Errorf("'%s' is not a valid directory", src.Path)
	}
	if rel, err := filepath.Rel(src.Path, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
		return Errorf("Path %s is inside the image %s", abs, src.Path)
	}
	if kerns, err := InstalledKernels(src.Path); err != nil || len(kerns) == 0 {
		return Errorf("No kernels installed in '%s'", src.Path)
	}

	fmt.Fprintf(progress, "%s => %s\n", src.Path, abs)
	top, err := mkdirAllTop(abs)
	if err != nil {
		return Failf("Cannot create %s: %v", abs, unwrapPathError(err))
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(top)
		}
	}()
	var stderr bytes.Buffer
	cp := exec.CommandContext(ctx, "cp", "-a", "--reflink=auto", src.Path+"/.", abs)
	cp.Stderr = &stderr
	if err := cp.Run(); err != nil {
		why := strings.TrimSpace(firstLineOf(stderr.String()))
		if why == "" {
			why = err.Error()
		}
		return Failf("Copying %s to %s failed: %s", src.Path, abs, why)
	}

	img, err := s.newOSImage(ctx, to, abs, "")
	if err != nil {
		return err
	}
	img.KernVer = src.KernVer
	img.KernOpts = src.KernOpts
	img.DracutModules = src.DracutModules
	img.KernModules = src.KernModules
	img.GrabFilesystems = src.GrabFilesystems
	img.GrabExcludeList = src.GrabExcludeList
	img.Comment = src.Comment
	return s.insertOSImage(ctx, img)
}

// mkdirAllTop creates p and its missing parents and returns the topmost
// directory it created, so that a failure can remove exactly that.
func mkdirAllTop(p string) (string, error) {
	top := p
	for d := filepath.Dir(p); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		}
		top = d
	}
	return top, os.MkdirAll(p, 0o755)
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func firstLineOf(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// DeleteOSImage removes an osimage no group uses; its files stay on disk.
func (s *Service) DeleteOSImage(ctx context.Context, name string) error {
	if err := s.Guard(ctx); err != nil {
		return err
	}
	img, err := s.OSImage(ctx, name)
	if err != nil {
		return err
	}
	return s.deleteUnused(ctx, store.OSImages, img.Name, img.ID, img)
}

// OSImageView is an osimage as shown to the administrator (and in -o json).
type OSImageView struct {
	Name            string `json:"name"`
	Path            string `json:"path"`
	KernVer         string `json:"kernver"`
	KernOpts        string `json:"kernopts"`
	KernFile        string `json:"kernfile"`
	InitrdFile      string `json:"initrdfile"`
	DracutModules   string `json:"dracutmodules"`
	KernModules     string `json:"kernmodules"`
	GrabExcludeList string `json:"grab_exclude_list"`
	GrabFilesystems string `json:"grab_filesystems"`
	Tarball         string `json:"tarball"`
	Torrent         string `json:"torrent"`
	Comment         string `json:"comment"`
}

func osimageView(o store.OSImage) OSImageView {
	return OSImageView{Name: o.Name, Path: o.Path, KernVer: o.KernVer, KernOpts: o.KernOpts,
		KernFile: o.KernFile, InitrdFile: o.InitrdFile, DracutModules: o.DracutModules,
		KernModules: o.KernModules, GrabExcludeList: o.GrabExcludeList, GrabFilesystems: o.GrabFilesystems,
		Tarball: o.Tarball, Torrent: o.Torrent, Comment: o.Comment}
}

// OSImageViews returns the named osimages (all when names is empty), by name.
func (s *Service) OSImageViews(ctx context.Context, names ...string) ([]OSImageView, error) {
	var imgs []store.OSImage
	if len(names) == 0 {
		if err := s.st.List(ctx, store.OSImages, &imgs); err != nil {
			return nil, err
		}
	} else {
		for _, n := range names {
			img, err := s.OSImage(ctx, n)
			if err != nil {
				return nil, err
			}
			imgs = append(imgs, *img)
		}
	}
	out := make([]OSImageView, 0, len(imgs))
	for _, img := range imgs {
		out = append(out, osimageView(img))
	}
	return out, nil
}

// InstalledKernels lists the kernels of the image tree at path, oldest
// first. Kernel V counts as installed when <path>/lib/modules/V is a
// directory and its image is <path>/boot/vmlinuz-V or
// <path>/lib/modules/V/vmlinuz; no package database is read, so Debian and
// RHEL images (and self-built kernels) are seen alike. A tree without
// lib/modules has no kernels.
func InstalledKernels(path string) ([]string, error) {
	modules := filepath.Join(path, "lib", "modules")
	entries, err := os.ReadDir(modules)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, nil
	}
	if err != nil {
		return nil, unwrapPathError(err)
	}
	var out []string
	for _, e := range entries {
		v := e.Name()
		dir := filepath.Join(modules, v)
		if !kernverRe.MatchString(v) || !isDir(dir) {
			continue
		}
		if isFile(filepath.Join(path, "boot", "vmlinuz-"+v)) || isFile(filepath.Join(dir, "vmlinuz")) {
			out = append(out, v)
		}
	}
	SortKernelVersions(out)
	return out, nil
}

// isFile says whether p is a regular file or a symbolic link (a link in an
// image may point into the image, so it is not followed).
func isFile(p string) bool {
	st, err := os.Lstat(p)
	return err == nil && (st.Mode().IsRegular() || st.Mode()&fs.ModeSymlink != 0)
}

// SortKernelVersions sorts kernel versions oldest first (see CompareKernelVersions).
func SortKernelVersions(vs []string) { slices.SortFunc(vs, CompareKernelVersions) }

// CompareKernelVersions orders kernel versions such as 3.10.0-1160.el7.x86_64
// or 5.10.0-28-amd64. Both are cut into runs of digits and runs of letters
// (anything else separates them); runs of digits compare as numbers, runs
// of letters as text, a number is newer than text at the same place, and
// a version with more runs is newer than its prefix. Versions that compare
// equal that way are ordered bytewise, so the order is total.
func CompareKernelVersions(a, b string) int {
	pa, pb := versionRuns(a), versionRuns(b)
	for i := 0; i < len(pa) && i < len(pb); i++ {
		x, y := pa[i], pb[i]
		xd, yd := isDigitByte(x[0]), isDigitByte(y[0])
		switch {
		case xd && !yd:
			return 1
		case !xd && yd:
			return -1
		case xd:
			x, y = trimZeros(x), trimZeros(y)
			if c := cmp.Compare(len(x), len(y)); c != 0 {
				return c
			}
		}
		if c := strings.Compare(x, y); c != 0 {
			return c
		}
	}
	if c := cmp.Compare(len(pa), len(pb)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func versionRuns(v string) []string {
	var runs []string
	for i := 0; i < len(v); {
		c := v[i]
		if !isDigitByte(c) && !isLetterByte(c) {
			i++
			continue
		}
		j := i + 1
		for j < len(v) && isDigitByte(v[j]) == isDigitByte(c) && (isDigitByte(v[j]) || isLetterByte(v[j])) {
			j++
		}
		runs = append(runs, v[i:j])
		i = j
	}
	return runs
}

func isDigitByte(c byte) bool  { return c >= '0' && c <= '9' }
func isLetterByte(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func trimZeros(s string) string {
	t := strings.TrimLeft(s, "0")
	if t == "" {
		return "0"
	}
	return t
}

func validateKernVer(v string) error {
	if !kernverRe.MatchString(v) {
		return Errorf("Invalid kernel version %s: use letters, digits, '.', '_', '+' and '-', starting with a letter or digit", quote(v))
	}
	return nil
}

// validateKernOpts checks kernel options: they are written into iPXE and
// shell scripts, so one line without quoting or command characters.
func validateKernOpts(v string) error {
	bad := strings.IndexFunc(v, unicode.IsControl) >= 0 || strings.ContainsAny(v, "`\"';&|<>") || strings.Contains(v, "$(")
	if bad {
		return Errorf("Invalid kernel options %s: use one line without quotes, '`', '$(', ';', '&', '|', '<' or '>'", quote(v))
	}
	return nil
}

// validateModules checks a dracut module or kernel driver list: names
// separated by commas, each optionally prefixed with '-' to leave it out.
// An empty list is allowed.
func validateModules(what, v string) error {
	if v == "" {
		return nil
	}
	for _, item := range strings.Split(v, ",") {
		if !moduleItem.MatchString(item) {
			return Errorf("Invalid %s %s: use names separated by commas, '-name' to leave one out, no empty items", what, quote(v))
		}
	}
	return nil
}

// normalizeFilesystems checks a grab_filesystems list (absolute paths
// separated by commas) and returns it with each path cleaned.
func normalizeFilesystems(v string) (string, error) {
	bad := Errorf("Invalid grab_filesystems %s: use absolute paths separated by commas, e.g. /,/boot", quote(v))
	var out []string
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if !strings.HasPrefix(item, "/") || strings.IndexFunc(item, unicode.IsSpace) >= 0 ||
			strings.IndexFunc(item, unicode.IsControl) >= 0 || strings.ContainsAny(item, "`\"'$;&|<>\\") ||
			slices.Contains(strings.Split(item, "/"), "..") {
			return "", bad
		}
		out = append(out, filepath.Clean(item))
	}
	return strings.Join(out, ","), nil
}
