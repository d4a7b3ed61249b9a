// Package luna holds Luna's objects and their rules: validation, allocation
// of names and addresses, reference bookkeeping. The CLI and the daemons both
// go through it; it talks to the database only through package store.
package luna

import (
	"errors"
	"fmt"
	"strings"

	"github.com/clustervision/luna-go/internal/store"
)

// What went wrong, for callers that branch on it (errors.Is): every error
// the rules return wraps one of these, or none for a failure of the machine
// (no database, a disk error). The CLI turns them into exit codes.
var (
	ErrNotFound = errors.New("not found")      // the named object does not exist
	ErrExists   = errors.New("already exists") // the name or address is taken
	ErrInUse    = errors.New("in use")         // other objects still refer to it
	ErrInvalid  = errors.New("invalid value")  // a value that can never be right
	ErrRefused  = errors.New("refused")        // an action refused in the present state
)

// Error is a message meant for the administrator, of a Kind (one of the
// sentinels above, nil for a runtime failure).
type Error struct {
	Kind error
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Unwrap makes errors.Is(err, ErrNotFound) and friends work.
func (e *Error) Unwrap() error { return e.Kind }

// Failf is an action that was refused in the present state (ErrRefused).
func Failf(format string, a ...any) error {
	return &Error{Kind: ErrRefused, Msg: fmt.Sprintf(format, a...)}
}

// Invalidf is a value that can never be right (ErrInvalid).
func Invalidf(format string, a ...any) error {
	return &Error{Kind: ErrInvalid, Msg: fmt.Sprintf(format, a...)}
}

// Errorf is a failure of no particular kind (a runtime error).
func Errorf(format string, a ...any) error {
	return &Error{Msg: fmt.Sprintf(format, a...)}
}

// NotFound is the 1.2 message for a missing object (ErrNotFound).
func NotFound(coll, name string) error {
	return &Error{Kind: ErrNotFound, Msg: fmt.Sprintf("Object '%s' of type '%s' does not exist", name, coll)}
}

// AlreadyCreated is the 1.2 message for a name that is taken (ErrExists).
func AlreadyCreated(name string) error {
	return &Error{Kind: ErrExists, Msg: fmt.Sprintf("'%s' is already created", name)}
}

// InUse is the refusal to delete an object that others still refer to (ErrInUse).
func InUse(name string, users []store.Ref) error {
	parts := make([]string, len(users))
	for i, u := range users {
		parts[i] = u.String()
	}
	return &Error{Kind: ErrInUse, Msg: fmt.Sprintf("%s is a dependency for the objects: %s", name, strings.Join(parts, " "))}
}

// wrapf is err's message after a prefix, keeping its kind (so its exit
// code): an exhausted network stays a refusal, a lost database a runtime
// failure.
func wrapf(err error, format string, a ...any) error {
	msg := fmt.Sprintf(format, a...) + err.Error()
	for _, kind := range []error{ErrRefused, ErrInUse, ErrInvalid, ErrNotFound, ErrExists} {
		if errors.Is(err, kind) {
			return &Error{Kind: kind, Msg: msg}
		}
	}
	return &Error{Msg: msg}
}

// invalid marks an error of a parser (bad address or name text) as
// ErrInvalid, unless it already has a kind.
func invalid(err error) error {
	var e *Error
	var ae *AddressError
	if errors.As(err, &e) || errors.As(err, &ae) {
		return err
	}
	return &Error{Kind: ErrInvalid, Msg: err.Error()}
}
