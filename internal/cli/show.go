package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/clustervision/luna-go/internal/luna"
)

// hostlistShow is `show` of the objects whose names expand hostlists
// (node, switch, otherdev): --raw prints the stored documents, -o json one
// object (or an array for several), --comment the comments, otherwise one
// Parameter | Value table each. An object may add flags (flags) and answer
// some of them itself (special: done = true when it has).
type hostlistShow[V any] struct {
	coll    string
	views   func(ctx context.Context, s *luna.Service, names []string) ([]V, error)
	comment func(V) string
	table   func(V) (name string, fields map[string]string, comment string)
	flags   func(cmd *cobra.Command)
	special func(ctx context.Context, s *luna.Service, cmd *cobra.Command, names []string) (done bool, err error)
}

func (h hostlistShow[V]) command(a *app, short string) *cobra.Command {
	cmd := verb("show NAME", short)
	nameFlag(cmd)
	cmd.Flags().BoolP("raw", "R", false, "Print raw JSON of the object")
	cmd.Flags().BoolP("comment", "C", false, "Print comment")
	if h.flags != nil {
		h.flags(cmd)
	}
	outputFlag(cmd)
	cmd.RunE = a.withName(func(ctx context.Context, s *luna.Service, cmd *cobra.Command, expr string) error {
		js, err := jsonOutput(cmd)
		if err != nil {
			return err
		}
		names, err := expand(expr)
		if err != nil {
			return err
		}
		if h.special != nil {
			if done, err := h.special(ctx, s, cmd, names); done || err != nil {
				return err
			}
		}
		if boolOpt(cmd, "raw") {
			for _, n := range names {
				raw, err := s.Raw(ctx, h.coll, n)
				if err != nil {
					return err
				}
				if err := a.println(raw); err != nil {
					return err
				}
			}
			return nil
		}
		views, err := h.views(ctx, s, names)
		if err != nil {
			return err
		}
		if js {
			if len(views) == 1 {
				return a.printJSON(views[0])
			}
			return a.printJSON(views)
		}
		for _, v := range views {
			if boolOpt(cmd, "comment") {
				err = a.println(h.comment(v))
			} else {
				err = a.printShow(h.table(v))
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	return cmd
}

// listVerb is the `list` of an object: a table with one row per object,
// or -o json an array of its views.
func listVerb[V any](a *app, short string, views func(ctx context.Context, s *luna.Service) ([]V, error),
	header []string, row func(V) []string) *cobra.Command {
	cmd := noArgs(verb("list", short))
	outputFlag(cmd)
	cmd.RunE = a.run(func(ctx context.Context, s *luna.Service) error {
		js, err := jsonOutput(cmd)
		if err != nil {
			return err
		}
		vs, err := views(ctx, s)
		if err != nil {
			return err
		}
		if js {
			return a.printJSON(vs)
		}
		rows := make([][]string, 0, len(vs))
		for _, v := range vs {
			rows = append(rows, row(v))
		}
		return a.printTable(header, rows)
	})
	return cmd
}
