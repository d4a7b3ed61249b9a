package tracker

import (
	"fmt"
	"sort"
	"strconv"
)

// appendBencode appends the bencoding (BEP 3) of v to b. It knows the few
// types the tracker answers with: integers, byte strings (string or
// []byte), lists ([]any) and dictionaries (map[string]any, written with
// their keys sorted as raw bytes, as BEP 3 requires).
func appendBencode(b []byte, v any) ([]byte, error) {
	switch t := v.(type) {
	case int:
		return appendInt(b, int64(t)), nil
	case int64:
		return appendInt(b, t), nil
	case string:
		return appendString(b, t), nil
	case []byte:
		return appendString(b, string(t)), nil
	case []any:
		b = append(b, 'l')
		for _, e := range t {
			var err error
			if b, err = appendBencode(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, 'e'), nil
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = append(b, 'd')
		for _, k := range keys {
			b = appendString(b, k)
			var err error
			if b, err = appendBencode(b, t[k]); err != nil {
				return nil, fmt.Errorf("key %q: %w", k, err)
			}
		}
		return append(b, 'e'), nil
	}
	return nil, fmt.Errorf("bencode: unsupported type %T", v)
}

func appendInt(b []byte, n int64) []byte {
	b = append(b, 'i')
	b = strconv.AppendInt(b, n, 10)
	return append(b, 'e')
}

func appendString(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}
