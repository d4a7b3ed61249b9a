package luna

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/clustervision/luna-go/internal/ipam"
	"github.com/clustervision/luna-go/internal/store"
)

// undoTimeout bounds one rollback step.
const undoTimeout = 30 * time.Second

// undo runs a rollback step: what puts back the writes of a command that
// failed after some of them were stored. It runs to its end even when the
// command's context was cancelled (Ctrl-C, SIGTERM, a lost lock), because a
// half-applied change is worse than a late one, and its failure is added to
// the command's error (wrapped, so the exit code stays the cause's), naming
// what may be left behind.
func (s *Service) undo(ctx context.Context, cause error, what string, step func(ctx context.Context) error) error {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	if err := step(uctx); err != nil {
		return fmt.Errorf("%w; undoing it failed too, %s may be left behind: %v", cause, what, err)
	}
	return cause
}

// undoList collects rollback steps as a command makes its writes, and runs
// them, last first, when it fails.
type undoList struct {
	steps []undoStep
}

type undoStep struct {
	what string
	fn   func(ctx context.Context) error
}

// add records how to put back the write just made.
func (u *undoList) add(what string, fn func(ctx context.Context) error) {
	u.steps = append(u.steps, undoStep{what, fn})
}

// run undoes every recorded write (see Service.undo) and returns cause with
// the failures of the undo, if any; the list is then empty.
func (u *undoList) run(ctx context.Context, s *Service, cause error) error {
	for i := len(u.steps) - 1; i >= 0; i-- {
		cause = s.undo(ctx, cause, u.steps[i].what, u.steps[i].fn)
	}
	u.steps = nil
	return cause
}

// ipText names an address of a network for messages: "IP '10.30.0.5' in
// network 'cluster'".
func (s *Service) ipText(n *store.Network, off ipam.Offset) string {
	sub, err := subnet(n)
	if err != nil {
		return fmt.Sprintf("an address in network '%s'", n.Name)
	}
	ip, err := sub.AddrAt(off)
	if err != nil {
		return fmt.Sprintf("an address in network '%s'", n.Name)
	}
	return fmt.Sprintf("IP '%s' in network '%s'", ipam.FormatAddr(ip), n.Name)
}

// unclaim deletes the claim claimAt made for owner (a rollback step).
func (s *Service) unclaim(ctx context.Context, n *store.Network, off ipam.Offset, owner store.ID) error {
	_, err := s.st.DeleteAddresses(ctx, store.AddressFilter{Network: &n.ID, Offset: off.Key(), Owner: &owner})
	return err
}

// committed is the context of the steps that finish a change once its main
// write is stored (releasing what it replaced, settling node claims): like a
// rollback they run to their end even when the command is interrupted, so
// an interruption leaves the change either undone or complete.
func committed(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// dropClaim deletes one claim by id; a claim that is not there is not an
// error (an interrupted insert may or may not have stored it).
func (s *Service) dropClaim(ctx context.Context, id store.ID) error {
	if err := s.st.DeleteAddress(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}
