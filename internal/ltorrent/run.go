// Package ltorrent is Luna's seeder: it seeds, on the stock
// anacrolix/torrent client, every image tarball `luna osimage pack` wrote
// to <path>/torrents, announces it to lweb's tracker with the server peer
// id, and deletes the tarballs no osimage refers to any more once nodes
// stopped downloading them (docs/ltorrent.md).
package ltorrent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
	"golang.org/x/time/rate"

	"github.com/clustervision/luna-go/internal/daemon"
	"github.com/clustervision/luna-go/internal/luna"
)

// Service is what ltorrent asks the domain layer; luna.Service has it.
type Service interface {
	Domain
	SeedingSettings(ctx context.Context) (*luna.Seeding, error)
}

// Config is what Run needs.
type Config struct {
	Svc Service
	Log *slog.Logger
	// Rescan receives a value for each SIGHUP: read the directory and the
	// osimages again at once.
	Rescan <-chan struct{}
	// Pass is the time between two passes over the table (default 5 s).
	Pass time.Duration
	// Ready, when set, is called with the listen address once ltorrent
	// listens and its pidfile is written.
	Ready func(addr string)
}

// DefaultPass is how often ltorrent looks at the directory and the database.
const DefaultPass = 5 * time.Second

// maxRequestData is the request data anacrolix allocates per peer and the
// upload limiter's burst: with the 1 MiB default, peers stall after about
// 2 MiB (PORTING.md).
const maxRequestData = 64 << 20

// connsPerTorrent bounds the peers one torrent is seeded to at once
// (anacrolix's default, 50, is below the nodes of one rack booting).
const connsPerTorrent = 1024

// Run listens on the first free port of the cluster's range on the bind
// address, writes the pidfile, and seeds until ctx ends; then it announces
// `stopped` for every torrent, closes the client and removes the pidfile.
// The seeding loop runs as an internal/daemon worker (systemd READY=1 and
// STOPPING=1 come from there).
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Log
	set, err := cfg.Svc.SeedingSettings(ctx)
	if err != nil {
		return fmt.Errorf("read the cluster settings (run luna cluster init first): %w", err)
	}
	ip := net.ParseIP(set.BindIP)
	if ip == nil {
		return fmt.Errorf("bind address %q is not an IP address (frontend_address or cluster_ips)", set.BindIP)
	}
	if err := checkPidfile(set.Pidfile); err != nil {
		return err
	}
	cl, port, err := listen(set, ip, log)
	if err != nil {
		return err
	}
	defer func() {
		for _, err := range cl.Close() {
			log.Warn("closing the torrent client", "err", err)
		}
	}()
	if err := writePidfile(set.Pidfile); err != nil {
		return err
	}
	defer releasePidfile(set.Pidfile)
	addr := net.JoinHostPort(set.BindIP, strconv.Itoa(port))
	s := &seeder{cl: cl, svc: cfg.Svc, log: log, ip: ip, port: port, now: time.Now,
		set: set, scanner: newScanner(set.TorrentsDir),
		entries: map[string]*entry{}, seeds: map[metainfo.Hash]*seeding{}}
	pass := cfg.Pass
	if pass <= 0 {
		pass = DefaultPass
	}
	d := &daemon.Daemon{
		Log:     log,
		Workers: []func(context.Context) error{func(ctx context.Context) error { return s.run(ctx, pass, cfg.Rescan) }},
		Ready: func() {
			log.Info("ltorrent listening", "address", addr, "torrents", set.TorrentsDir, "pidfile", set.Pidfile,
				"soft_timeout", set.SoftTimeout, "hard_timeout", set.HardTimeout)
			if cfg.Ready != nil {
				cfg.Ready(addr)
			}
		},
	}
	return d.Run(ctx)
}

// listen starts the torrent client on the first port of the range that is
// free on ip.
func listen(set *luna.Seeding, ip net.IP, log *slog.Logger) (*torrent.Client, int, error) {
	cc := torrent.NewDefaultClientConfig()
	cc.Seed = true
	cc.NoDHT = true
	cc.DisablePEX = true
	cc.NoDefaultPortForwarding = true
	cc.DisableTrackers = true // announced by announcer, at the tracker's interval
	cc.DisableWebseeds = true
	cc.DisableWebtorrent = true
	cc.DisableUTP = true // TCP only: the nodes' clients all speak it
	cc.DisableAcceptRateLimiting = true
	cc.PeerID = ServerPeerID
	cc.DataDir = set.TorrentsDir
	// Part files on (the default): a tarball with the length the torrent
	// says counts as complete, with no hashing at start (as 1.2's
	// seed_mode). pack publishes tarballs by renaming a finished file.
	cc.DefaultStorage = storage.NewFileOpts(storage.NewFileClientOpts{ClientBaseDir: set.TorrentsDir})
	cc.MaxAllocPeerRequestDataPerConn = maxRequestData
	cc.UploadRateLimiter = rate.NewLimiter(rate.Inf, maxRequestData)
	cc.EstablishedConnsPerTorrent = connsPerTorrent
	cc.Slogger = slog.New(minLevel{log.Handler(), slog.LevelWarn}).With("component", "anacrolix")
	host := ip.String()
	cc.ListenHost = func(string) string { return host }
	if ip4 := ip.To4(); ip4 != nil {
		cc.PublicIp4 = ip4
		cc.DisableIPv6 = true
	} else {
		cc.PublicIp6 = ip
		cc.DisableIPv4 = true
	}
	var busy error
	for p := set.PortMin; p <= set.PortMax; p++ {
		addr := net.JoinHostPort(host, strconv.Itoa(p))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				busy = err
				continue
			}
			return nil, 0, fmt.Errorf("listen on %s: %w", addr, err)
		}
		_ = l.Close()
		cc.ListenPort = p
		cl, err := torrent.NewClient(cc)
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) { // taken meanwhile
				busy = err
				continue
			}
			return nil, 0, fmt.Errorf("start the torrent client on %s: %w", addr, err)
		}
		return cl, p, nil
	}
	return nil, 0, fmt.Errorf("no free port in %d-%d on %s (torrent_listen_port_min/max): %v",
		set.PortMin, set.PortMax, host, busy)
}

// minLevel drops records below a level (anacrolix logs much at Info).
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.min}
}
