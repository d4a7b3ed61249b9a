package osimage

import (
	"bytes"
	"context"
	"crypto/sha1"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
)

func TestPieceLength(t *testing.T) {
	for _, c := range []struct{ size, want int64 }{
		{1, 1 << 20},
		{100 << 20, 1 << 20},
		{4 << 30, 1 << 20},
		{4<<30 + 1, 2 << 20},
		{8 << 30, 2 << 20},
		{20 << 30, 8 << 20},
	} {
		if got := PieceLength(c.size); got != c.want {
			t.Errorf("PieceLength(%d) = %d, want %d", c.size, got, c.want)
		}
		if n := (c.size + c.want - 1) / c.want; n > MaxPieces {
			t.Errorf("PieceLength(%d): %d pieces", c.size, n)
		}
	}
}

// TestPieceHasher: hashing while writing in uneven chunks gives the
// pieces anacrolix computes from the whole file.
func TestPieceHasher(t *testing.T) {
	data := make([]byte, 5<<20+12345)
	r := rand.NewChaCha8([32]byte{1})
	_, _ = r.Read(data)
	for _, pl := range []int64{1 << 18, 1 << 20, int64(len(data)), 2 << 30} {
		h := NewPieceHasher(pl)
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 1+int(r.Uint64()%300000))
			_, _ = h.Write(rest[:n])
			rest = rest[n:]
		}
		want, err := metainfo.GeneratePieces(bytes.NewReader(data), pl, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(h.Pieces(), want) || h.Len() != int64(len(data)) {
			t.Errorf("piece length %d: hashes differ from metainfo.GeneratePieces", pl)
		}
	}
}

// TestTorrentParsesBack writes the torrent of a file and reads it back with
// anacrolix's metainfo: one file named <uuid>.tgz, creator Luna, comment,
// announce, web seed, and every piece hash matches the file.
func TestTorrentParsesBack(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "0b0e3f4c-1111-4222-8333-444455556666.tgz")
	data := make([]byte, 3<<20+777)
	_, _ = rand.NewChaCha8([32]byte{2}).Read(data)
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	pl := PieceLength(int64(len(data)))
	pieces, err := HashFile(file, pl)
	if err != nil {
		t.Fatal(err)
	}
	tor := Torrent{Name: filepath.Base(file), Length: int64(len(data)), Piece: pl, Pieces: pieces,
		Announce: "http://10.30.255.254:7050/announce", WebSeed: "http://10.30.255.254:7050/torrents/",
		Comment: "6f1c2d3e-aaaa-4bbb-8ccc-ddddeeeeffff", Created: time.Unix(1700000000, 0)}
	var buf bytes.Buffer
	if err := tor.Write(&buf); err != nil {
		t.Fatal(err)
	}
	mi, err := metainfo.Load(&buf)
	if err != nil {
		t.Fatal(err)
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		t.Fatal(err)
	}
	if mi.CreatedBy != "Luna" || mi.Comment != tor.Comment || mi.Announce != tor.Announce ||
		len(mi.UrlList) != 1 || mi.UrlList[0] != tor.WebSeed || mi.CreationDate != 1700000000 {
		t.Errorf("metainfo = created by %q, comment %q, announce %q, url-list %q, date %d",
			mi.CreatedBy, mi.Comment, mi.Announce, mi.UrlList, mi.CreationDate)
	}
	if info.IsDir() || info.Name != filepath.Base(file) || info.Length != int64(len(data)) || len(info.UpvertedFiles()) != 1 {
		t.Errorf("info = %q, %d bytes, dir %v", info.Name, info.Length, info.IsDir())
	}
	if info.NumPieces() != 4 {
		t.Errorf("%d pieces, want 4", info.NumPieces())
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := range info.NumPieces() {
		p := info.Piece(i)
		h := sha1.New()
		if _, err := io.Copy(h, io.NewSectionReader(f, p.Offset(), p.Length())); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(h.Sum(nil), p.V1Hash().Value.Bytes()) {
			t.Errorf("piece %d hash differs from the file", i)
		}
	}
	// Hashes that do not fit the length are refused.
	tor.Pieces = tor.Pieces[:20]
	if err := tor.Write(io.Discard); err == nil {
		t.Error("a torrent with missing piece hashes was written")
	}
}

// TestWebSeedAria2c: aria2c, with no tracker and no peer, downloads the
// tarball from the torrent's web seed alone (BEP 19, a directory URL to
// which the client appends the file name), over a plain HTTP file server
// as lweb's /torrents/, and checks it against the piece hashes.
func TestWebSeedAria2c(t *testing.T) {
	if _, err := exec.LookPath("aria2c"); err != nil {
		t.Fatal("aria2c is needed: run `make deps` (apt-get install aria2)")
	}
	dir := t.TempDir()
	name := "5d0c9a57-3c55-4f43-9b8e-0d3c9f1e2a77.tgz"
	data := make([]byte, 2<<20+4321)
	_, _ = rand.NewChaCha8([32]byte{3}).Read(data)
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/torrents/", http.StripPrefix("/torrents/", http.FileServer(http.Dir(dir))))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	pieces, err := HashFile(filepath.Join(dir, name), MinPieceLength)
	if err != nil {
		t.Fatal(err)
	}
	tor := Torrent{Name: name, Length: int64(len(data)), Piece: MinPieceLength, Pieces: pieces,
		Announce: "http://127.0.0.1:9/announce", WebSeed: srv.URL + "/torrents/", Comment: "c", Created: time.Now()}
	tf := filepath.Join(t.TempDir(), "t.torrent")
	var buf bytes.Buffer
	if err := tor.Write(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tf, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "aria2c", "--seed-time=0", "--enable-dht=false", "--enable-dht6=false",
		"--bt-enable-lpd=false", "--enable-peer-exchange=false", "--check-integrity=true",
		"--console-log-level=warn", "--summary-interval=0", "-d", out, tf)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("aria2c: %v\n%s", err, b)
	}
	got, err := os.ReadFile(filepath.Join(out, name))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded file differs (%v)", err)
	}
}
