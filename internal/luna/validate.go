package luna

import (
	"regexp"
	"strings"
	"unicode"
)

var (
	// hostLabel is one DNS label: nodes, switches and other devices become
	// host names in zone files, dhcpd.conf and boot scripts.
	hostLabel = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	// domainName is a network name: it becomes a DNS zone, a zone file's
	// name and the domain of host names in dhcpd.conf and boot scripts.
	// Luna 1.2 accepted any text and sites use '_' (tight_net; BIND accepts
	// it in zone names), so only what breaks those files is refused: white
	// space, quotes, ';', '$', '/', backslashes and other punctuation, empty
	// labels and a leading '-' (it would read as an option).
	domainName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]{0,62}(\.[A-Za-z0-9_][A-Za-z0-9_-]{0,62})*$`)
	// objectName is a group, osimage or bmcsetup name: used in file names and URLs.
	objectName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	// ifaceName is a Linux interface name.
	ifaceName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,14}$`)
	macRe     = regexp.MustCompile(`^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$`)
	oidRe     = regexp.MustCompile(`^\.?[0-9]+(\.[0-9]+)+$`)
)

// Name kinds, for validation messages.
const (
	HostName   = "host name"
	DomainName = "network name"
	ObjectName = "name"
	IfaceName  = "interface name"
)

// ValidateName checks a name of the given kind; the message says what is allowed.
func ValidateName(kind, name string) error {
	var ok bool
	var rule string
	switch kind {
	case HostName:
		ok, rule = hostLabel.MatchString(name), "letters, digits and '-', up to 63 characters, not starting or ending with '-'"
	case DomainName:
		ok, rule = domainName.MatchString(name) && len(name) <= 253, "labels of letters, digits, '_' and '-' separated by '.', not starting with '-'"
	case IfaceName:
		ok, rule = ifaceName.MatchString(name), "letters, digits, '.', '_' and '-', up to 15 characters"
	default:
		ok, rule = objectName.MatchString(name), "letters, digits, '.', '_' and '-', up to 64 characters, starting with a letter or digit"
	}
	if !ok {
		return Invalidf("Invalid %s %s: use %s", kind, quote(name), rule)
	}
	return nil
}

// NormalizeMAC validates a MAC address and returns it in lower case.
func NormalizeMAC(mac string) (string, error) {
	if !macRe.MatchString(mac) {
		return "", BadAddress("MAC", mac, "not six hexadecimal pairs separated by ':'")
	}
	return strings.ToLower(mac), nil
}

// ValidateOID checks a numeric SNMP OID such as .1.3.6.1.2.1.17.7.1.2.2.1.2.
func ValidateOID(oid string) error {
	if !oidRe.MatchString(oid) {
		return Invalidf("Invalid OID %s: use the numeric form, e.g. .1.3.6.1.2.1.17.7.1.2.2.1.2", quote(oid))
	}
	return nil
}

// ValidateWord checks a value that ends up as one word in a script or a
// configuration file (SNMP communities, BMC user names, passwords): printable,
// no white space, no quotes or backslashes.
func ValidateWord(what, v string) error {
	if v == "" {
		return Invalidf("%s must not be empty", what)
	}
	for _, r := range v {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) || strings.ContainsRune("'\"`\\$", r) {
			return Invalidf("Invalid %s %s: no spaces, quotes, '$', '`' or backslashes", what, quote(v))
		}
	}
	return nil
}

// ValidateSecret checks a BMC password. It reaches a node only inside the
// install script, single-quoted there (render's shq), and lpower hands it to
// IPMI directly, so any printable text is safe, as Luna 1.2 took it: spaces,
// quotes, '$' and backslashes included. Control characters (tabs, newlines)
// are refused, since no one types them at a BMC.
func ValidateSecret(what, v string) error {
	if v == "" {
		return Invalidf("%s must not be empty", what)
	}
	for _, r := range v {
		if !unicode.IsPrint(r) {
			return Invalidf("Invalid %s %s: no control characters such as tabs or newlines", what, quote(v))
		}
	}
	return nil
}

// quote prints a user value inside single quotes with control characters escaped,
// so an error message stays on one line whatever was typed.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case !unicode.IsPrint(r):
			b.WriteString("\\x")
			b.WriteString(strings.ToLower(string("0123456789ABCDEF"[r>>4&15]) + string("0123456789ABCDEF"[r&15])))
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}
