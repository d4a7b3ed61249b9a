package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/clustervision/luna-go/internal/table"
)

// outputFlag adds -o/--output {table,json} to a list or show verb.
func outputFlag(cmd *cobra.Command) {
	cmd.Flags().StringP("output", "o", "table", "Output format: table or json")
}

// outputLongFlag adds only --output {table,json}, for a verb where 1.2
// gave -o another meaning (osimage show -o is --kernopts).
func outputLongFlag(cmd *cobra.Command) {
	cmd.Flags().String("output", "table", "Output format: table or json")
}

// jsonOutput says whether -o json was asked for; anything but table/json is a usage error.
func jsonOutput(cmd *cobra.Command) (bool, error) {
	v, _ := cmd.Flags().GetString("output")
	switch v {
	case "table", "":
		return false, nil
	case "json":
		return true, nil
	}
	return false, usagef("invalid output format %q: use table or json", v)
}

func (a *app) printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(a.io.Out, "%s\n", b)
	return err
}

func (a *app) printTable(header []string, rows [][]string) error {
	return table.Render(a.io.Out, header, rows)
}

// printShow prints the standard Parameter | Value table.
func (a *app) printShow(name string, fields map[string]string, comment string) error {
	return a.printTable([]string{"Parameter", "Value"}, table.ShowRows(name, fields, comment))
}

func (a *app) println(s string) error {
	_, err := fmt.Fprintln(a.io.Out, s)
	return err
}

// dash shows an empty value as "-".
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesno(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
