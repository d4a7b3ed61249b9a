// Package ipam does the IP address arithmetic that Luna needs to hand out
// addresses: strict parsing and glibc-compatible formatting of IPv4 and IPv6
// addresses, networks with validated prefixes, conversion between addresses
// and offsets from the network base, and free lists built from the set of
// used offsets.
//
// Luna stores an address as an unsigned offset from its network's base
// address (the network address itself is offset 0). IPv6 networks may be
// wider than 64 bits, so offsets are 128-bit values (see [Offset]).
package ipam

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
)

// Offset is an unsigned 128-bit offset from a network's base address.
// Hi holds the upper 64 bits and Lo the lower 64 bits. The zero value is
// offset 0, the network address.
type Offset struct{ Hi, Lo uint64 }

// OffsetFrom returns v as an Offset.
func OffsetFrom(v uint64) Offset { return Offset{Lo: v} }

// Cmp compares o and p numerically and returns -1 if o < p, 0 if o == p and
// +1 if o > p.
func (o Offset) Cmp(p Offset) int {
	switch {
	case o.Hi < p.Hi:
		return -1
	case o.Hi > p.Hi:
		return 1
	case o.Lo < p.Lo:
		return -1
	case o.Lo > p.Lo:
		return 1
	}
	return 0
}

// IsZero reports whether o is offset 0.
func (o Offset) IsZero() bool { return o.Hi == 0 && o.Lo == 0 }

// Add returns o+v. The sum wraps around modulo 2^128; no network has that
// many addresses, so a wrap cannot happen for offsets that belong to a
// network.
func (o Offset) Add(v uint64) Offset {
	lo, carry := bits.Add64(o.Lo, v, 0)
	return Offset{Hi: o.Hi + carry, Lo: lo}
}

// Sub returns o-v. The difference wraps around modulo 2^128 when v > o
// (so OffsetFrom(0).Sub(1) is 2^128-1); callers that may subtract past zero
// must compare first.
func (o Offset) Sub(v uint64) Offset {
	lo, borrow := bits.Sub64(o.Lo, v, 0)
	return Offset{Hi: o.Hi - borrow, Lo: lo}
}

// add128 returns o+p modulo 2^128.
func (o Offset) add128(p Offset) Offset {
	lo, carry := bits.Add64(o.Lo, p.Lo, 0)
	hi, _ := bits.Add64(o.Hi, p.Hi, carry)
	return Offset{Hi: hi, Lo: lo}
}

// sub128 returns o-p modulo 2^128.
func (o Offset) sub128(p Offset) Offset {
	lo, borrow := bits.Sub64(o.Lo, p.Lo, 0)
	hi, _ := bits.Sub64(o.Hi, p.Hi, borrow)
	return Offset{Hi: hi, Lo: lo}
}

func (o Offset) and(p Offset) Offset { return Offset{Hi: o.Hi & p.Hi, Lo: o.Lo & p.Lo} }
func (o Offset) or(p Offset) Offset  { return Offset{Hi: o.Hi | p.Hi, Lo: o.Lo | p.Lo} }
func (o Offset) not() Offset         { return Offset{Hi: ^o.Hi, Lo: ^o.Lo} }

// maxOffset is 2^128-1, the largest representable Offset.
var maxOffset = Offset{Hi: ^uint64(0), Lo: ^uint64(0)}

// lowMask returns 2^n-1 for n in [0, 128].
func lowMask(n int) Offset {
	switch {
	case n <= 0:
		return Offset{}
	case n >= 128:
		return maxOffset
	case n >= 64:
		return Offset{Hi: 1<<(n-64) - 1, Lo: ^uint64(0)}
	}
	return Offset{Lo: 1<<n - 1}
}

// tenPow19 is the largest power of ten that fits in a uint64.
const tenPow19 = 10_000_000_000_000_000_000

// String returns o in decimal.
func (o Offset) String() string {
	return string(o.appendDecimal(nil))
}

func (o Offset) appendDecimal(buf []byte) []byte {
	if o.Hi == 0 {
		return strconv.AppendUint(buf, o.Lo, 10)
	}
	// Split o into q*10^19 + r and print q followed by r padded to 19 digits.
	// o >= 2^64 > 10^19, so q is never zero.
	q := Offset{Hi: o.Hi / tenPow19}
	var r uint64
	q.Lo, r = bits.Div64(o.Hi%tenPow19, o.Lo, tenPow19)
	buf = q.appendDecimal(buf)
	var digits [19]byte
	for i := len(digits) - 1; i >= 0; i-- {
		digits[i] = byte('0' + r%10)
		r /= 10
	}
	return append(buf, digits[:]...)
}

// ParseOffset parses a non-negative decimal integer, as produced by
// [Offset.String]. Only ASCII digits are allowed (no sign, spaces or
// underscores); leading zeros are accepted. Values of 2^128 or more are
// rejected.
func ParseOffset(s string) (Offset, error) {
	if s == "" {
		return Offset{}, errors.New("invalid offset \"\": empty string")
	}
	var o Offset
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return Offset{}, fmt.Errorf("invalid offset %q: not a decimal number", s)
		}
		// o = o*10 + digit, detecting overflow beyond 128 bits.
		hiCarry, hi := bits.Mul64(o.Hi, 10)
		loCarry, lo := bits.Mul64(o.Lo, 10)
		hi, c1 := bits.Add64(hi, loCarry, 0)
		lo, c2 := bits.Add64(lo, uint64(c-'0'), 0)
		hi, c3 := bits.Add64(hi, c2, 0)
		if hiCarry != 0 || c1 != 0 || c3 != 0 {
			return Offset{}, fmt.Errorf("invalid offset %q: exceeds 128 bits", s)
		}
		o = Offset{Hi: hi, Lo: lo}
	}
	return o, nil
}

const hexDigits = "0123456789abcdef"

// Key returns o as exactly 32 lowercase hexadecimal digits (zero padded,
// most significant first), so that byte-wise string order of keys equals the
// numeric order of the offsets. It is meant for use as a database key.
func (o Offset) Key() string {
	var buf [32]byte
	for i := 0; i < 16; i++ {
		buf[15-i] = hexDigits[(o.Hi>>(4*i))&0xf]
		buf[31-i] = hexDigits[(o.Lo>>(4*i))&0xf]
	}
	return string(buf[:])
}

// ParseKey is the inverse of [Offset.Key]. It accepts only strings of
// exactly 32 lowercase hexadecimal digits, so that every offset has exactly
// one key; upper-case digits, prefixes such as "0x", signs and other lengths
// are rejected.
func ParseKey(s string) (Offset, error) {
	if len(s) != 32 {
		return Offset{}, fmt.Errorf("invalid offset key %q: want 32 hex digits, got %d characters", s, len(s))
	}
	var o Offset
	for i := 0; i < 32; i++ {
		c := s[i]
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		default:
			return Offset{}, fmt.Errorf("invalid offset key %q: character %q is not a lowercase hex digit", s, c)
		}
		if i < 16 {
			o.Hi = o.Hi<<4 | d
		} else {
			o.Lo = o.Lo<<4 | d
		}
	}
	return o, nil
}
