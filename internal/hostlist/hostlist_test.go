package hostlist

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{"node001", []string{"node001"}},
		{"a,b", []string{"a", "b"}},
		{"a,b,a", []string{"a", "b"}},
		{"b,a,b,c,a", []string{"b", "a", "c"}},
		{"node[001-010]", []string{
			"node001", "node002", "node003", "node004", "node005",
			"node006", "node007", "node008", "node009", "node010",
		}},
		{"n[9-11]", []string{"n9", "n10", "n11"}},
		{"n[09-11]", []string{"n09", "n10", "n11"}},
		{"n[98-101]", []string{"n98", "n99", "n100", "n101"}},
		{"n[1,3,5-6]", []string{"n1", "n3", "n5", "n6"}},
		{"n[007,1]", []string{"n007", "n1"}},
		{"n[3-3]", []string{"n3"}},
		{"r[1-2]n[1-2]", []string{"r1n1", "r1n2", "r2n1", "r2n2"}},
		{"r[1-2]n[1-2]-ib", []string{"r1n1-ib", "r1n2-ib", "r2n1-ib", "r2n2-ib"}},
		{"[1-3]", []string{"1", "2", "3"}},
		{"n[3,1-2]", []string{"n3", "n1", "n2"}},
		{"n[1-3],n[2-4]", []string{"n1", "n2", "n3", "n4"}},
		{"node[1-2],login,node1", []string{"node1", "node2", "login"}},
		{"sw[1-2].ipmi,x", []string{"sw1.ipmi", "sw2.ipmi", "x"}},
		{"n[100000000000000000000-100000000000000000001]", []string{
			"n100000000000000000000", "n100000000000000000001",
		}},
		{"n[1-100000]", nil}, // checked for length below
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := Expand(tt.expr)
			if err != nil {
				t.Fatalf("Expand(%q) error: %v", tt.expr, err)
			}
			if tt.want == nil {
				if len(got) != MaxNames {
					t.Fatalf("Expand(%q) gave %d names, want %d", tt.expr, len(got), MaxNames)
				}
				return
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Expand(%q) = %q, want %q", tt.expr, got, tt.want)
			}
		})
	}
}

func TestExpandErrors(t *testing.T) {
	tests := []struct {
		expr   string
		reason string
	}{
		{"", "empty item"},
		{"a,,b", "empty item"},
		{"a,", "empty item"},
		{",a", "empty item"},
		{"n[1-2", "unbalanced brackets"},
		{"n1-2]", "unbalanced brackets"},
		{"n]1[", "unbalanced brackets"},
		{"n[[1-2]]", "nested brackets"},
		{"n[5-1]", `bad range "5-1": start > stop`},
		{"n[]", `bad range ""`},
		{"n[1,,2]", `bad range ""`},
		{"n[a-b]", `bad range "a-b"`},
		{"n[1-]", `bad range "1-"`},
		{"n[-2]", `bad range "-2"`},
		{"n[1-2-3]", `bad range "1-2-3"`},
		{"n[ 1]", `bad range " 1"`},
		{"n[0-100000]", "expands to more than 100000 names"},
		{"n[1-1000]m[1-1000]", "expands to more than 100000 names"},
		{"a[1-60000],b[1-60000]", "expands to more than 100000 names"},
		{"n[0-99999999999999999999999]", "expands to more than 100000 names"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := Expand(tt.expr)
			if err == nil {
				t.Fatalf("Expand(%q) = %q, want error", tt.expr, got)
			}
			want := fmt.Sprintf("bad hostlist %q: %s", tt.expr, tt.reason)
			if err.Error() != want {
				t.Errorf("Expand(%q) error = %q, want %q", tt.expr, err.Error(), want)
			}
		})
	}
}

func FuzzExpand(f *testing.F) {
	for _, s := range []string{
		"", "node001", "a,b,a", "node[001-010]", "n[9-11]", "n[1,3,5-6]",
		"r[1-2]n[1-2]", "n[5-1]", "n[1-2", "n[[1]]", "n[]", "a,,b", "x[0-9]y[00-99]",
		"n[0-100000]", "]", "[", "[1]", "a-b[1-2]c,d",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		names, err := Expand(expr)
		if err == nil {
			if len(names) > MaxNames {
				t.Fatalf("Expand(%q) gave %d names", expr, len(names))
			}
			seen := make(map[string]bool, len(names))
			for _, n := range names {
				if n == "" {
					t.Fatalf("Expand(%q) returned an empty name", expr)
				}
				if strings.ContainsAny(n, "[],") {
					t.Fatalf("Expand(%q) returned %q", expr, n)
				}
				if seen[n] {
					t.Fatalf("Expand(%q) returned %q twice", expr, n)
				}
				seen[n] = true
			}
		}
		if expr != "" && !strings.ContainsAny(expr, "[],") {
			if err != nil {
				t.Fatalf("Expand(%q) error: %v", expr, err)
			}
			if len(names) != 1 || names[0] != expr {
				t.Fatalf("Expand(%q) = %q, want itself", expr, names)
			}
		}
	})
}
