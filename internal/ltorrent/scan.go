package ltorrent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/anacrolix/torrent/metainfo"
)

// Creator is the `created by` of every torrent luna osimage pack writes;
// other torrents in the directory are not seeded.
const Creator = "Luna"

// candidate is a .torrent file of the torrents directory that ltorrent
// accepts: written by Luna, exactly one file, that file (the tarball)
// beside it with the length the torrent gives.
type candidate struct {
	id       string // the torrent's comment: the uuid osimages refer to
	file     string // the .torrent file
	tarball  string // the tarball beside it
	infoHash metainfo.Hash
	mi       *metainfo.MetaInfo
}

// fileKey identifies one version of a file, so that a .torrent is parsed
// again only when it changed.
type fileKey struct {
	name  string
	size  int64
	mtime time.Time
}

// parsed is the outcome of reading one .torrent file.
type parsed struct {
	c      *candidate // without the tarball check
	length int64
	reason string // why it is not seeded, when c is nil
}

// scanner reads the torrents directory on every pass and remembers what it
// parsed and what it already reported.
type scanner struct {
	dir      string
	cache    map[fileKey]parsed
	reported map[string]string // file name -> the reason last logged
}

func newScanner(dir string) *scanner {
	return &scanner{dir: dir, cache: map[fileKey]parsed{}, reported: map[string]string{}}
}

// scan returns the accepted torrents by id, and for every file it skips
// the reason, when that reason is new (to be logged once).
func (s *scanner) scan() (map[string]*candidate, map[string]string, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("read the torrents directory: %w", err)
	}
	found := map[string]*candidate{}
	skipped := map[string]string{}
	keep := map[fileKey]bool{}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".torrent") || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		k := fileKey{name, info.Size(), info.ModTime()}
		keep[k] = true
		p, ok := s.cache[k]
		if !ok {
			p = s.parse(name)
			s.cache[k] = p
		}
		reason := p.reason
		if p.c != nil {
			reason = checkTarball(p.c.tarball, p.length)
			if reason == "" {
				if prev, dup := found[p.c.id]; dup {
					reason = fmt.Sprintf("its comment (id) %s is also that of %s", p.c.id, filepath.Base(prev.file))
				}
			}
		}
		if reason == "" {
			found[p.c.id] = p.c
			delete(s.reported, name)
			continue
		}
		if s.reported[name] != reason {
			skipped[name] = reason
			s.reported[name] = reason
		}
	}
	for k := range s.cache {
		if !keep[k] {
			delete(s.cache, k)
		}
	}
	return found, skipped, nil
}

// parse applies the accept rules that depend on the .torrent file alone.
func (s *scanner) parse(name string) parsed {
	path := filepath.Join(s.dir, name)
	mi, err := metainfo.LoadFromFile(path)
	if err != nil {
		return parsed{reason: fmt.Sprintf("not a torrent: %v", err)}
	}
	if mi.CreatedBy != Creator {
		return parsed{reason: fmt.Sprintf("created by %q, not %q", mi.CreatedBy, Creator)}
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return parsed{reason: fmt.Sprintf("bad info dictionary: %v", err)}
	}
	if len(info.Files) != 0 || info.Length <= 0 {
		return parsed{reason: "not a torrent of exactly one file"}
	}
	if info.Name == "" || info.Name != filepath.Base(info.Name) || strings.HasPrefix(info.Name, ".") ||
		strings.HasSuffix(info.Name, ".torrent") {
		return parsed{reason: fmt.Sprintf("its file name %q is not a tarball name", info.Name)}
	}
	id := strings.TrimSpace(mi.Comment)
	if id == "" || strings.ContainsAny(id, "/\x00") {
		return parsed{reason: "no comment: the comment is the id osimages refer to"}
	}
	return parsed{
		c: &candidate{id: id, file: path, tarball: filepath.Join(s.dir, info.Name),
			infoHash: mi.HashInfoBytes(), mi: mi},
		length: info.Length,
	}
}

// checkTarball says why the tarball cannot be seeded, "" when it can.
func checkTarball(path string, length int64) string {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Sprintf("its tarball %s is missing", filepath.Base(path))
	}
	if err != nil {
		return fmt.Sprintf("its tarball: %v", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Sprintf("its tarball %s is not a regular file", filepath.Base(path))
	}
	if st.Size() != length {
		return fmt.Sprintf("its tarball %s has %d bytes, the torrent says %d", filepath.Base(path), st.Size(), length)
	}
	return ""
}
