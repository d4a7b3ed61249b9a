package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// The Luna flow's frontend, in host 0: lunadb, lweb (its tracker on
// port 7050) and ltorrent, the cluster configured with bin/luna, the
// image packed by `luna osimage pack`. Nodes run ltorrent-client on the
// torrent pack wrote, as the install script does.
type frontend struct {
	b       *bench
	dir     string // work directory
	opt     string // the cluster's path
	img     string // the osimage tree
	env     []string
	procs   map[string]*daemon
	payload []byte // the image's payload file
}

// daemon is a server program in host 0 with its output in a log file.
type daemon struct {
	name string
	args []string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

const kernver = "6.1.0-bench"

func (f *frontend) start(ctx context.Context, name string, wait *regexp.Regexp, args ...string) (string, error) {
	logf, err := os.OpenFile(filepath.Join(f.dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return "", err
	}
	defer logf.Close()
	st, _ := logf.Stat()
	from := st.Size()
	d := &daemon{name: name, args: args, log: logf.Name(), done: make(chan struct{})}
	d.cmd = f.b.lab.Hosts[0].Command(context.Background(), filepath.Join(f.b.binDir, name), args...)
	d.cmd.Env = f.env
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		return "", fmt.Errorf("start %s: %w", name, err)
	}
	go func() { _ = d.cmd.Wait(); close(d.done) }()
	f.procs[name] = d
	return f.waitLog(ctx, d, from, wait, 60*time.Second)
}

// waitLog waits for a line matching re in d's log after offset from and
// returns its first submatch.
func (f *frontend) waitLog(ctx context.Context, d *daemon, from int64, re *regexp.Regexp, limit time.Duration) (string, error) {
	deadline := time.Now().Add(limit)
	for {
		b, _ := os.ReadFile(d.log)
		if int64(len(b)) > from {
			if m := re.FindSubmatch(b[from:]); m != nil {
				if len(m) > 1 {
					return string(m[1]), nil
				}
				return "", nil
			}
		}
		select {
		case <-d.done:
			return "", fmt.Errorf("%s exited: %s", d.name, tail(b))
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s: no %q within %s: %s", d.name, re, limit, tail(b))
		}
	}
}

func tail(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-3):], " | ")
}

// stop sends SIGTERM and waits (SIGKILL after 15 s).
func (d *daemon) stop() {
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(15 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

func (f *frontend) close() {
	for _, name := range []string{"ltorrent", "lweb", "lunadb"} {
		if d := f.procs[name]; d != nil {
			d.stop()
		}
	}
}

func (f *frontend) luna(ctx context.Context, args ...string) (string, error) {
	cmd := f.b.lab.Hosts[0].Command(ctx, filepath.Join(f.b.binDir, "luna"), args...)
	cmd.Env = f.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("luna %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

var (
	lunadbRe   = regexp.MustCompile(`lunadb: serving (mongodb://\S+)`)
	lwebRe     = regexp.MustCompile(`msg="lweb listening" address=(\S+)`)
	ltorrentRe = regexp.MustCompile(`msg="ltorrent listening" address=(\S+)`)
)

// startFrontend starts lunadb, configures the cluster, starts lweb and
// ltorrent in host 0 and writes the osimage tree with payload as its one
// large file (incompressible, so the tarball is about its size).
func (b *bench) startFrontend(ctx context.Context, payload []byte) (*frontend, error) {
	f := &frontend{b: b, dir: filepath.Join(b.dir, "frontend"), procs: map[string]*daemon{}, payload: payload}
	f.opt, f.img = filepath.Join(f.dir, "opt"), filepath.Join(f.dir, "image")
	for _, d := range []string{f.opt, f.img} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(f.dir, "luna.conf"), nil, 0o644); err != nil {
		return nil, err
	}
	f.env = append(os.Environ(), "LUNA_DB=luna", "LUNA_CONF="+filepath.Join(f.dir, "luna.conf"), "LUNA_LOGDIR="+filepath.Join(f.dir, "log"))
	uri, err := f.start(ctx, "lunadb", lunadbRe, "--listen", "127.0.0.1:27017", "--data-dir", filepath.Join(f.dir, "db"))
	if err != nil {
		f.close()
		return nil, err
	}
	f.env = append(f.env, "LUNA_MONGO_URI="+uri)
	fe := b.lab.Hosts[0].IP.String()
	for _, c := range [][]string{
		{"cluster", "init", "--frontend_address", fe, "--user", "root", "--path", f.opt},
		{"cluster", "change", "--torrent_pidfile", filepath.Join(f.dir, "ltorrent.pid")},
		{"network", "add", "-n", "cluster", "-N", b.lab.Subnet.Addr().String(), "-P", "24"},
	} {
		if _, err := f.luna(ctx, c...); err != nil {
			f.close()
			return nil, err
		}
	}
	if _, err := f.start(ctx, "lweb", lwebRe, "--tftp", "off"); err != nil {
		f.close()
		return nil, err
	}
	if _, err := f.start(ctx, "ltorrent", ltorrentRe); err != nil {
		f.close()
		return nil, err
	}
	files := map[string]string{
		"etc/os-release":                    "NAME=\"bench/swarm image\"\n",
		"boot/vmlinuz-" + kernver:           "not a kernel\n",
		"boot/initrd.img-" + kernver:        "not an initrd\n",
		"lib/modules/" + kernver + "/dep":   "",
		"etc/bench-run":                     "0\n",
		"usr/share/bench/payload.bin":       string(payload),
		"sbin/init":                         "#!/bin/sh\n",
		"etc/passwd":                        "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":                         "root:x:0:\n",
		"lib/modules/" + kernver + "/empty": "",
	}
	for p, text := range files {
		full := filepath.Join(f.img, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			f.close()
			return nil, err
		}
		if err := os.WriteFile(full, []byte(text), 0o644); err != nil {
			f.close()
			return nil, err
		}
	}
	if _, err := f.luna(ctx, "osimage", "add", "-n", "compute", "-p", f.img, "-k", kernver); err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}

// packed is one `luna osimage pack` result.
type packed struct {
	torrent  string // path of the .torrent
	tarball  string // path of the .tgz
	data     []byte // the tarball
	pieces   []byte // its piece hashes, from the torrent
	pieceLen int64
}

// pack packs the image with tag in etc/bench-run (so each run has a new
// info hash) and waits until ltorrent announced it to lweb's tracker.
// piece > 0 replaces pack's torrent with one of that piece length.
func (f *frontend) pack(ctx context.Context, tag string, piece int) (*packed, error) {
	if err := os.WriteFile(filepath.Join(f.img, "etc/bench-run"), []byte(tag+"\n"), 0o644); err != nil {
		return nil, err
	}
	d := f.procs["ltorrent"]
	st, err := os.Stat(d.log)
	if err != nil {
		return nil, err
	}
	if _, err := f.luna(ctx, "osimage", "pack", "compute", "--image"); err != nil {
		return nil, err
	}
	out, err := f.luna(ctx, "osimage", "show", "compute", "--output", "json")
	if err != nil {
		return nil, err
	}
	var show map[string]any
	if err := json.Unmarshal([]byte(out), &show); err != nil {
		return nil, fmt.Errorf("osimage show -o json: %v: %.200s", err, out)
	}
	id, _ := show["torrent"].(string)
	if id == "" {
		return nil, fmt.Errorf("osimage show: no torrent after pack: %.300s", out)
	}
	p := &packed{torrent: filepath.Join(f.opt, "torrents", id+".torrent")}
	mi, err := metainfo.LoadFromFile(p.torrent)
	if err != nil {
		return nil, err
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return nil, err
	}
	p.tarball = filepath.Join(f.opt, "torrents", info.Name)
	p.pieces, p.pieceLen = info.Pieces, info.PieceLength
	if p.data, err = os.ReadFile(p.tarball); err != nil {
		return nil, err
	}
	re := regexp.MustCompile(`msg=announced id=` + regexp.QuoteMeta(strings.TrimSpace(mi.Comment)) + `\b.*event=started`)
	if _, err := f.waitLog(ctx, d, st.Size(), re, 60*time.Second); err != nil {
		return nil, fmt.Errorf("ltorrent did not announce the new tarball: %w", err)
	}
	if piece > 0 && int64(piece) != p.pieceLen {
		// The experiment of luna-Kk: the same torrent (announce, web
		// seed, comment, creator) with smaller pieces, in place of pack's;
		// ltorrent re-reads the directory on SIGHUP and seeds it instead.
		if st, err = os.Stat(d.log); err != nil {
			return nil, err
		}
		p.pieceLen = int64(piece)
		old := f.b.pieceLen
		f.b.pieceLen = piece
		p.pieces = f.b.pieceHashes(p.data)
		f.b.pieceLen = old
		info.PieceLength, info.Pieces = p.pieceLen, p.pieces
		if mi.InfoBytes, err = bencode.Marshal(info); err != nil {
			return nil, err
		}
		tmp := p.torrent + ".bench"
		w, err := os.Create(tmp)
		if err != nil {
			return nil, err
		}
		if err := mi.Write(w); err != nil {
			w.Close()
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		if err := os.Rename(tmp, p.torrent); err != nil {
			return nil, err
		}
		if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			return nil, err
		}
		if _, err := f.waitLog(ctx, d, st.Size(), re, 60*time.Second); err != nil {
			return nil, fmt.Errorf("ltorrent did not announce the torrent of %d KiB pieces: %w", piece>>10, err)
		}
	}
	return p, nil
}

// restart stops daemon name (SIGKILL when kill), waits pause and starts
// it again with the same arguments.
func (f *frontend) restart(ctx context.Context, name string, pause time.Duration) error {
	d := f.procs[name]
	_ = d.cmd.Process.Kill()
	<-d.done
	time.Sleep(pause)
	re := map[string]*regexp.Regexp{"lweb": lwebRe, "ltorrent": ltorrentRe}[name]
	_, err := f.start(ctx, name, re, d.args...)
	return err
}
