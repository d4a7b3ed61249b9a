package cli

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/clustervision/luna-go/internal/luna"
)

// Shell completion. cobra answers `luna __complete WORDS...` (what the
// scripts of `luna completion bash|zsh` call) from the functions attached
// here: object names come from the database, so `luna node show <TAB>`
// offers the nodes. A database that does not answer within
// completionTimeout gives no completions and prints nothing.

// completionTimeout bounds one completion's wait for the database.
const completionTimeout = 2 * time.Second

// objectKinds are the object commands whose names live in the database;
// each command is named as its object type (luna.Nodes is "node").
var objectKinds = map[string]bool{
	luna.Networks: true, luna.OSImages: true, luna.BMCSetups: true, luna.Groups: true,
	luna.Nodes: true, luna.Switches: true, luna.OtherDevs: true,
}

// flagKinds are the options whose value names an object, by long name.
// `--network` of `network add/change` is an address, not a name (see
// flagCompletion).
var flagKinds = map[string]string{
	"group": luna.Groups, "osimage": luna.OSImages, "bmcsetup": luna.BMCSetups,
	"network": luna.Networks, "bmcnetwork": luna.Networks, "setnet": luna.Networks,
	"delnet": luna.Networks, "domain": luna.Networks, "switch": luna.Switches,
	"host": luna.Nodes,
}

// flagChoices are the options with a fixed set of values.
var flagChoices = map[string][]string{
	"localboot": yesNo, "setupbmc": yesNo, "service": yesNo,
	"allow_rebind": yesNo, "frontend_https": yesNo, "insecure_install": yesNo,
	"output": {"table", "json"}, "script": {"boot", "install"}, "format": {"isc", "kea"},
}

var yesNo = []string{"y", "yes", "n", "no"}

// dirFlags are the options whose value is a directory.
var dirFlags = map[string]bool{"path": true, "named_zone_dir": true}

// isCompletionRequest says whether args are cobra's hidden completion
// request (`luna __complete node show NO`).
func isCompletionRequest(args []string) bool {
	return len(args) > 0 && (args[0] == cobra.ShellCompRequestCmd || args[0] == cobra.ShellCompNoDescRequestCmd)
}

// normalizeCompletion does to the words before the one being completed
// what Main does to a command line: it drops a leading --debug/-d and
// applies normalizeArgs, so 1.2 spellings (-bn, --nn, prefixes) find their
// option; words it cannot normalise (a pair option missing its second
// value) are left as typed.
func normalizeCompletion(root *cobra.Command, args []string) []string {
	if len(args) < 2 {
		return args
	}
	head, last := args[1:len(args)-1], args[len(args)-1]
	for len(head) > 0 && (head[0] == "--debug" || head[0] == "-d") {
		head = head[1:]
	}
	if norm, err := normalizeArgs(root, head); err == nil {
		head = norm
	}
	return append(append([]string{args[0]}, head...), last)
}

// addCompletion attaches completion functions to every verb of root.
func (a *app) addCompletion(root *cobra.Command) {
	for _, obj := range root.Commands() {
		kind := obj.Name()
		for _, v := range obj.Commands() {
			takesName := objectKinds[kind] && strings.Contains(v.Use, "NAME")
			if takesName {
				v.ValidArgsFunction = a.nameCompletion(kind, true)
			} else {
				v.ValidArgsFunction = cobra.NoFileCompletions
			}
			v.Flags().VisitAll(func(f *pflag.Flag) {
				if fn := a.flagCompletion(kind, f.Name, takesName); fn != nil {
					_ = v.RegisterFlagCompletionFunc(f.Name, fn)
				}
			})
		}
	}
}

// flagCompletion is what completes the value of option long of a verb of
// object kind; nil leaves cobra's default (file names).
func (a *app) flagCompletion(kind, long string, takesName bool) cobra.CompletionFunc {
	switch {
	case long == "name" && takesName:
		return a.nameCompletion(kind, false)
	case long == "name" || long == "to" || long == "newname":
		return cobra.NoFileCompletions // a new name
	case long == "network" && kind == luna.Networks:
		return cobra.NoFileCompletions // an address
	case dirFlags[long]:
		return func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return nil, cobra.ShellCompDirectiveFilterDirs
		}
	}
	if k, ok := flagKinds[long]; ok {
		return a.nameCompletion(k, false)
	}
	if choices, ok := flagChoices[long]; ok {
		return cobra.FixedCompletions(choices, cobra.ShellCompDirectiveNoFileComp)
	}
	return nil
}

// nameCompletion offers the names of kind's objects that start with the
// word being completed; positional completes only the first argument.
func (a *app) nameCompletion(kind string, positional bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if positional && len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return a.completeNames(cmd.Context(), kind, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeNames reads the names from the database; any failure (no
// database, a bad configuration) is no completion.
func (a *app) completeNames(ctx context.Context, kind, prefix string) []cobra.Completion {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	s, err := a.service(ctx)
	if err != nil {
		return nil
	}
	names, err := s.Names(ctx, kind, prefix)
	if err != nil {
		return nil
	}
	return names
}
