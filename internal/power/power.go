// Package power switches nodes on and off through their BMCs: one Action on
// many BMCs at once, with a bounded number in flight and a time limit for
// each. The Controller interface is what talks to one BMC; IPMI is the
// implementation over IPMI v2.0 (RMCP+, ipmitool's lanplus).
package power

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Action is what lpower asks of a BMC.
type Action string

// The actions of Luna 1.2's lpower.
const (
	Status     Action = "status"     // is the chassis powered? prints on or off
	On         Action = "on"         // power up
	Off        Action = "off"        // power down (hard)
	Reset      Action = "reset"      // hard reset
	Cycle      Action = "cycle"      // power down, then up
	Identify   Action = "identify"   // identify light on for 255 s
	NoIdentify Action = "noidentify" // identify light off
)

// Actions are the valid actions, in 1.2's order.
var Actions = []Action{Status, On, Off, Reset, Cycle, Identify, NoIdentify}

// ParseAction checks an action name.
func ParseAction(s string) (Action, error) {
	for _, a := range Actions {
		if string(a) == s {
			return a, nil
		}
	}
	names := make([]string, len(Actions))
	for i, a := range Actions {
		names[i] = string(a)
	}
	return "", fmt.Errorf("invalid action %q (choose from %s)", s, strings.Join(names, ", "))
}

// DefaultPort is IPMI's UDP port.
const DefaultPort = 623

// BMC is how to reach one board management controller.
type BMC struct {
	Addr     string // IPv4 address text
	Port     int    // 0 = DefaultPort
	User     string
	Password string
}

// Controller carries out one action on one BMC. It returns the word lpower
// prints for the node: on or off for Status, the action's name otherwise.
// It must return when ctx ends.
type Controller interface {
	Do(ctx context.Context, bmc BMC, a Action) (string, error)
}

// Reasons a BMC could not be driven, for errors.Is.
var (
	ErrUnreachable    = errors.New("unreachable")
	ErrBadCredentials = errors.New("bad credentials")
	ErrInterrupted    = errors.New("interrupted")
)

// Job is one node's BMC.
type Job struct {
	Node string
	BMC  BMC
}

// Result is what became of one Job: Word on success, Err otherwise.
type Result struct {
	Node string
	Word string
	Err  error
}

// Pool runs one action on many BMCs.
type Pool struct {
	Controller Controller
	Parallel   int           // BMCs in flight at most; < 1 means 1
	Timeout    time.Duration // for each BMC, session and command together; 0 = none
}

// Run carries out a on every job and returns the results in job order. A
// BMC that does not finish within Timeout is reported unreachable; when ctx
// ends, jobs not yet finished are reported interrupted.
func (p *Pool) Run(ctx context.Context, a Action, jobs []Job) []Result {
	results := make([]Result, len(jobs))
	next := make(chan int)
	workers := max(p.Parallel, 1)
	workers = min(workers, len(jobs))
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = p.one(ctx, a, jobs[i])
			}
		}()
	}
feed:
	for i := range jobs {
		select {
		case next <- i:
		case <-ctx.Done():
			for j := i; j < len(jobs); j++ {
				results[j] = Result{Node: jobs[j].Node, Err: ErrInterrupted}
			}
			break feed
		}
	}
	close(next)
	wg.Wait()
	return results
}

func (p *Pool) one(ctx context.Context, a Action, j Job) Result {
	jctx, cancel := ctx, context.CancelFunc(func() {})
	if p.Timeout > 0 {
		jctx, cancel = context.WithTimeout(ctx, p.Timeout)
	}
	defer cancel()
	if ended(ctx) {
		return Result{Node: j.Node, Err: ErrInterrupted}
	}
	word, err := p.Controller.Do(jctx, j.BMC, a)
	switch {
	case err == nil:
		return Result{Node: j.Node, Word: word}
	case ended(ctx):
		err = ErrInterrupted
	case ended(jctx):
		err = fmt.Errorf("%w: %s: no answer within %s", ErrUnreachable, j.BMC.Addr, p.Timeout)
	}
	return Result{Node: j.Node, Err: err}
}

// ended reports whether ctx is done or its deadline has passed: a UDP read
// deadline taken from ctx can expire a moment before ctx itself says so.
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}
