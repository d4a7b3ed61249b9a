// Package macupdater learns which MAC addresses are behind which switch
// ports, as lweb's MAC updater did in Luna 1.2: it reads every switch's
// forwarding table over SNMP and keeps the switch_mac collection, which
// `luna cluster listmacs` shows and boot discovery uses to recognise a node
// by the port it is cabled to.
package macupdater

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clustervision/luna-go/internal/luna"
)

// Defaults of an Updater.
const (
	DefaultInterval = 30 * time.Second
	DefaultParallel = 8
	// ExpireAfter is how many intervals a MAC that is no longer seen stays
	// (1.2's TTL of 300 s with its 30 s interval).
	ExpireAfter = 10
)

// OIDs read from every switch besides its forwarding table.
const (
	// OIDQBridgeFdbPort is dot1qTpFdbPort, indexed by FDB id and MAC.
	OIDQBridgeFdbPort = ".1.3.6.1.2.1.17.7.1.2.2.1.2"
	// OIDBridgeFdbPort is dot1dTpFdbPort, indexed by MAC.
	OIDBridgeFdbPort = ".1.3.6.1.2.1.17.4.3.1.2"
	// OIDIfName is ifName, indexed by ifIndex.
	OIDIfName = ".1.3.6.1.2.1.31.1.1.1.1"
	// OIDBasePortIfIndex is dot1dBasePortIfIndex: bridge port -> ifIndex.
	OIDBasePortIfIndex = ".1.3.6.1.2.1.17.1.4.1.2"
)

// Updater reads the switches' forwarding tables into switch_mac.
type Updater struct {
	Svc      *luna.Service
	Walker   Walker           // nil: NewSNMPWalker()
	Interval time.Duration    // between passes; 0: DefaultInterval
	Log      *slog.Logger     // nil: slog.Default()
	Now      func() time.Time // nil: time.Now
	Parallel int              // switches read at once; 0: DefaultParallel

	passes   atomic.Int64
	learned  atomic.Int64
	failures atomic.Int64
	expired  atomic.Int64
	lastPass atomic.Int64 // Unix nanoseconds; 0 before the first pass
	passive  atomic.Bool

	mu      sync.Mutex
	problem map[luna.ID]string // the last problem logged per switch
}

// Stats are the updater's counters since it was created, for metrics.
type Stats struct {
	Passes   int64     // passes completed
	Learned  int64     // MAC sightings new to switch_mac (1.2's "new mac addresses")
	Failures int64     // switch reads that failed
	Expired  int64     // sightings removed because no longer seen
	LastPass time.Time // end of the last pass; zero before the first
	Passive  bool      // the last check found this node passive
}

// Stats returns the counters; safe while Run is going.
func (u *Updater) Stats() Stats {
	s := Stats{
		Passes:   u.passes.Load(),
		Learned:  u.learned.Load(),
		Failures: u.failures.Load(),
		Expired:  u.expired.Load(),
		Passive:  u.passive.Load(),
	}
	if ns := u.lastPass.Load(); ns != 0 {
		s.LastPass = time.Unix(0, ns)
	}
	return s
}

func (u *Updater) interval() time.Duration {
	if u.Interval > 0 {
		return u.Interval
	}
	return DefaultInterval
}

func (u *Updater) log() *slog.Logger {
	if u.Log != nil {
		return u.Log
	}
	return slog.Default()
}

func (u *Updater) now() time.Time {
	if u.Now != nil {
		return u.Now()
	}
	return time.Now()
}

func (u *Updater) walker() Walker {
	if u.Walker != nil {
		return u.Walker
	}
	return NewSNMPWalker()
}

// Run makes a pass at once and then one Interval after the end of each
// pass, until ctx ends. Before each pass it asks whether this node is the
// active master; a passive node does nothing (and says so once).
func (u *Updater) Run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		active, err := u.Svc.IsActive(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			u.log().Warn("MAC updater: cannot tell whether this node is active", "err", err)
		case !active:
			if !u.passive.Swap(true) {
				u.log().Info("This is passive node. Doing nothing.")
			}
		default:
			if u.passive.Swap(false) {
				u.log().Info("This node is active now: learning MAC addresses from the switches.")
			}
			if _, err := u.Pass(ctx); err != nil && ctx.Err() == nil {
				u.log().Warn("MAC updater pass failed", "err", err)
			}
		}
		timer.Reset(u.interval())
	}
}

// Pass reads every switch once (several at a time), records what it saw,
// and removes the sightings older than ExpireAfter intervals. It returns
// how many sightings were new. A switch that cannot be read is logged and
// counted in Stats().Failures and does not stop the others; err is what
// kept the pass itself from working (the database).
func (u *Updater) Pass(ctx context.Context) (added int, err error) {
	start := u.now()
	targets, err := u.Svc.SwitchTargets(ctx)
	if err != nil {
		return 0, fmt.Errorf("list switches: %w", err)
	}
	parallel := u.Parallel
	if parallel <= 0 {
		parallel = DefaultParallel
	}
	var (
		total atomic.Int64
		wg    sync.WaitGroup
		sem   = make(chan struct{}, parallel)
	)
	for _, t := range targets {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			n, skipped, err := u.readSwitch(ctx, t, start)
			total.Add(int64(n))
			if ctx.Err() == nil { // not a switch's fault when lweb stops
				u.report(t, skipped, err)
			}
		}()
	}
	wg.Wait()
	u.forgetOthers(targets)
	added = int(total.Load())
	u.learned.Add(int64(added))
	if added > 0 {
		u.log().Info(fmt.Sprintf("Added %d new mac addresses.", added))
	}
	expired, err := u.Svc.ExpireLearnedMACs(ctx, start.Add(-ExpireAfter*u.interval()))
	u.expired.Add(expired)
	if err != nil {
		return added, err
	}
	u.passes.Add(1)
	u.lastPass.Store(u.now().UnixNano())
	return added, nil
}

// report logs how reading one switch went. A problem is logged as a
// warning when it appears or changes and at debug level while it lasts, so
// that a dead switch does not fill the log every 30 s; the return to
// health is logged too.
func (u *Updater) report(t luna.SwitchTarget, skipped int, err error) {
	var msg, key string
	var re *readError
	switch {
	case errors.As(err, &re):
		u.failures.Add(1)
		msg, key = err.Error(), "read" // the text varies (socket addresses)
	case err != nil:
		u.failures.Add(1)
		msg, key = err.Error(), err.Error()
	case skipped > 0:
		msg = fmt.Sprintf("skipped %d entries of %s that are not a MAC address with a port number: is the oid the port column of the forwarding table (%s or %s)?",
			skipped, t.OID, OIDQBridgeFdbPort, OIDBridgeFdbPort)
		key = msg
	}
	u.mu.Lock()
	if u.problem == nil {
		u.problem = map[luna.ID]string{}
	}
	prev, had := u.problem[t.ID]
	if key == "" {
		delete(u.problem, t.ID)
	} else {
		u.problem[t.ID] = key
	}
	u.mu.Unlock()
	attrs := []any{"switch", t.Name, "ip", t.IP}
	switch {
	case key == "" && had:
		u.log().Info("MAC updater: switch "+t.Name+" reads fine again", attrs...)
	case key == "":
	case had && prev == key:
		u.log().Debug("MAC updater: switch "+t.Name+": "+msg, attrs...)
	default:
		u.log().Warn("MAC updater: switch "+t.Name+": "+msg, attrs...)
	}
}

// forgetOthers drops the remembered problems of deleted switches.
func (u *Updater) forgetOthers(targets []luna.SwitchTarget) {
	keep := make(map[luna.ID]bool, len(targets))
	for _, t := range targets {
		keep[t.ID] = true
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for id := range u.problem {
		if !keep[id] {
			delete(u.problem, id)
		}
	}
}

// readError is a failed walk: the switch did not answer, or not in time.
type readError struct {
	oid string
	err error
}

func (e *readError) Error() string { return "read " + e.oid + ": " + e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// fdbEntry is one row of a forwarding table.
type fdbEntry struct {
	mac  string
	port int64
}

// readSwitch walks one switch and upserts what it found. skipped counts
// forwarding-table rows that were not a MAC with a port number.
func (u *Updater) readSwitch(ctx context.Context, t luna.SwitchTarget, now time.Time) (added, skipped int, err error) {
	if t.IP == "" {
		return 0, 0, errors.New("it has no IP address")
	}
	oid, err := FDBColumn(t.OID)
	if err != nil {
		return 0, 0, err
	}
	w := u.walker()
	var entries []fdbEntry
	err = w.Walk(ctx, t, oid, func(name string, v any) error {
		index, below := strings.CutPrefix(name, oid+".")
		mac, ok := MACFromIndex(index)
		port, isInt := v.(int64)
		if !below || !ok || !isInt || port < 0 {
			skipped++
			return nil
		}
		entries = append(entries, fdbEntry{mac, port})
		return nil
	})
	if err != nil {
		return 0, skipped, &readError{oid, err}
	}
	if len(entries) == 0 {
		return 0, skipped, nil
	}
	names := map[int64]string{}
	err = w.Walk(ctx, t, OIDIfName, func(name string, v any) error {
		if idx, ok := lastSubID(name); ok {
			if s, ok := v.(string); ok {
				names[idx] = s
			}
		}
		return nil
	})
	if err != nil {
		return 0, skipped, &readError{OIDIfName, err}
	}
	ifIndex := map[int64]int64{}
	err = w.Walk(ctx, t, OIDBasePortIfIndex, func(name string, v any) error {
		if port, ok := lastSubID(name); ok {
			if idx, ok := v.(int64); ok {
				ifIndex[port] = idx
			}
		}
		return nil
	})
	if err != nil {
		return 0, skipped, &readError{OIDBasePortIfIndex, err}
	}
	for _, e := range entries {
		port := strconv.FormatInt(e.port, 10)
		portName := port
		if idx, ok := ifIndex[e.port]; ok && names[idx] != "" {
			portName = names[idx]
		}
		created, err := u.Svc.UpsertLearnedMAC(ctx, luna.LearnedMAC{
			Switch: t.ID, MAC: e.mac, Port: port, PortName: portName, Updated: now,
		})
		if err != nil {
			return added, skipped, err
		}
		if created {
			added++
		}
	}
	return added, skipped, nil
}

// FDBColumn checks a switch's oid and returns it with a leading dot. The
// oid must name the port column of a forwarding table; the table or its
// entry (.1.3.6.1.2.1.17.7.1.2.2, as 1.2's manual page suggested, or
// .1.3.6.1.2.1.17.4.3) is refused, because walking it would read every
// column and store the other columns' values as ports.
func FDBColumn(oid string) (string, error) {
	if err := luna.ValidateOID(oid); err != nil {
		return "", fmt.Errorf("oid %q is not a numeric OID", oid)
	}
	if !strings.HasPrefix(oid, ".") {
		oid = "." + oid
	}
	for _, col := range []string{OIDQBridgeFdbPort, OIDBridgeFdbPort} {
		if strings.HasPrefix(col, oid+".") {
			return "", fmt.Errorf("oid %s is the whole forwarding table, not its port column: set it with `luna switch change NAME --oid %s`", oid, col)
		}
	}
	return oid, nil
}

// MACFromIndex turns the index of a forwarding-table row into a MAC
// address: the MAC is the last 6 sub-identifiers, each 0-255, written as
// two lower-case hex digits joined by ':'. The index is the 6 octets
// (dot1dTpFdbTable) or an FDB id and the 6 octets (dot1qTpFdbTable).
func MACFromIndex(index string) (string, bool) {
	subs := strings.Split(index, ".")
	if len(subs) != 6 && len(subs) != 7 {
		return "", false
	}
	if len(subs) == 7 {
		if _, err := strconv.ParseUint(subs[0], 10, 32); err != nil {
			return "", false
		}
		subs = subs[1:]
	}
	var b strings.Builder
	for i, s := range subs {
		n, err := strconv.ParseUint(s, 10, 8)
		if err != nil {
			return "", false
		}
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02x", n)
	}
	return b.String(), true
}

// lastSubID is the last sub-identifier of a numeric OID.
func lastSubID(oid string) (int64, bool) {
	i := strings.LastIndexByte(oid, '.')
	n, err := strconv.ParseInt(oid[i+1:], 10, 64)
	return n, err == nil
}
