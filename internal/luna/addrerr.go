package luna

import "fmt"

// AddressError is an address, MAC or prefix given on the command line that
// cannot be used. Every such error comes from BadAddress (malformed text:
// "Invalid IP '10.30.0.300' for --network: not an IPv4 or IPv6 address") or
// addressRefused (a well-formed address its network cannot take: "Network
// '10.30.0.0/16' does not contain '10.31.0.5' (--interface)"). The rules
// do not know which command-line option carried the text: the CLI fills in
// Option (the option whose value holds Text) before printing.
type AddressError struct {
	What   string // IP, MAC, network, prefix
	Text   string // the text as given
	Why    string // what is wrong with it
	Option string // e.g. --network; "" when not known
	// Field is the setting the text was meant for (ns_ip), which 1.2 named
	// its option after: the CLI prefers that option when several hold Text.
	Field string
	// Msg, when set, is the whole message of a well-formed address the
	// network cannot take (outside it, its network or broadcast address,
	// already used), and Kind what it is: ErrInvalid or ErrRefused.
	Msg  string
	Kind error
}

func (e *AddressError) Error() string {
	switch {
	case e.Msg != "" && e.Option == "":
		return e.Msg
	case e.Msg != "":
		return fmt.Sprintf("%s (%s)", e.Msg, e.Option)
	case e.Option == "":
		return fmt.Sprintf("Invalid %s '%s': %s", e.What, e.Text, e.Why)
	}
	return fmt.Sprintf("Invalid %s '%s' for %s: %s", e.What, e.Text, e.Option, e.Why)
}

// Unwrap makes errors.Is(err, ErrInvalid) hold: a malformed value, or an
// address outside its network, exits 255; a taken one (ErrRefused) 1.
func (e *AddressError) Unwrap() error {
	if e.Kind != nil {
		return e.Kind
	}
	return ErrInvalid
}

// BadAddress is the one constructor of errors for malformed text.
func BadAddress(what, text, why string) error {
	return &AddressError{What: what, Text: text, Why: why}
}

// notIP is BadAddress for text that is not an IPv4 or IPv6 address.
func notIP(what, text string) error {
	return BadAddress(what, text, "not an IPv4 or IPv6 address")
}

// forField sets the Field of an *AddressError (other errors pass).
func forField(err error, field string) error {
	if ae, ok := err.(*AddressError); ok {
		ae.Field = field
	}
	return err
}

// addressRefused is the one constructor of errors for a well-formed
// address (text) that its network cannot take, with the message msg:
// kind ErrInvalid when it never can (outside the network, its network or
// broadcast address), ErrRefused when it is taken.
func addressRefused(text string, kind error, msg string) error {
	return &AddressError{What: "IP", Text: text, Msg: msg, Kind: kind}
}
