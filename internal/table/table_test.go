package table

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func render(t *testing.T, header []string, rows [][]string) string {
	t.Helper()
	var b strings.Builder
	if err := Render(&b, header, rows); err != nil {
		t.Fatalf("Render: %v", err)
	}
	return b.String()
}

func TestRender(t *testing.T) {
	tests := []struct {
		name   string
		header []string
		rows   [][]string
		want   string
	}{
		{
			name:   "networks",
			header: []string{"Name", "Network"},
			rows: [][]string{
				{"cluster", "10.141.0.0/16"},
				{"ipmi", "10.149.0.0/16"},
			},
			want: "" +
				"+------------+------------------+\n" +
				"| Name       | Network          |\n" +
				"+------------+------------------+\n" +
				"| cluster    | 10.141.0.0/16    |\n" +
				"| ipmi       | 10.149.0.0/16    |\n" +
				"+------------+------------------+\n",
		},
		{
			name:   "no rows",
			header: []string{"Name", "Network"},
			want: "" +
				"+---------+------------+\n" +
				"| Name    | Network    |\n" +
				"+---------+------------+\n" +
				"+---------+------------+\n",
		},
		{
			name:   "multi-line cell",
			header: []string{"Parameter", "Value"},
			rows: [][]string{
				{"name", "node001"},
				{"interfaces", "BOOTIF:\n  10.141.0.1\nBMC:\n  10.149.0.1"},
				{"comment", ""},
			},
			want: "" +
				"+---------------+-----------------+\n" +
				"| Parameter     | Value           |\n" +
				"+---------------+-----------------+\n" +
				"| name          | node001         |\n" +
				"| interfaces    | BOOTIF:         |\n" +
				"|               |   10.141.0.1    |\n" +
				"|               | BMC:            |\n" +
				"|               |   10.149.0.1    |\n" +
				"| comment       |                 |\n" +
				"+---------------+-----------------+\n",
		},
		{
			name:   "multi-line header",
			header: []string{"A", "Long\nheader"},
			rows:   [][]string{{"x", "y"}},
			want: "" +
				"+------+-----------+\n" +
				"| A    | Long      |\n" +
				"|      | header    |\n" +
				"+------+-----------+\n" +
				"| x    | y         |\n" +
				"+------+-----------+\n",
		},
		{
			name:   "unicode width in runes",
			header: []string{"Name", "Comment"},
			rows: [][]string{
				{"nœud", "café ☕"},
				{"n2", "x"},
			},
			want: "" +
				"+---------+------------+\n" +
				"| Name    | Comment    |\n" +
				"+---------+------------+\n" +
				"| nœud    | café ☕     |\n" +
				"| n2      | x          |\n" +
				"+---------+------------+\n",
		},
		{
			name:   "short row padded",
			header: []string{"A", "B"},
			rows:   [][]string{{"1"}},
			want: "" +
				"+------+------+\n" +
				"| A    | B    |\n" +
				"+------+------+\n" +
				"| 1    |      |\n" +
				"+------+------+\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := render(t, tt.header, tt.rows)
			if got != tt.want {
				t.Errorf("Render mismatch\ngot:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("boom") }

func TestRenderWriteError(t *testing.T) {
	if err := Render(failWriter{}, []string{"A"}, [][]string{{"b"}}); err == nil {
		t.Fatal("Render to a failing writer returned nil error")
	}
}

func TestShowRows(t *testing.T) {
	fields := map[string]string{
		"include": "yes",
		"PREFIX":  "16",
		"NETWORK": "10.141.0.0",
		"_id":     "x",
		"name":    "ignored",
		"comment": "ignored",
	}
	got := ShowRows("cluster", fields, "main net")
	want := [][]string{
		{"name", "cluster"},
		{"NETWORK", "10.141.0.0"},
		{"PREFIX", "16"},
		{"_id", "x"},
		{"include", "yes"},
		{"comment", "main net"},
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("ShowRows = %q, want %q", got, want)
	}

	got = ShowRows("", map[string]string{"b": "2", "a": "1"}, "")
	want = [][]string{{"a", "1"}, {"b", "2"}, {"comment", ""}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("ShowRows without name = %q, want %q", got, want)
	}

	out := render(t, []string{"Parameter", "Value"}, ShowRows("n1", nil, "hi"))
	wantOut := "" +
		"+--------------+----------+\n" +
		"| Parameter    | Value    |\n" +
		"+--------------+----------+\n" +
		"| name         | n1       |\n" +
		"| comment      | hi       |\n" +
		"+--------------+----------+\n"
	if out != wantOut {
		t.Errorf("rendered show\ngot:\n%s\nwant:\n%s", out, wantOut)
	}
}
