// Package cli is the `luna` command: the same objects, verbs and options as
// Luna 1.2, on top of package luna.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/clustervision/luna-go/internal/config"
	"github.com/clustervision/luna-go/internal/luna"
	"github.com/clustervision/luna-go/internal/textinput"
	"github.com/clustervision/luna-go/internal/version"
)

// Exit codes, as README says: 0 success, 1 refused or failed action, 2 bad
// command line, 255 runtime error (not found, already exists, invalid
// value, no database, interrupted).
const (
	exitOK      = 0
	exitRefused = 1
	exitUsage   = 2
	exitRuntime = 255
)

// exitCode chooses the exit code of a verb's error from its kind.
func exitCode(err error) int {
	switch {
	case errors.Is(err, luna.ErrRefused), errors.Is(err, luna.ErrInUse):
		return exitRefused
	default: // ErrNotFound, ErrExists, ErrInvalid, a runtime failure
		return exitRuntime
	}
}

// IO is where a command reads and writes.
type IO struct {
	In          io.Reader
	Out, Err    io.Writer
	Interactive bool // stdin is a terminal: text options open $EDITOR
	Getenv      func(string) string
}

// StdIO is the process's own streams and environment.
func StdIO() IO {
	return IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Interactive: isTerminal(os.Stdin), Getenv: os.Getenv}
}

// isTerminal is Python's isatty(): a terminal, not any character device, so
// that `luna ... --comment </dev/null` (cron, Ansible) reads an empty text
// instead of starting an editor.
func isTerminal(f *os.File) bool {
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}

// usageError is bad command-line syntax: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{msg: fmt.Sprintf(format, a...)} }

// ranError marks an error returned by a verb (not by argument parsing).
type ranError struct{ err error }

func (e *ranError) Error() string { return e.err.Error() }
func (e *ranError) Unwrap() error { return e.err }

type app struct {
	io    IO
	debug bool
	log   *slog.Logger
	svc   *luna.Service
}

// Main runs `luna` with args and returns the exit code.
func Main(ctx context.Context, args []string, stdio IO) int {
	if stdio.Getenv == nil {
		stdio.Getenv = os.Getenv
	}
	a := &app{io: stdio}
	completing := isCompletionRequest(args)
	if !completing && version.Asked(args) {
		fmt.Fprintln(stdio.Out, version.Line("luna"))
		return exitOK
	}
	for len(args) > 0 && (args[0] == "--debug" || args[0] == "-d") {
		a.debug = true
		args = args[1:]
	}
	level := slog.LevelWarn
	if a.debug {
		level = slog.LevelDebug
	}
	a.log = slog.New(slog.NewTextHandler(stdio.Err, &slog.HandlerOptions{Level: level}))
	defer a.close()

	root := a.newRoot()
	var err error
	if completing {
		args = normalizeCompletion(root, args)
	} else {
		args, err = normalizeArgs(root, args)
	}
	var ran0 *cobra.Command
	if err == nil {
		root.SetArgs(args)
		ran0, err = root.ExecuteContextC(ctx)
	}
	if err == nil {
		return exitOK
	}
	var ran *ranError
	if !errors.As(err, &ran) {
		fmt.Fprintf(stdio.Err, "luna: error: %s\n", oneLine(err.Error()))
		return exitUsage
	}
	if ctx.Err() != nil {
		// Interrupted (SIGINT, SIGTERM): the command undid what it had written.
		fmt.Fprintf(stdio.Err, "ERROR: Interrupted: %s\n", oneLine(ran.err.Error()))
		return exitRuntime
	}
	var bad *luna.AddressError
	if errors.As(ran.err, &bad) && bad.Option == "" && ran0 != nil {
		bad.Option = optionHolding(ran0, bad.Field, bad.Text)
	}
	fmt.Fprintf(stdio.Err, "ERROR: %s\n", oneLine(ran.err.Error()))
	return exitCode(ran.err)
}

// optionHolding names the option of cmd given on the command line whose
// value (or one of whose comma-separated values) is text: "--network".
// The second value of a pair option (`-i IF IP`) is named by the pair's
// long option. The option named field comes first when it holds text.
// "" when none holds it.
func optionHolding(cmd *cobra.Command, field, text string) string {
	second := map[string]string{}
	if p := strings.Split(cmd.Annotations[pairAnnotation], ","); len(p) == 3 {
		second[p[2]] = p[0]
	}
	found := ""
	if f := cmd.Flags().Lookup(field); field != "" && f != nil && f.Changed {
		found = holding(f, text, second)
	}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if found == "" {
			found = holding(f, text, second)
		}
	})
	if found == "" {
		return ""
	}
	return "--" + found
}

// holding is the name of f (or of the pair it is the second value of)
// when its value, or one of its comma-separated values, is text; else "".
func holding(f *pflag.Flag, text string, second map[string]string) string {
	v := strings.Trim(f.Value.String(), "[]")
	for _, item := range append([]string{v}, strings.Split(v, ",")...) {
		if item == text || strings.TrimSpace(item) == strings.TrimSpace(text) {
			if long, ok := second[f.Name]; ok {
				return long
			}
			return f.Name
		}
	}
	return ""
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

func (a *app) close() {
	if a.svc != nil {
		_ = a.svc.Close(context.Background())
	}
}

// service opens the store on first use, so --help needs no database.
func (a *app) service(ctx context.Context) (*luna.Service, error) {
	if a.svc != nil {
		return a.svc, nil
	}
	cfg, err := config.Load(a.io.Getenv)
	if err != nil {
		return nil, luna.Errorf("Unable to read the configuration: %v", err)
	}
	timeout, err := config.ConnectTimeout(a.io.Getenv, 5*time.Second)
	if err != nil {
		return nil, luna.Errorf("%v", err)
	}
	var opts []luna.OpenOption
	if a.debug {
		opts = append(opts, luna.WithCommandLog(a.log))
	}
	svc, err := luna.Open(ctx, cfg, timeout, opts...)
	if err != nil {
		return nil, luna.Errorf("%s", err.Error())
	}
	a.svc = svc
	a.svc.Getenv = a.io.Getenv
	a.svc.Warn = func(msg string) { fmt.Fprintf(a.io.Err, "WARNING: %s\n", msg) }
	return a.svc, nil
}

// run wraps a verb: it opens the service and marks errors as the verb's own.
func (a *app) run(fn func(ctx context.Context, s *luna.Service) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		s, err := a.service(ctx)
		if err == nil {
			err = fn(ctx, s)
		}
		var usage *usageError
		if errors.As(err, &usage) {
			return err // a bad option value found by the verb: exit 2
		}
		if err != nil {
			return &ranError{err: err}
		}
		return nil
	}
}

func (a *app) newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "luna [--debug|-d] <object> <verb> [options] [name]",
		Short:         "Manage Luna Cluster",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usagef("an object is required: cluster, network, osimage, bmcsetup, group, node, switch, otherdev")
		},
	}
	root.SetIn(a.io.In)
	root.SetOut(a.io.Out)
	root.SetErr(a.io.Err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usagef("%s", err.Error()) })
	// `luna completion bash|zsh|fish` prints a completion script (hidden:
	// it is not an object); completion.go says what it completes.
	root.CompletionOptions.HiddenDefaultCmd = true
	// Both are handled by Main before cobra parses; declared here so that
	// `luna --help` shows them.
	root.Flags().BoolP("debug", "d", false, "log every database command to stderr (give it before the object)")
	root.Flags().Bool("version", false, "print the version and commit, and exit")
	root.AddCommand(a.clusterCmd(), a.networkCmd(), a.osimageCmd(), a.bmcsetupCmd(), a.switchCmd(), a.otherdevCmd(), a.groupCmd(), a.nodeCmd())
	a.addCompletion(root)
	return root
}

// object makes the command of one object type, whose verbs are required.
func object(name, short string, verbs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:   name + " <verb>",
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var vs []string
			for _, v := range cmd.Commands() {
				vs = append(vs, v.Name())
			}
			return usagef("a verb is required for %s: %s", name, strings.Join(vs, ", "))
		},
	}
	c.AddCommand(verbs...)
	return c
}

// verb makes one verb command.
func verb(use, short string) *cobra.Command {
	return &cobra.Command{Use: use, Short: short, Args: atMostOneName}
}

// atMostOneName is cobra.MaximumNArgs(1) with a hint where a 1.2 habit
// left a word over: `osimage show NAME -o json`, where -o is --kernopts.
func atMostOneName(cmd *cobra.Command, args []string) error {
	if len(args) <= 1 {
		return nil
	}
	msg := fmt.Sprintf("accepts at most 1 name, received %d: %s", len(args), strings.Join(args, " "))
	hint := ""
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Shorthand == "o" && f.Name != "output" && hint == "" {
			hint = fmt.Sprintf(" (-o on %s %s is --%s, as in 1.2; for JSON write --output json)", cmd.Parent().Name(), cmd.Name(), f.Name)
		}
	})
	return usagef("%s%s", msg, hint)
}

const (
	aliasAnnotation    = "luna-aliases"
	optionalAnnotation = "luna-optional-value"
	pairAnnotation     = "luna-pair"
)

// pairOption registers `-short/--long A B`: A is stored in --long, B in the
// hidden option --second.
func pairOption(cmd *cobra.Command, long, short, second, usage string) {
	cmd.Flags().StringP(long, short, "", usage)
	cmd.Flags().String(second, "", "")
	_ = cmd.Flags().MarkHidden(second)
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[pairAnnotation] = long + "," + short + "," + second
}

// optionalValue makes a string option's value optional, as argparse's
// nargs='?' (`--delnet` or `--delnet NET`).
func optionalValue(cmd *cobra.Command, long string) {
	cmd.Flags().Lookup(long).NoOptDefVal = " "
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[optionalAnnotation] += long + ","
}

// alias registers a 1.2 multi-character option spelling (-bn, --nn, --sv)
// as another name of a long option.
func alias(cmd *cobra.Command, spelling, long string) {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	if cur := cmd.Annotations[aliasAnnotation]; cur != "" {
		cmd.Annotations[aliasAnnotation] = cur + ","
	}
	cmd.Annotations[aliasAnnotation] += spelling + "=" + long
}

// normalizeArgs turns 1.2 spellings into ones pflag understands: the
// multi-character aliases, and unique prefixes of long options (argparse
// accepted --frontend_a for --frontend_address). An ambiguous prefix is a
// usage error.
func normalizeArgs(root *cobra.Command, args []string) ([]string, error) {
	cmd, _, err := root.Find(args)
	if err != nil || cmd == nil {
		return args, nil
	}
	aliases := map[string]string{}
	if spec := cmd.Annotations[aliasAnnotation]; spec != "" {
		for _, kv := range strings.Split(spec, ",") {
			k, v, _ := strings.Cut(kv, "=")
			aliases[k] = "--" + v
		}
	}
	var longs []string
	known := map[string]bool{}
	visit := func(f *pflag.Flag) {
		if !known[f.Name] {
			known[f.Name] = true
			longs = append(longs, f.Name)
		}
	}
	cmd.Flags().VisitAll(visit)
	cmd.InheritedFlags().VisitAll(visit)
	known["help"] = true
	sort.Strings(longs)

	optional := map[string]bool{}
	for _, f := range strings.Split(cmd.Annotations[optionalAnnotation], ",") {
		optional[f] = f != ""
	}
	pairs := map[string][2]string{}
	if spec := cmd.Annotations[pairAnnotation]; spec != "" {
		parts := strings.Split(spec, ",") // long,short,second
		pairs["--"+parts[0]] = [2]string{parts[0], parts[2]}
		pairs["-"+parts[1]] = [2]string{parts[0], parts[2]}
	}
	out := make([]string, 0, len(args))
	skip := 0
	for i, arg := range args {
		if skip > 0 {
			skip--
			continue
		}
		if arg == "--" {
			out = append(out, args[i:]...)
			break
		}
		name, val, hasVal := strings.Cut(arg, "=")
		suffix := ""
		if hasVal {
			suffix = "=" + val
		}
		if canon, ok := aliases[name]; ok {
			name, arg = canon, canon+suffix
		}
		if strings.HasPrefix(name, "--") && len(name) > 2 && !known[name[2:]] {
			var matches []string
			for _, l := range longs {
				if strings.HasPrefix(l, name[2:]) {
					matches = append(matches, "--"+l)
				}
			}
			switch len(matches) {
			case 1:
				name, arg = matches[0], matches[0]+suffix
			case 0:
			default:
				return nil, usagef("ambiguous option: %s could match %s", name, strings.Join(matches, ", "))
			}
		}
		if long, ok := pairs[name]; ok {
			// 1.2's `-i IF IP`: an option with two values.
			vals := []string{}
			if hasVal {
				vals = append(vals, val)
			}
			for j := i + 1; len(vals) < 2 && j < len(args); j++ {
				vals = append(vals, args[j])
				skip++
			}
			if len(vals) < 2 || strings.HasPrefix(vals[1], "-") {
				return nil, usagef("option -%s/--%s takes two values, the interface and its address (-%s BOOTIF 10.30.0.5), got: %s", pairShort(cmd), long[0], pairShort(cmd), strings.Join(append([]string{name}, vals...), " "))
			}
			out = append(out, "--"+long[0]+"="+vals[0], "--"+long[1]+"="+vals[1])
			continue
		}
		out = append(out, arg)
		if !hasVal && strings.HasPrefix(name, "--") && optional[name[2:]] && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			// argparse nargs='?': an optional value is the next word when it is not an option.
			out[len(out)-1] = name + "=" + args[i+1]
			skip = 1
		}
	}
	return out, nil
}

// pairShort is the short spelling of cmd's pair option (`i`).
func pairShort(cmd *cobra.Command) string {
	if p := strings.Split(cmd.Annotations[pairAnnotation], ","); len(p) == 3 {
		return p[1]
	}
	return ""
}

// nameFlag adds -n/--name as another way to give a verb's object name
// (the 1.2 README writes `luna node change -n node001 ...`).
func nameFlag(cmd *cobra.Command) {
	cmd.Flags().StringP("name", "n", "", "Name of the object (instead of the positional name)")
}

// objectName is the positional name or the --name value.
func objectName(cmd *cobra.Command, args []string) (string, error) {
	var flagName string
	if f := cmd.Flags().Lookup("name"); f != nil && f.Changed {
		flagName = f.Value.String()
	}
	switch {
	case len(args) == 1 && flagName != "" && flagName != args[0]:
		return "", usagef("two names given: %q and --name %q", args[0], flagName)
	case len(args) == 1:
		return args[0], nil
	case flagName != "":
		return flagName, nil
	}
	return "", usagef("the following arguments are required: name")
}

// withName wraps a verb that works on one named object.
func (a *app) withName(fn func(ctx context.Context, s *luna.Service, cmd *cobra.Command, name string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		name, err := objectName(cmd, args)
		if err != nil {
			return err
		}
		return a.run(func(ctx context.Context, s *luna.Service) error { return fn(ctx, s, cmd, name) })(cmd, args)
	}
}

func noArgs(cmd *cobra.Command) *cobra.Command {
	cmd.Args = cobra.NoArgs
	return cmd
}

// Option readers: nil when the option was not given.
func strOpt(cmd *cobra.Command, name string) *string {
	f := cmd.Flags().Lookup(name)
	if f == nil || !f.Changed {
		return nil
	}
	v := f.Value.String()
	return &v
}

func intOpt(cmd *cobra.Command, name string) *int {
	if !cmd.Flags().Changed(name) {
		return nil
	}
	v, err := cmd.Flags().GetInt(name)
	if err != nil {
		return nil
	}
	return &v
}

func boolOpt(cmd *cobra.Command, name string) bool {
	v, _ := cmd.Flags().GetBool(name)
	return v
}

// editText reads a new multi-line value from stdin, or from $EDITOR when
// stdin is a terminal, starting from old.
func (a *app) editText(ctx context.Context, old string) (string, error) {
	editor := a.io.Getenv("EDITOR")
	return textinput.Read(ctx, a.io.In, a.io.Interactive, old, editor)
}

// textOpt reads the text of a flag like --comment when it was given.
func (a *app) textOpt(ctx context.Context, cmd *cobra.Command, flag, old string) (*string, error) {
	if !boolOpt(cmd, flag) {
		return nil, nil
	}
	v, err := a.editText(ctx, old)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// Command is luna's command tree with its options and help, attached to no
// streams: what internal/manpage documents.
func Command() *cobra.Command {
	a := &app{io: IO{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard, Getenv: os.Getenv}}
	return a.newRoot()
}
