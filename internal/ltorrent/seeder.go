package ltorrent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/clustervision/luna-go/internal/luna"
)

// entry is one torrent of the directory that ltorrent seeds.
type entry struct {
	c             *candidate
	active        bool      // some osimage refers to it
	inactiveSince time.Time // when it stopped being referenced
	lastUpload    time.Time // when its upload counter last moved (while inactive)
	uploaded      int64
}

// seeding is one torrent in the client, shared by the entries with its info
// hash (copies of one .torrent under other names).
type seeding struct {
	t    *torrent.Torrent
	stop context.CancelFunc // ends the announcer, which then says `stopped`
}

// seeder owns the table of torrents. Only its loop goroutine touches it:
// rescans asked for by SIGHUP go through a channel to the same loop, so a
// signal never races a pass (1.2 bug 26).
type seeder struct {
	cl   *torrent.Client
	svc  Service
	log  *slog.Logger
	ip   net.IP
	port int
	now  func() time.Time

	set     *luna.Seeding
	scanner *scanner
	dirErr  string // the torrents directory's error, as last logged

	entries  map[string]*entry // by id
	seeds    map[metainfo.Hash]*seeding
	marker   string
	refs     map[string]bool // ids osimages refer to
	missing  string          // referenced ids without a torrent, as last logged
	annCtx   context.Context // parent of the announcers: lives until the seeder stops
	announce sync.WaitGroup
}

// Domain is what a pass asks the domain layer.
type Domain interface {
	SeedingMarker(ctx context.Context) (string, error)
	ReferencedTorrents(ctx context.Context) (map[string]bool, error)
	// Downloading counts the peers the tracker saw still downloading,
	// by hex info hash.
	Downloading(ctx context.Context, infoHashes []string) (map[string]int, error)
}

// run is the loop that owns the table: a pass every interval and at each
// rescan, until ctx ends; then every torrent announces `stopped`.
func (s *seeder) run(ctx context.Context, every time.Duration, rescan <-chan struct{}) error {
	s.annCtx = ctx
	tick := time.NewTicker(every)
	defer tick.Stop()
	s.pass(ctx, true)
	for {
		select {
		case <-ctx.Done():
			s.log.Info("stopping: announcing stopped", "torrents", len(s.seeds))
			s.stop()
			return nil
		case <-tick.C:
			s.pass(ctx, false)
		case <-rescan:
			s.log.Info("re-reading torrent files and osimages")
			s.pass(ctx, true)
		}
	}
}

// pass brings the table up to date: the referenced ids when the change
// marker moved (or force), the directory, the active flags, retirements.
func (s *seeder) pass(ctx context.Context, force bool) {
	if err := s.readRefs(ctx, force); err != nil {
		// Without the database nothing is retired: an unreadable osimage
		// list must not look like "nothing is referenced".
		s.log.Warn("cannot read the osimages; seeding what is on disk, retiring nothing", "err", err)
		s.refs = nil
	}
	found, skipped, err := s.scanner.scan()
	if err != nil {
		if err.Error() != s.dirErr {
			s.dirErr = err.Error()
			s.log.Error("cannot read the torrents directory; seeding nothing new", "err", err)
		}
		return
	}
	s.dirErr = ""
	for name, reason := range skipped {
		s.log.Warn("not seeding "+name, "reason", reason)
	}
	now := s.now()
	// Gone from disk (removed by hand): stop seeding, delete nothing.
	for id, e := range s.entries {
		if c, ok := found[id]; !ok || c.infoHash != e.c.infoHash {
			s.log.Warn("torrent file gone or replaced on disk; no longer seeding the old one", "id", id, "file", filepath.Base(e.c.file))
			s.forget(id)
		}
	}
	ids := make([]string, 0, len(found))
	for id := range found {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if _, ok := s.entries[id]; ok {
			continue
		}
		if err := s.add(found[id], now); err != nil {
			s.log.Error("cannot seed", "id", id, "err", err)
		}
	}
	if s.refs == nil {
		return
	}
	s.reportMissing(found)
	busy := s.downloading(ctx)
	for _, id := range ids {
		e := s.entries[id]
		if e == nil {
			continue
		}
		s.evaluate(id, e, now, busy[e.c.infoHash.HexString()])
	}
}

// downloading asks the tracker which unreferenced torrents nodes still
// download (also from the web seed, which ltorrent does not see); nil when
// every torrent is referenced or the tracker cannot be read.
func (s *seeder) downloading(ctx context.Context) map[string]int {
	var hashes []string
	for id, e := range s.entries {
		if !s.refs[id] {
			hashes = append(hashes, e.c.infoHash.HexString())
		}
	}
	if len(hashes) == 0 {
		return nil
	}
	busy, err := s.svc.Downloading(ctx, hashes)
	if err != nil {
		s.log.Warn("cannot read the tracker's peers; judging by uploads alone", "err", err)
		return nil
	}
	return busy
}

// readRefs reads the referenced ids again when the change marker moved.
func (s *seeder) readRefs(ctx context.Context, force bool) error {
	m, err := s.svc.SeedingMarker(ctx)
	if err != nil {
		return err
	}
	if !force && s.refs != nil && m == s.marker {
		return nil
	}
	refs, err := s.svc.ReferencedTorrents(ctx)
	if err != nil {
		return err
	}
	set, err := s.svc.SeedingSettings(ctx)
	if err != nil {
		return err
	}
	if set.SoftTimeout != s.set.SoftTimeout || set.HardTimeout != s.set.HardTimeout {
		s.log.Info("new timeouts", "soft_timeout", set.SoftTimeout, "hard_timeout", set.HardTimeout)
		s.set.SoftTimeout, s.set.HardTimeout = set.SoftTimeout, set.HardTimeout
	}
	if set.TorrentsDir != s.set.TorrentsDir || set.BindIP != s.set.BindIP || set.Pidfile != s.set.Pidfile ||
		set.PortMin != s.set.PortMin || set.PortMax != s.set.PortMax {
		s.log.Warn("the cluster's path, address, port range or pidfile changed: restart ltorrent to apply")
	}
	s.refs, s.marker = refs, m
	return nil
}

// reportMissing logs, when the set changes, the osimages' torrents that
// are not on disk (nodes of those images cannot install).
func (s *seeder) reportMissing(found map[string]*candidate) {
	var miss []string
	for id := range s.refs {
		if found[id] == nil {
			miss = append(miss, id)
		}
	}
	sort.Strings(miss)
	if m := strings.Join(miss, ","); m != s.missing {
		s.missing = m
		if m != "" {
			s.log.Error("osimages refer to torrents that are not in the torrents directory (or not seedable)", "ids", m)
		}
	}
}

// evaluate updates one entry's active flag and retires it when its time
// is up. Active is computed again on every pass, so an osimage pointed back
// at an older torrent keeps it (1.2 bug 28). downloaders is the number of
// nodes the tracker saw still downloading it: like an upload, they keep
// an unreferenced torrent from the soft timeout.
func (s *seeder) evaluate(id string, e *entry, now time.Time, downloaders int) {
	sd := s.seeds[e.c.infoHash]
	up := uploaded(sd.t)
	active := s.refs[id]
	switch {
	case active && !e.active:
		s.log.Info("torrent referenced again", "id", id)
	case !active && e.active:
		s.log.Info("torrent no longer referenced by any osimage; seeding it while nodes download it", "id", id,
			"soft_timeout", s.set.SoftTimeout, "hard_timeout", s.set.HardTimeout)
		e.inactiveSince, e.lastUpload, e.uploaded = now, now, up
	}
	e.active = active
	if active {
		return
	}
	if up != e.uploaded || downloaders > 0 {
		e.uploaded, e.lastUpload = up, now
	}
	var why string
	switch {
	case now.Sub(e.lastUpload) >= s.set.SoftTimeout:
		why = fmt.Sprintf("nothing uploaded and no node downloading for %s (torrent_soft_timeout)", s.set.SoftTimeout)
	case now.Sub(e.inactiveSince) >= s.set.HardTimeout:
		why = fmt.Sprintf("unreferenced for %s (torrent_hard_timeout)", s.set.HardTimeout)
	default:
		return
	}
	s.retire(id, why) // once: the entry leaves the table (1.2 bug 27)
}

// add starts seeding a torrent found on disk.
func (s *seeder) add(c *candidate, now time.Time) error {
	if _, ok := s.seeds[c.infoHash]; !ok {
		t, _ := s.cl.AddTorrentOpt(torrent.AddTorrentOpts{
			InfoHash:             c.infoHash,
			InfoBytes:            c.mi.InfoBytes,
			DisallowDataDownload: true,
		})
		<-t.GotInfo()
		actx, stop := context.WithCancel(s.annCtx)
		sd := &seeding{t: t, stop: stop}
		a := &announcer{urls: trackerURLs(c.mi), infoHash: c.infoHash, ip: s.ip, port: s.port,
			uploaded: func() int64 { return uploaded(t) },
			log:      s.log.With("id", c.id)}
		s.announce.Add(1)
		go func() {
			defer s.announce.Done()
			a.run(actx)
		}()
		s.seeds[c.infoHash] = sd
		if len(a.urls) == 0 {
			s.log.Warn("torrent names no HTTP tracker; nodes can only find it by other means", "id", c.id)
		}
	}
	e := &entry{c: c, active: s.refs[c.id], inactiveSince: now, lastUpload: now}
	e.uploaded = uploaded(s.seeds[c.infoHash].t)
	s.entries[c.id] = e
	s.log.Info("seeding", "id", c.id, "tarball", filepath.Base(c.tarball), "info_hash", c.infoHash.HexString(),
		"referenced", e.active)
	return nil
}

// forget stops seeding an entry; the files stay.
func (s *seeder) forget(id string) {
	e := s.entries[id]
	delete(s.entries, id)
	s.release(e.c.infoHash)
}

// release drops a torrent from the client once no entry uses it; its
// announcer says `stopped` in the background.
func (s *seeder) release(h metainfo.Hash) {
	for _, o := range s.entries {
		if o.c.infoHash == h {
			return
		}
	}
	sd := s.seeds[h]
	if sd == nil {
		return
	}
	delete(s.seeds, h)
	sd.stop()
	sd.t.Drop()
}

// retire stops seeding an unreferenced torrent and deletes its .torrent
// file and, unless another torrent still uses it, its tarball: ltorrent is
// the garbage collector of the torrents directory.
func (s *seeder) retire(id, why string) {
	e := s.entries[id]
	s.forget(id)
	removed := []string{filepath.Base(e.c.file)}
	if err := os.Remove(e.c.file); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Error("cannot delete a retired torrent", "file", e.c.file, "err", err)
	}
	shared := false
	for _, o := range s.entries {
		shared = shared || o.c.tarball == e.c.tarball
	}
	if !shared {
		if err := os.Remove(e.c.tarball); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Error("cannot delete a retired tarball", "file", e.c.tarball, "err", err)
		} else {
			removed = append(removed, filepath.Base(e.c.tarball))
		}
	}
	s.log.Info("retired torrent", "id", id, "why", why, "deleted", strings.Join(removed, " "))
}

// stop announces `stopped` for every torrent and drops them, in parallel.
func (s *seeder) stop() {
	for _, sd := range s.seeds {
		sd.stop()
	}
	s.announce.Wait()
}

// uploaded is what t sent to peers, in bytes.
func uploaded(t *torrent.Torrent) int64 {
	st := t.Stats()
	return st.BytesWrittenData.Int64()
}
