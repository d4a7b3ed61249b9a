package luna

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/clustervision/luna-go/internal/store"
)

// Service applies Luna's rules on top of a store.
type Service struct {
	st *store.Store

	// Machine facts, replaceable in tests.
	Now       func() time.Time
	Hostname  func() (string, error)
	Getenv    func(string) string
	IsLocalIP func(ip string) bool
	Resolves  func(host string) bool
	// Warn receives warnings (a MAC moved from another node, ...); may be nil.
	Warn func(msg string)
	// Lease is how long the lock of an object outlives a holder that died
	// (store.DefaultLease when zero).
	Lease time.Duration
}

// NewService wires a Service to the real machine.
func NewService(st *store.Store) *Service {
	return &Service{
		st:        st,
		Now:       time.Now,
		Hostname:  os.Hostname,
		Getenv:    os.Getenv,
		IsLocalIP: isLocalIP,
		Resolves: func(h string) bool {
			addrs, err := net.LookupHost(h)
			return err == nil && len(addrs) > 0
		},
	}
}

// isLocalIP reports whether ip is configured on an interface of this machine.
func isLocalIP(ip string) bool {
	want := net.ParseIP(ip)
	if want == nil {
		return false
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(want) {
			return true
		}
	}
	return false
}

// load reads one object by name and turns a miss into the 1.2 message.
func (s *Service) load(ctx context.Context, coll, name string, out any) error {
	err := s.st.GetByName(ctx, coll, name, out)
	if errors.Is(err, store.ErrNotFound) {
		return NotFound(coll, name)
	}
	return err
}

// insert stores a new named object; a taken name is the 1.2 message.
func (s *Service) insert(ctx context.Context, coll, name string, doc any) error {
	err := s.st.Insert(ctx, coll, doc)
	if errors.Is(err, store.ErrExists) {
		return AlreadyCreated(name)
	}
	return err
}

// Rename gives an object a new name; references are by id, so they follow.
// It holds the object's lock while it works (see locked).
func (s *Service) Rename(ctx context.Context, coll, kind, name, newName string) error {
	if err := ValidateName(kind, newName); err != nil {
		return err
	}
	return s.locked(ctx, coll, name, func(ctx context.Context, id store.ID) error { return s.rename(ctx, coll, kind, id, name, newName) })
}

func (s *Service) rename(ctx context.Context, coll, kind string, id store.ID, name, newName string) error {
	if err := ValidateName(kind, newName); err != nil {
		return err
	}
	if err := s.Guard(ctx); err != nil {
		return err
	}
	var other struct {
		ID store.ID `bson:"_id"`
	}
	if err := s.st.GetByName(ctx, coll, newName, &other); err == nil {
		return Failf("Object '%s' exists already", newName)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	// The unique index still decides a race between two renames.
	err := s.st.Set(ctx, coll, id, map[string]any{"name": newName})
	if errors.Is(err, store.ErrExists) {
		return Failf("Object '%s' exists already", newName)
	}
	return err
}

// deleteUnused removes an object nothing refers to.
//
// An object that starts to use it at the same moment checks, after it is
// stored, that what it refers to still exists (confirmRefs), and this checks
// the users again after the delete, putting doc back if one appeared: one of
// the two sees the other.
func (s *Service) deleteUnused(ctx context.Context, coll, name string, id store.ID, doc any) error {
	users, err := s.st.Users(ctx, coll, id)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return InUse(name, users)
	}
	if err := s.st.Delete(ctx, coll, id); errors.Is(err, store.ErrNotFound) {
		return NotFound(coll, name) // deleted at the same moment by another command
	} else if err != nil {
		return err
	}
	if users, err = s.st.Users(ctx, coll, id); err == nil && len(users) == 0 {
		return nil
	}
	if rerr := s.st.Insert(ctx, coll, doc); rerr != nil {
		return fmt.Errorf("%s was deleted while %v started to use it, and could not be put back: %w", name, users, rerr)
	}
	if err != nil {
		return err
	}
	return InUse(name, users)
}

// ref is an object another one refers to.
type ref struct {
	coll string
	id   store.ID
}

// confirmRefs checks, after an object was stored, that every object it
// refers to still exists (see deleteUnused); it names the first one gone.
func (s *Service) confirmRefs(ctx context.Context, refs ...ref) error {
	for _, r := range refs {
		var d struct {
			Name string `bson:"name"`
		}
		err := s.st.GetByID(ctx, r.coll, r.id, &d)
		if errors.Is(err, store.ErrNotFound) {
			return Failf("The %s it refers to was deleted at the same time", r.coll)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// lockWait bounds how long a change waits for another change of the same object.
const lockWait = 30 * time.Second

// locked runs fn holding the lock of the named object (store.Lock): two
// administrators changing one object at the same moment take turns instead
// of one silently undoing the other's change. fn reads the object itself,
// after the lock is taken, and works on the context it is given: the
// caller's, also cancelled should the lock be lost. The lock is renewed
// while fn runs and released when it returns; a holder that dies leaves it
// for one lease (Service.Lease).
func (s *Service) locked(ctx context.Context, coll, name string, fn func(ctx context.Context, id store.ID) error) error {
	id, err := s.IDOf(ctx, coll, name)
	if err != nil {
		return err
	}
	lctx, held, err := s.st.Lock(ctx, coll+"/"+id.Hex(), lockWait, s.Lease)
	if errors.Is(err, store.ErrLocked) {
		return Failf("'%s' is being changed by another command; try again", name)
	}
	if err != nil {
		return err
	}
	if held.TookOver {
		s.warn(fmt.Sprintf("'%s' was locked by a command that stopped without finishing (killed?); its lock was taken over", name))
	}
	err = fn(lctx, id)
	if err != nil && errors.Is(context.Cause(lctx), store.ErrLockLost) {
		err = fmt.Errorf("%w (%v)", err, context.Cause(lctx))
	}
	if rerr := held.Release(); rerr != nil {
		s.warn(rerr.Error() + "; it expires by itself")
	}
	return err
}

// byID reads the object locked() resolved, by id: no second lookup by name
// (a scan on FerretDB). A miss is the 1.2 message for name.
func (s *Service) byID(ctx context.Context, coll string, id store.ID, name string, out any) error {
	err := s.st.GetByID(ctx, coll, id, out)
	if errors.Is(err, store.ErrNotFound) {
		return NotFound(coll, name)
	}
	return err
}

// IDOf returns the id of a named object.
func (s *Service) IDOf(ctx context.Context, coll, name string) (store.ID, error) {
	var d struct {
		ID store.ID `bson:"_id"`
	}
	err := s.load(ctx, coll, name, &d)
	return d.ID, err
}

// Raw is the stored document of a named object as JSON.
func (s *Service) Raw(ctx context.Context, coll, name string) (string, error) {
	id, err := s.IDOf(ctx, coll, name)
	if err != nil {
		return "", err
	}
	return s.st.Raw(ctx, coll, id)
}

// warn reports something the administrator should know that is not an error.
func (s *Service) warn(msg string) {
	if s.Warn != nil {
		s.Warn(msg)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
