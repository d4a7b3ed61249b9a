// Package table renders the bordered text tables that the Luna command line
// prints for "list" and "show" commands.
package table

import (
	"bufio"
	"io"
	"sort"
	"strings"
	"unicode/utf8"
)

// Render writes header and rows to w as a bordered table in Luna's layout:
//
//	+------------+------------------+
//	| Name       | Network          |
//	+------------+------------------+
//	| cluster    | 10.141.0.0/16    |
//	+------------+------------------+
//
// Each column is as wide as its longest line (counted in runes) over the
// header and all rows; every cell is written as "| " followed by the text
// padded with spaces to that width plus four, and each line ends with "|".
// A cell containing "\n" spans several lines, with the other cells of the
// row left blank on the continuation lines. With no rows the table is the
// header framed by separators, followed by a closing separator. Rows shorter
// than the widest row or the header are padded with empty cells.
//
// The only errors returned are those from writing to w.
func Render(w io.Writer, header []string, rows [][]string) error {
	ncols := len(header)
	for _, r := range rows {
		ncols = max(ncols, len(r))
	}
	widths := make([]int, ncols)
	measure := func(row []string) {
		for i, cell := range row {
			for _, line := range strings.Split(cell, "\n") {
				widths[i] = max(widths[i], utf8.RuneCountInString(line))
			}
		}
	}
	measure(header)
	for _, r := range rows {
		measure(r)
	}

	var sep strings.Builder
	sep.WriteString("+")
	for i, wd := range widths {
		if i > 0 {
			sep.WriteString("+")
		}
		sep.WriteString(strings.Repeat("-", wd+5))
	}
	sep.WriteString("+\n")

	bw := bufio.NewWriter(w)
	bw.WriteString(sep.String())
	writeRow(bw, header, widths)
	bw.WriteString(sep.String())
	for _, r := range rows {
		writeRow(bw, r, widths)
	}
	bw.WriteString(sep.String())
	return bw.Flush()
}

// writeRow writes one logical row, which may span several physical lines.
func writeRow(bw *bufio.Writer, row []string, widths []int) {
	cells := make([][]string, len(widths))
	height := 1
	for i := range widths {
		if i < len(row) {
			cells[i] = strings.Split(row[i], "\n")
		}
		height = max(height, len(cells[i]))
	}
	for l := 0; l < height; l++ {
		for i, wd := range widths {
			text := ""
			if l < len(cells[i]) {
				text = cells[i][l]
			}
			bw.WriteString("| ")
			bw.WriteString(text)
			bw.WriteString(strings.Repeat(" ", wd+4-utf8.RuneCountInString(text)))
		}
		bw.WriteString("|\n")
	}
}

// ShowRows returns the rows of the standard "show" layout, meant to be
// rendered with the header {"Parameter", "Value"}: first {"name", name}
// (omitted when name is empty), then one row per remaining key of fields in
// byte order (so upper case sorts before "_", which sorts before lower
// case), and last {"comment", comment}. Keys "name" and "comment" in fields
// are ignored because those rows come from the arguments.
func ShowRows(name string, fields map[string]string, comment string) [][]string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		if k == "name" || k == "comment" {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)

	rows := make([][]string, 0, len(keys)+2)
	if name != "" {
		rows = append(rows, []string{"name", name})
	}
	for _, k := range keys {
		rows = append(rows, []string{k, fields[k]})
	}
	rows = append(rows, []string{"comment", comment})
	return rows
}
