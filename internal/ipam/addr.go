package ipam

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// convertError is the error returned for text that is not an IP address (or
// not one of the expected family). The message text is fixed because
// administrators search logs for it.
func convertError(s string) error {
	return fmt.Errorf("Cannot convert IP '%s' to C format", s)
}

// ParseAddr parses s as an IPv4 or IPv6 address with the same strictness as
// inet_pton(3):
//
//   - IPv4 must be a dotted quad of four decimal numbers 0..255 without
//     leading zeros ("010.0.0.1", "1.2.3" and "1.2.3.4." are invalid);
//   - IPv6 may use any RFC 4291 textual form, including "::" compression and
//     a trailing embedded dotted quad ("::ffff:1.2.3.4"); hex digits may be
//     upper or lower case and each group has at most four of them;
//   - zones ("fe80::1%eth0"), CIDR suffixes, brackets and surrounding white
//     space are rejected.
//
// Any text containing a colon is parsed as IPv6 and the result is a 16-byte
// address (an IPv4-mapped address stays IPv6); otherwise the result is a
// 4-byte IPv4 address. On failure the error message is exactly
// "Cannot convert IP '<s>' to C format".
func ParseAddr(s string) (netip.Addr, error) {
	if strings.IndexByte(s, ':') >= 0 {
		if b, ok := parseIPv6(s); ok {
			return netip.AddrFrom16(b), nil
		}
		return netip.Addr{}, convertError(s)
	}
	if b, ok := parseIPv4(s); ok {
		return netip.AddrFrom4(b), nil
	}
	return netip.Addr{}, convertError(s)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func hexValue(c byte) (uint32, bool) {
	switch {
	case c >= '0' && c <= '9':
		return uint32(c - '0'), true
	case c >= 'a' && c <= 'f':
		return uint32(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return uint32(c-'A') + 10, true
	}
	return 0, false
}

// parseIPv4 parses a strict dotted quad that must span all of s.
func parseIPv4(s string) ([4]byte, bool) {
	var out [4]byte
	i := 0
	for n := 0; n < 4; n++ {
		if n > 0 {
			if i >= len(s) || s[i] != '.' {
				return out, false
			}
			i++
		}
		start := i
		v := 0
		for i < len(s) && isDigit(s[i]) {
			v = v*10 + int(s[i]-'0')
			if v > 255 {
				return out, false
			}
			i++
		}
		switch {
		case i == start:
			return out, false // empty field
		case i-start > 1 && s[start] == '0':
			return out, false // leading zero
		}
		out[n] = byte(v)
	}
	return out, i == len(s)
}

// parseIPv6 parses an RFC 4291 IPv6 address that must span all of s.
func parseIPv6(s string) ([16]byte, bool) {
	var out [16]byte
	n := 0         // bytes of out filled so far
	ellipsis := -1 // position in out where "::" was seen, or -1
	i := 0
	if strings.HasPrefix(s, "::") {
		ellipsis = 0
		i = 2
		if i == len(s) {
			return out, true // "::"
		}
	}
	for {
		start := i
		var v uint32
		digits := 0
		for i < len(s) {
			d, ok := hexValue(s[i])
			if !ok {
				break
			}
			v = v<<4 | d
			digits++
			i++
			if digits > 4 {
				break
			}
		}
		if i < len(s) && s[i] == '.' {
			// A dotted quad may only end the address and fills 4 bytes. The
			// digits scanned so far are its first octet, so re-parse them.
			if n+4 > 16 {
				return out, false
			}
			b4, ok := parseIPv4(s[start:])
			if !ok {
				return out, false
			}
			copy(out[n:], b4[:])
			n += 4
			break
		}
		if digits == 0 || digits > 4 || n+2 > 16 {
			return out, false
		}
		out[n] = byte(v >> 8)
		out[n+1] = byte(v)
		n += 2
		if i == len(s) {
			break
		}
		if s[i] != ':' {
			return out, false
		}
		i++
		if i < len(s) && s[i] == ':' {
			if ellipsis >= 0 {
				return out, false // a second "::"
			}
			ellipsis = n
			i++
			if i == len(s) {
				break // trailing "::"
			}
		} else if i == len(s) {
			return out, false // trailing single ':'
		}
	}
	if ellipsis < 0 {
		return out, n == 16
	}
	if n == 16 {
		return out, false // "::" must stand for at least one zero group
	}
	// Move the groups after "::" to the end and zero the gap.
	tail := n - ellipsis
	copy(out[16-tail:], out[ellipsis:n])
	clear(out[ellipsis : 16-tail])
	return out, true
}

// FormatAddr formats a the way glibc's inet_ntop(3) does:
//
//   - IPv4 as a dotted quad;
//   - IPv6 as eight groups of lowercase hex without leading zeros, where the
//     longest run of two or more all-zero groups (the leftmost one on ties) is
//     replaced by "::"; a single zero group is printed as "0".
//
// Unlike glibc (and unlike netip.Addr.String), FormatAddr never prints the
// IPv4-embedded forms: every IPv6 address, including IPv4-mapped ones such as
// ::ffff:1.2.3.4, is printed as pure hex groups (here "::ffff:102:304"). The
// result is always accepted by [ParseAddr] and yields the same address.
// A zone, if any, is not printed. The invalid zero netip.Addr formats as "".
func FormatAddr(a netip.Addr) string {
	switch {
	case a.Is4():
		b := a.As4()
		buf := make([]byte, 0, len("255.255.255.255"))
		for i, v := range b {
			if i > 0 {
				buf = append(buf, '.')
			}
			buf = strconv.AppendUint(buf, uint64(v), 10)
		}
		return string(buf)
	case a.Is6():
		b := a.As16()
		var w [8]uint16
		for i := range w {
			w[i] = binary.BigEndian.Uint16(b[2*i:])
		}
		// Find the longest run of zero groups; only a strictly longer run
		// replaces an earlier one, so the leftmost wins ties.
		best, bestLen, cur := -1, 0, -1
		for i, v := range w {
			if v != 0 {
				cur = -1
				continue
			}
			if cur < 0 {
				cur = i
			}
			if l := i - cur + 1; l > bestLen {
				best, bestLen = cur, l
			}
		}
		if bestLen < 2 {
			best = -1
		}
		buf := make([]byte, 0, len("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))
		for i := 0; i < 8; i++ {
			if i == best {
				buf = append(buf, ':', ':')
				i += bestLen - 1
				continue
			}
			if len(buf) > 0 && buf[len(buf)-1] != ':' {
				buf = append(buf, ':')
			}
			buf = strconv.AppendUint(buf, uint64(w[i]), 16)
		}
		return string(buf)
	}
	return ""
}

// addrText is FormatAddr plus the zone, if any, for use in messages.
func addrText(a netip.Addr) string {
	if z := a.Zone(); z != "" {
		return FormatAddr(a) + "%" + z
	}
	return FormatAddr(a)
}

// Version returns 4 if s is an IPv4 address, 6 if it is an IPv6 address
// (per [ParseAddr]; this includes IPv4-mapped IPv6 text) and 0 if it is
// neither.
func Version(s string) int {
	a, err := ParseAddr(s)
	switch {
	case err != nil:
		return 0
	case a.Is4():
		return 4
	}
	return 6
}

// addrOffset returns the numeric value of a: 32 bits for IPv4, 128 bits for
// IPv6 (a must be valid).
func addrOffset(a netip.Addr) Offset {
	if a.Is4() {
		b := a.As4()
		return Offset{Lo: uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := a.As16()
	return Offset{Hi: binary.BigEndian.Uint64(b[:8]), Lo: binary.BigEndian.Uint64(b[8:])}
}

// offsetAddr is the inverse of addrOffset. For IPv4 only the low 32 bits of
// v are used.
func offsetAddr(v Offset, ipv4 bool) netip.Addr {
	if ipv4 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(v.Lo))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], v.Hi)
	binary.BigEndian.PutUint64(b[8:], v.Lo)
	return netip.AddrFrom16(b)
}
