package luna

import "fmt"

// AddressError is a malformed address, MAC or prefix: every such error
// comes from BadAddress, so they all read
// "Invalid IP '10.30.0.300' for --network: not an IPv4 or IPv6 address".
// The rules do not know which command-line option carried the text: the
// CLI fills in Option (the option whose value holds Text) before printing.
type AddressError struct {
	What   string // IP, MAC, network, prefix
	Text   string // the text as given
	Why    string // what is wrong with it
	Option string // e.g. --network; "" when not known
}

func (e *AddressError) Error() string {
	if e.Option == "" {
		return fmt.Sprintf("Invalid %s '%s': %s", e.What, e.Text, e.Why)
	}
	return fmt.Sprintf("Invalid %s '%s' for %s: %s", e.What, e.Text, e.Option, e.Why)
}

// Unwrap makes errors.Is(err, ErrInvalid) hold: a malformed value exits 255.
func (e *AddressError) Unwrap() error { return ErrInvalid }

// BadAddress is the one constructor of address errors.
func BadAddress(what, text, why string) error {
	return &AddressError{What: what, Text: text, Why: why}
}

// notIP is BadAddress for text that is not an IPv4 or IPv6 address.
func notIP(what, text string) error {
	return BadAddress(what, text, "not an IPv4 or IPv6 address")
}
