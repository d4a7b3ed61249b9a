// Command pack is the osimage pack benchmark: the tarball writer of `luna
// osimage pack` (internal/osimage.WriteTarGz, parallel gzip, with the
// torrent's piece hashes computed on the way, as pack does) against
// `tar --one-file-system --xattrs --acls -c | pigz` on the same tree, in the
// same run, rounds alternating.
//
//	go run ./bench/pack                 # a generated tree of -mb MiB
//	go run ./bench/pack -dir /usr       # an existing tree
//
// The generated tree has mixed file sizes (many small files, some of a few
// hundred KB, a few of tens of MB) and mixed content (text-like, which
// compresses well, and random, which does not), so both the per-file
// costs and the compression rate matter. Before the rounds both tools read
// the tree once, so both read from the page cache. Each round writes its
// archive to a file in a temporary directory (not synced, for both).
// Throughput = bytes of file content / wall time; the ratio is ours over
// the baseline's (above 1: faster). The archives are checked: ours must
// list the same members as tar's.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/clustervision/luna-go/internal/osimage"
)

func main() {
	dir := flag.String("dir", "", "pack this tree instead of generating one")
	mb := flag.Int("mb", 400, "size of the generated tree in MiB")
	rounds := flag.Int("rounds", 3, "timed rounds of each tool")
	keep := flag.Bool("keep", false, "keep the temporary directory")
	flag.Parse()
	if err := run(*dir, *mb, *rounds, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "bench/pack:", err)
		os.Exit(1)
	}
}

func run(dir string, mb, rounds int, keep bool) error {
	for _, p := range []string{"tar", "pigz"} {
		if _, err := exec.LookPath(p); err != nil {
			return fmt.Errorf("%s is needed (make deps)", p)
		}
	}
	tmp, err := os.MkdirTemp("", "bench-pack-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Println("temporary directory:", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	if dir == "" {
		dir = filepath.Join(tmp, "tree")
		start := time.Now()
		files, err := generate(dir, int64(mb)<<20)
		if err != nil {
			return err
		}
		fmt.Printf("generated %s: %d files, %d MiB in %.1f s\n", dir, files, mb, time.Since(start).Seconds())
	}
	total, err := osimage.TreeSize(context.Background(), dir)
	if err != nil {
		return err
	}
	fmt.Printf("tree %s: %.1f MiB of file content; %d CPUs, GOMAXPROCS %d, %s\n",
		dir, float64(total)/(1<<20), runtime.NumCPU(), runtime.GOMAXPROCS(0), tarVersion())

	ours := filepath.Join(tmp, "ours.tgz")
	theirs := filepath.Join(tmp, "tar.tgz")
	// Warm the page cache with both readers.
	if _, err := packOurs(dir, ours); err != nil {
		return err
	}
	if _, err := packTar(dir, theirs); err != nil {
		return err
	}
	if err := sameMembers(ours, theirs); err != nil {
		return err
	}
	var tOurs, tTar []float64
	for r := range rounds {
		a, err := packOurs(dir, ours)
		if err != nil {
			return err
		}
		b, err := packTar(dir, theirs)
		if err != nil {
			return err
		}
		tOurs, tTar = append(tOurs, a.Seconds()), append(tTar, b.Seconds())
		fmt.Printf("round %d: osimage.WriteTarGz %.2f s, tar|pigz %.2f s\n", r+1, a.Seconds(), b.Seconds())
	}
	so, st := size(ours), size(theirs)
	mo, mt := median(tOurs), median(tTar)
	mib := float64(total) / (1 << 20)
	fmt.Printf("\n| tool | median s | MiB/s | archive MiB |\n|---|---|---|---|\n")
	fmt.Printf("| osimage.WriteTarGz (pgzip, level 6, piece hashes) | %.2f | %.0f | %.1f |\n", mo, mib/mo, float64(so)/(1<<20))
	fmt.Printf("| tar --one-file-system --xattrs --acls -c \\| pigz | %.2f | %.0f | %.1f |\n", mt, mib/mt, float64(st)/(1<<20))
	fmt.Printf("\nthroughput ratio (ours / tar|pigz): %.2f (target >= 0.8); size ratio %.3f\n", mt/mo, float64(so)/float64(st))
	return nil
}

// packOurs writes the tarball as `luna osimage pack` does.
func packOurs(dir, out string) (time.Duration, error) {
	start := time.Now()
	f, err := os.Create(out)
	if err != nil {
		return 0, err
	}
	h := osimage.NewPieceHasher(osimage.MinPieceLength)
	_, err = osimage.WriteTarGz(context.Background(), dir, io.MultiWriter(f, h), osimage.Options{})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	_ = h.Pieces()
	return time.Since(start), err
}

// packTar is the baseline: GNU tar piped into pigz (default level 6, one
// thread per CPU), as Luna 1.2 ran them.
func packTar(dir, out string) (time.Duration, error) {
	start := time.Now()
	cmd := exec.Command("sh", "-c", `tar --one-file-system --xattrs --acls -C "$1" -cf - . | pigz > "$2"`, "sh", dir, out)
	cmd.Stderr = os.Stderr
	err := cmd.Run()
	return time.Since(start), err
}

// sameMembers checks that both archives list the same member names.
func sameMembers(a, b string) error {
	la, err := members(a)
	if err != nil {
		return err
	}
	lb, err := members(b)
	if err != nil {
		return err
	}
	if !slices.Equal(la, lb) {
		return fmt.Errorf("the archives differ: %d members against tar's %d", len(la), len(lb))
	}
	return nil
}

func members(tgz string) ([]string, error) {
	out, err := exec.Command("tar", "-tzf", tgz).Output()
	if err != nil {
		return nil, fmt.Errorf("tar -tzf %s: %w", tgz, err)
	}
	var names []string
	for _, n := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		names = append(names, strings.TrimSuffix(n, "/"))
	}
	slices.Sort(names)
	return names, nil
}

func size(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return st.Size()
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func tarVersion() string {
	out, _ := exec.Command("tar", "--version").Output()
	line, _, _ := strings.Cut(string(out), "\n")
	return line
}

// words make text-like content: compresses about 3:1 like binaries and
// configuration files do.
var words = strings.Fields(`the of and to in is that for it as with was on be by this are or from at
an which but not have has were all can their its if will more other when some into than only
lib usr bin etc share include config default value return function error static const void int
char struct main init module kernel driver device file path node cluster image boot`)

// generate writes a tree of about budget bytes: 95% of the files small
// (0.5-16.5 KiB), 4.9% medium (64 KiB-1 MiB), 0.1% large (4-20 MiB), so
// about 9,000 files for 400 MiB; half of the files text-like, half random.
func generate(root string, budget int64) (int, error) {
	r := rand.New(rand.NewPCG(1, 2))
	var written int64
	files := 0
	buf := make([]byte, 1<<20)
	for written < budget {
		var n int64
		switch x := r.IntN(1000); {
		case x < 950:
			n = 512 + r.Int64N(16<<10)
		case x < 999:
			n = 64<<10 + r.Int64N(960<<10)
		default:
			n = 4<<20 + r.Int64N(16<<20)
		}
		n = min(n, budget-written)
		p := filepath.Join(root, fmt.Sprintf("d%02d/s%03d/f%06d", files%50, files%197, files))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return files, err
		}
		f, err := os.Create(p)
		if err != nil {
			return files, err
		}
		w := bufio.NewWriterSize(f, 1<<20)
		text := r.IntN(2) == 0
		for left := n; left > 0; {
			chunk := min(left, int64(len(buf)))
			if text {
				b := buf[:0]
				for int64(len(b)) < chunk {
					b = append(b, words[r.IntN(len(words))]...)
					b = append(b, ' ')
					if r.IntN(12) == 0 {
						b = append(b, '\n')
					}
				}
				_, _ = w.Write(b[:chunk])
			} else {
				for i := int64(0); i < chunk; i += 8 {
					v := r.Uint64()
					for j := int64(0); j < 8 && i+j < chunk; j++ {
						buf[i+j] = byte(v >> (8 * j))
					}
				}
				_, _ = w.Write(buf[:chunk])
			}
			left -= chunk
		}
		if err := w.Flush(); err != nil {
			return files, err
		}
		if err := f.Close(); err != nil {
			return files, err
		}
		written += n
		files++
	}
	return files, nil
}
