package osimage

import (
	"crypto/sha1"
	"errors"
	"hash"
	"io"
	"os"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// Piece sizes: MinPieceLength up to MaxPieces pieces, then the next power
// of two that keeps the count at or below MaxPieces.
const (
	MinPieceLength = 1 << 20
	MaxPieces      = 4096
)

// Creator is the `created by` of every torrent Luna makes; ltorrent seeds
// only torrents that carry it.
const Creator = "Luna"

// PieceLength is the piece size of a torrent of a file of size bytes:
// 1 MiB for files up to 4 GiB, doubled until there are at most 4096 pieces
// beyond. A node client keeps one bit and one 20-byte hash per piece and
// verifies a piece as soon as it has it, so pieces are large enough that
// the per-piece work stays small, and few enough that the bitfield and
// hash list of a multi-GB image stay a few kilobytes.
func PieceLength(size int64) int64 {
	pl := int64(MinPieceLength)
	for (size+pl-1)/pl > MaxPieces {
		pl *= 2
	}
	return pl
}

// PieceHasher is an io.Writer that computes the SHA-1 of every piece of
// what is written to it, so a tarball's pieces are hashed while it is
// written (no second read). Pieces is valid after the last Write.
type PieceHasher struct {
	length int64
	n      int64 // bytes in the current piece
	total  int64
	h      hash.Hash
	sums   []byte
}

// NewPieceHasher hashes pieces of length bytes.
func NewPieceHasher(length int64) *PieceHasher {
	return &PieceHasher{length: length, h: sha1.New()}
}

func (p *PieceHasher) Write(b []byte) (int, error) {
	written := len(b)
	for len(b) > 0 {
		take := p.length - p.n
		if int64(len(b)) < take {
			take = int64(len(b))
		}
		p.h.Write(b[:take])
		p.n += take
		p.total += take
		b = b[take:]
		if p.n == p.length {
			p.sums = p.h.Sum(p.sums)
			p.h.Reset()
			p.n = 0
		}
	}
	return written, nil
}

// Len is the number of bytes hashed.
func (p *PieceHasher) Len() int64 { return p.total }

// Pieces returns the concatenated piece hashes, including the last, short
// piece.
func (p *PieceHasher) Pieces() []byte {
	if p.n == 0 {
		return p.sums
	}
	return p.h.Sum(append([]byte(nil), p.sums...))
}

// Torrent describes the torrent of one tarball.
type Torrent struct {
	Name     string // file name in the torrent: <tarball uuid>.tgz
	Length   int64
	Piece    int64  // piece length
	Pieces   []byte // concatenated SHA-1 hashes
	Announce string // <proto>://<frontend_address>:<frontend_port>/announce
	WebSeed  string // BEP 19 url-list entry, ending in '/': the file is WebSeed + Name
	Comment  string // the torrent's uuid (ltorrent's id for it)
	Created  time.Time
}

// HashFile computes the piece hashes of file with pieces of length bytes.
func HashFile(file string, length int64) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := NewPieceHasher(length)
	if _, err := io.CopyBuffer(h, f, make([]byte, readBuffer)); err != nil {
		return nil, err
	}
	return h.Pieces(), nil
}

// Write encodes t as a single-file .torrent, created by Luna.
func (t Torrent) Write(w io.Writer) error {
	if t.Piece <= 0 || int64(len(t.Pieces)) != (t.Length+t.Piece-1)/t.Piece*sha1.Size {
		return errors.New("piece hashes do not match the file length")
	}
	info := metainfo.Info{Name: t.Name, Length: t.Length, PieceLength: t.Piece, Pieces: t.Pieces}
	ib, err := bencode.Marshal(info)
	if err != nil {
		return err
	}
	mi := metainfo.MetaInfo{
		InfoBytes:    ib,
		Announce:     t.Announce,
		CreationDate: t.Created.Unix(),
		Comment:      t.Comment,
		CreatedBy:    Creator,
	}
	if t.WebSeed != "" {
		mi.UrlList = metainfo.UrlList{t.WebSeed}
	}
	return mi.Write(w)
}
