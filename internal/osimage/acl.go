package osimage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// POSIX ACL tags of Linux's system.posix_acl_* attribute format.
const (
	aclUserObj  = 0x01
	aclUser     = 0x02
	aclGroupObj = 0x04
	aclGroup    = 0x08
	aclMask     = 0x10
	aclOther    = 0x20
	aclVersion  = 2
	aclEntry    = 8
)

// ACLText turns the value of a system.posix_acl_access or
// system.posix_acl_default attribute into the text GNU tar 1.34 stores in
// SCHILY.acl.access / SCHILY.acl.default and gives to acl_from_text(3) on
// extraction: one entry a line, `user::rw-`, `user:1000:r--`, ...,
// with numeric ids.
func ACLText(v []byte) (string, error) {
	if len(v) < 4 || (len(v)-4)%aclEntry != 0 {
		return "", errors.New("malformed POSIX ACL")
	}
	if ver := binary.LittleEndian.Uint32(v); ver != aclVersion {
		return "", fmt.Errorf("POSIX ACL version %d, want %d", ver, aclVersion)
	}
	var b strings.Builder
	for e := v[4:]; len(e) > 0; e = e[aclEntry:] {
		tag := binary.LittleEndian.Uint16(e)
		perm := binary.LittleEndian.Uint16(e[2:])
		id := binary.LittleEndian.Uint32(e[4:])
		switch tag {
		case aclUserObj:
			b.WriteString("user::")
		case aclUser:
			fmt.Fprintf(&b, "user:%d:", id)
		case aclGroupObj:
			b.WriteString("group::")
		case aclGroup:
			fmt.Fprintf(&b, "group:%d:", id)
		case aclMask:
			b.WriteString("mask::")
		case aclOther:
			b.WriteString("other::")
		default:
			return "", fmt.Errorf("POSIX ACL entry with unknown tag %#x", tag)
		}
		for i, c := range "rwx" {
			if perm&(4>>i) != 0 {
				b.WriteRune(c)
			} else {
				b.WriteByte('-')
			}
		}
		b.WriteByte('\n')
	}
	return b.String(), nil
}
