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

// Exit codes, as Luna 1.2: a refused or failed action is 1, a runtime error
// (not found, already exists, invalid value, no database) is 255.
const (
	ExitFailed  = 1
	ExitRuntime = 255
)

// Error is a message meant for the administrator, with the exit code the
// CLI should end with.
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Failf is an action that was refused (exit 1).
func Failf(format string, a ...any) error {
	return &Error{Code: ExitFailed, Msg: fmt.Sprintf(format, a...)}
}

// Errorf is a runtime error (exit 255).
func Errorf(format string, a ...any) error {
	return &Error{Code: ExitRuntime, Msg: fmt.Sprintf(format, a...)}
}

// NotFound is the 1.2 message for a missing object.
func NotFound(coll, name string) error {
	return Errorf("Object '%s' of type '%s' does not exist", name, coll)
}

// AlreadyCreated is the 1.2 message for a name that is taken.
func AlreadyCreated(name string) error { return Errorf("'%s' is already created", name) }

// InUse is the refusal to delete an object that others still refer to.
func InUse(name string, users []store.Ref) error {
	parts := make([]string, len(users))
	for i, u := range users {
		parts[i] = u.String()
	}
	return &Error{Code: ExitFailed, Msg: fmt.Sprintf("%s is a dependency for the objects: %s", name, strings.Join(parts, " "))}
}

// ExitCode maps any error to the exit code the CLI returns.
func ExitCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ExitRuntime
}
