package tracker

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"testing"
)

// decodeBencode reads one bencoded value that must fill data: integers
// come back as int64, strings as string, lists as []any, dictionaries as
// map[string]any. It is strict (no leading zeros, sorted unique keys), so
// that tests also check what the encoder writes.
func decodeBencode(data []byte) (any, error) {
	v, rest, err := decodeValue(data, 0)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%d bytes after the value", len(rest))
	}
	return v, nil
}

func decodeValue(b []byte, depth int) (any, []byte, error) {
	if depth > 64 {
		return nil, nil, errors.New("nested too deeply")
	}
	if len(b) == 0 {
		return nil, nil, errors.New("unexpected end")
	}
	switch c := b[0]; {
	case c == 'i':
		end := bytes.IndexByte(b, 'e')
		if end < 0 {
			return nil, nil, errors.New("unterminated integer")
		}
		s := string(b[1:end])
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || s != strconv.FormatInt(n, 10) {
			return nil, nil, fmt.Errorf("bad integer %q", s)
		}
		return n, b[end+1:], nil
	case c >= '0' && c <= '9':
		colon := bytes.IndexByte(b, ':')
		if colon < 0 {
			return nil, nil, errors.New("string without ':'")
		}
		s := string(b[:colon])
		n, err := strconv.Atoi(s)
		if err != nil || s != strconv.Itoa(n) || n > len(b)-colon-1 {
			return nil, nil, fmt.Errorf("bad string length %q", s)
		}
		return string(b[colon+1 : colon+1+n]), b[colon+1+n:], nil
	case c == 'l':
		out := []any{}
		b = b[1:]
		for len(b) > 0 && b[0] != 'e' {
			v, rest, err := decodeValue(b, depth+1)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, v)
			b = rest
		}
		if len(b) == 0 {
			return nil, nil, errors.New("unterminated list")
		}
		return out, b[1:], nil
	case c == 'd':
		out := map[string]any{}
		b = b[1:]
		prev, first := "", true
		for len(b) > 0 && b[0] != 'e' {
			k, rest, err := decodeValue(b, depth+1)
			if err != nil {
				return nil, nil, err
			}
			key, ok := k.(string)
			if !ok {
				return nil, nil, errors.New("dictionary key is not a string")
			}
			if !first && key <= prev {
				return nil, nil, fmt.Errorf("key %q out of order", key)
			}
			prev, first = key, false
			v, rest, err := decodeValue(rest, depth+1)
			if err != nil {
				return nil, nil, err
			}
			out[key] = v
			b = rest
		}
		if len(b) == 0 {
			return nil, nil, errors.New("unterminated dictionary")
		}
		return out, b[1:], nil
	default:
		return nil, nil, fmt.Errorf("unexpected byte %q", c)
	}
}

func TestBencode(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want string
	}{
		{0, "i0e"},
		{-42, "i-42e"},
		{int64(math.MaxInt64), "i9223372036854775807e"},
		{"", "0:"},
		{"spam", "4:spam"},
		{[]byte{0, 0xff, ':'}, "3:\x00\xff:"},
		{[]any{}, "le"},
		{[]any{"a", 1, []any{}}, "l1:ai1elee"},
		{map[string]any{}, "de"},
		// Keys sorted as raw bytes: "Z" < "a" < "min interval" < "peers" < "peers6".
		{map[string]any{"peers6": "", "peers": "", "min interval": 5, "a": 1, "Z": map[string]any{"x": "y"}},
			"d1:Zd1:x1:ye1:ai1e12:min intervali5e5:peers0:6:peers60:e"},
	} {
		got, err := appendBencode(nil, tc.in)
		if err != nil {
			t.Errorf("%#v: %v", tc.in, err)
			continue
		}
		if string(got) != tc.want {
			t.Errorf("%#v: got %q, want %q", tc.in, got, tc.want)
		}
		if _, err := decodeBencode(got); err != nil {
			t.Errorf("%q does not decode: %v", got, err)
		}
	}
	if _, err := appendBencode(nil, map[string]any{"x": 1.5}); err == nil {
		t.Error("a float encoded without error")
	}
}

func TestBencodeRoundTrip(t *testing.T) {
	in := map[string]any{
		"files": map[string]any{"\x01\x02": map[string]any{"complete": int64(3)}},
		"list":  []any{int64(-1), "x", []any{map[string]any{}}},
	}
	b, err := appendBencode(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := decodeBencode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip: %#v != %#v", out, in)
	}
	for _, bad := range []string{"", "i01e", "i-0e", "ie", "3:ab", "l", "d1:bi1e1:ai1ee", "di1ei1ee", "x", "i1ei2e"} {
		if _, err := decodeBencode([]byte(bad)); err == nil {
			t.Errorf("%q decoded without error", bad)
		}
	}
}
