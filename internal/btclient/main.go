// Package btclient is ltorrent-client, the node-side BitTorrent client of
// the install script: it downloads one single-file torrent into the
// current directory from every peer the tracker names (and from the
// torrent's web seed when no peer delivers), tells the install script when
// the file is complete (SIGUSR1), and seeds it to the other nodes until it
// is stopped. It is written for a trusted cluster: no choking rounds,
// every peer is served, pieces are verified as they arrive.
//
// The wire messages, the metainfo and bencode come from
// github.com/anacrolix/torrent; the client itself is this package.
package btclient

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Exit codes of Main.
const (
	ExitOK          = 0 // seeded, then stopped by SIGTERM/SIGINT
	ExitError       = 1 // a fatal error or bad usage
	ExitInterrupted = 2 // stopped by SIGTERM/SIGINT before the file was complete
)

const usage = `usage: ltorrent-client -t FILE [-p PID] [-f PIDFILE] [-b IP] [-d SECONDS]
                       [-w SECONDS] [-s SECONDS] [-T SECONDS] [-e]

Downloads the single file of torrent FILE into the current directory, sends
SIGUSR1 to PID when it is complete and verified, and seeds it until SIGTERM
or SIGINT.

  -t FILE     the .torrent file (required)
  -p PID      process that receives SIGUSR1 once the file is complete (0: none)
  -f PIDFILE  pid file, present while the client runs (default <argv0>.pid)
  -b IP       address to listen on (ports 6881-6889) and to connect from
  -d SECONDS  seconds between progress lines (default 10)
  -w SECONDS  use the web seed after this long without data from any peer (default 5)
  -s SECONDS  give up after this long without any progress (default 120)
  -T SECONDS  give up if the download takes longer (default 0: no limit)
  -e          write the download's events (start, announce, peer, first_byte,
              first_piece, last_byte, verified) as JSON lines on stderr
  -h          this help
  --version   print the version and commit, and exit

Exit status: 0 after seeding when stopped by SIGTERM/SIGINT, 1 on a fatal
error (unusable torrent, no port, disk, stalled, timed out), 2 when stopped
before the download completed (no SIGUSR1 is sent then).
`

// Main runs ltorrent-client with args (args[0] is the program name). It
// returns when ctx ends (SIGTERM/SIGINT in cmd/ltorrent-client) or on a
// fatal error, with the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	argv0 := "ltorrent-client"
	if len(args) > 0 {
		argv0, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet(argv0, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		torrent                          = fs.String("t", "", "")
		pid                              = fs.Int("p", 0, "")
		pidFile                          = fs.String("f", argv0+".pid", "")
		bind                             = fs.String("b", "", "")
		every, webAfter, stall, deadline = fs.Int("d", 10, ""), fs.Int("w", 5, ""), fs.Int("s", 120, ""), fs.Int("T", 0, "")
		help                             = fs.Bool("h", false, "")
		events                           = fs.Bool("e", false, "")
	)
	fs.Bool("version", false, "") // answered by cmd/ltorrent-client; listed in usage
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return ExitOK
		}
		fmt.Fprintf(stderr, "ltorrent-client: %v\n%s", err, usage)
		return ExitError
	}
	if *help {
		fmt.Fprint(stdout, usage)
		return ExitOK
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ltorrent-client: unexpected argument %q\n%s", fs.Arg(0), usage)
		return ExitError
	}

	// The pid file first: the install script relies on "pid file present
	// while the client runs", and it goes on every return below.
	if err := os.WriteFile(*pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		fmt.Fprintf(stderr, "ltorrent-client: write pid file: %v\n", err)
		return ExitError
	}
	defer os.Remove(*pidFile)

	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "ltorrent-client: "+format+"\n", a...)
		return ExitError
	}
	switch {
	case *torrent == "":
		return fail("-t FILE is required")
	case *pid < 0:
		return fail("-p must be a process id, got %d", *pid)
	case *every <= 0:
		return fail("-d must be at least 1 second, got %d", *every)
	case *webAfter <= 0 || *stall <= 0 || *deadline < 0:
		return fail("-w and -s must be at least 1 second and -T at least 0")
	}
	host, err := os.Hostname()
	if err != nil {
		return fail("host name: %v", err)
	}
	dir, err := os.Getwd()
	if err != nil {
		return fail("current directory: %v", err)
	}
	cfg := Config{
		Torrent:       *torrent,
		Dir:           dir,
		Bind:          *bind,
		PeerID:        PeerID(host),
		Progress:      time.Duration(*every) * time.Second,
		WebSeedAfter:  time.Duration(*webAfter) * time.Second,
		StallTimeout:  time.Duration(*stall) * time.Second,
		Timeout:       time.Duration(*deadline) * time.Second,
		Stdout:        stdout,
		CompletedHook: nil,
	}
	if *events {
		cfg.Events = stderr
	}
	if *pid > 0 {
		p := *pid
		cfg.CompletedHook = func() {
			fmt.Fprintf(stdout, "Done with torrent. Sending SIGUSR1 to PID %d\n", p)
			if err := syscall.Kill(p, syscall.SIGUSR1); err != nil {
				fmt.Fprintf(stderr, "ltorrent-client: signal %d: %v\n", p, err)
			}
		}
	} else {
		cfg.CompletedHook = func() { fmt.Fprintln(stdout, "Done with torrent.") }
	}
	err = Run(ctx, cfg)
	switch {
	case errors.Is(err, ErrInterrupted):
		fmt.Fprintln(stderr, "ltorrent-client: stopped before the download completed")
		return ExitInterrupted
	case err != nil:
		return fail("%v", err)
	}
	fmt.Fprintln(stdout, "Exit.")
	return ExitOK
}

// PeerID is a node's peer id: its host name right-aligned in 20 bytes,
// or the first 20 bytes of a longer name, as Luna 1.2's client made it
// (C's "%20s" cut to 20). internal/luna.PeerIDHex is the same rule, so
// `luna node show` finds the node's download in the tracker.
func PeerID(hostname string) [20]byte {
	var id [20]byte
	s := fmt.Sprintf("%20s", hostname)
	copy(id[:], s)
	return id
}

// safeName is the torrent's file name as a name in the save directory.
func safeName(name string) (string, error) {
	if name == "" || name == "." || name == ".." || filepath.Base(name) != name || name != filepath.Clean(name) {
		return "", fmt.Errorf("the torrent names its file %q, which is not a plain file name", name)
	}
	return name, nil
}
