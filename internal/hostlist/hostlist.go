// Package hostlist expands compact host list expressions such as
// "node[001-010],login[1-2]" into the individual host names they denote.
//
// The accepted syntax and the order of the results follow the
// expand_hostlist function of python-hostlist 1.14, which Luna uses to
// address groups of nodes.
package hostlist

import (
	"fmt"
	"math/big"
	"strings"
)

// MaxNames is the largest number of names a single expression may expand to
// (counted before duplicates are removed). Larger expansions are refused.
const MaxNames = 100000

// Expand expands a host list expression into the host names it denotes.
//
// Top-level commas separate items; commas inside square brackets do not. A
// bracket group holds a comma-separated list of numbers ("7") and ranges
// ("lo-hi"). Numbers produced by a range are zero-padded to the number of
// characters in lo, so "node[001-010]" yields node001 … node010 and "n[9-11]"
// yields n9, n10, n11; single numbers are used verbatim. An item with several
// bracket groups expands to their cartesian product, leftmost group varying
// slowest ("r[1-2]n[1-2]" yields r1n1, r1n2, r2n1, r2n2).
//
// The result keeps the order of the expression with later duplicates
// removed; it is not sorted. Malformed expressions (unbalanced or nested
// brackets, empty items, non-numeric or reversed ranges) and expansions of
// more than MaxNames names are reported as errors of the form
// `bad hostlist "EXPR": reason`.
func Expand(expr string) ([]string, error) {
	items, err := splitItems(expr)
	if err != nil {
		return nil, badHostlist(expr, err.Error())
	}
	var all []string
	for _, item := range items {
		names, err := expandItem(item, MaxNames-len(all))
		if err != nil {
			return nil, badHostlist(expr, err.Error())
		}
		all = append(all, names...)
	}
	return dedup(all), nil
}

func badHostlist(expr, reason string) error {
	return fmt.Errorf("bad hostlist %q: %s", expr, reason)
}

// reason is a plain error message that Expand wraps with the expression.
type reason string

func (r reason) Error() string { return string(r) }

// splitItems splits expr on commas outside brackets and checks that the
// brackets are balanced and not nested.
func splitItems(expr string) ([]string, error) {
	var items []string
	depth := 0
	start := 0
	for i := 0; i < len(expr); i++ {
		switch expr[i] {
		case '[':
			depth++
			if depth > 1 {
				return nil, reason("nested brackets")
			}
		case ']':
			depth--
			if depth < 0 {
				return nil, reason("unbalanced brackets")
			}
		case ',':
			if depth == 0 {
				items = append(items, expr[start:i])
				start = i + 1
			}
		}
	}
	if depth != 0 {
		return nil, reason("unbalanced brackets")
	}
	items = append(items, expr[start:])
	for _, item := range items {
		if item == "" {
			return nil, reason("empty item")
		}
	}
	return items, nil
}

// expandItem expands one top-level item (no top-level commas, balanced and
// unnested brackets). budget is the number of names still allowed.
func expandItem(item string, budget int) ([]string, error) {
	// Split the item into alternating literal text and bracket groups, then
	// build the cartesian product from left to right.
	results := []string{""}
	rest := item
	for rest != "" {
		open := strings.IndexByte(rest, '[')
		if open < 0 {
			appendLiteral(results, rest)
			break
		}
		appendLiteral(results, rest[:open])
		closing := strings.IndexByte(rest[open:], ']') + open
		group := rest[open+1 : closing]
		rest = rest[closing+1:]

		values, err := expandGroup(group, budget)
		if err != nil {
			return nil, err
		}
		if len(results)*len(values) > budget {
			return nil, tooMany()
		}
		next := make([]string, 0, len(results)*len(values))
		for _, r := range results {
			for _, v := range values {
				next = append(next, r+v)
			}
		}
		results = next
	}
	if len(results) > budget {
		return nil, tooMany()
	}
	return results, nil
}

func appendLiteral(results []string, lit string) {
	for i := range results {
		results[i] += lit
	}
}

func tooMany() error {
	return reason(fmt.Sprintf("expands to more than %d names", MaxNames))
}

// expandGroup expands the contents of one bracket group, e.g. "1,3,5-6".
func expandGroup(group string, budget int) ([]string, error) {
	var values []string
	for _, part := range strings.Split(group, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		if !isDigits(lo) || (isRange && !isDigits(hi)) {
			return nil, reason(fmt.Sprintf("bad range %q", part))
		}
		if !isRange {
			if len(values)+1 > budget {
				return nil, tooMany()
			}
			values = append(values, lo)
			continue
		}
		var low, high big.Int
		low.SetString(lo, 10)
		high.SetString(hi, 10)
		if high.Cmp(&low) < 0 {
			return nil, reason(fmt.Sprintf("bad range %q: start > stop", part))
		}
		var count big.Int
		count.Sub(&high, &low)
		count.Add(&count, big.NewInt(1))
		if !count.IsInt64() || count.Int64() > int64(budget-len(values)) {
			return nil, tooMany()
		}
		width := len(lo)
		one := big.NewInt(1)
		for n := new(big.Int).Set(&low); n.Cmp(&high) <= 0; n.Add(n, one) {
			s := n.String()
			if len(s) < width {
				s = strings.Repeat("0", width-len(s)) + s
			}
			values = append(values, s)
		}
	}
	return values, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func dedup(names []string) []string {
	seen := make(map[string]struct{}, len(names))
	out := names[:0]
	for _, n := range names {
		if _, ok := seen[n]; ok {
			continue
		}
		seen[n] = struct{}{}
		out = append(out, n)
	}
	return out
}
