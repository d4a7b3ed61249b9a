package btclient

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

// badPeer is a seeder that answers every request with the right block
// with one byte changed: no real client produces this fault.
type badPeer struct {
	l         net.Listener
	conns     atomic.Int32
	blocksBad atomic.Int32
}

func startBadPeer(t *testing.T, infoHash [20]byte, data []byte, pieceLen int) *badPeer {
	t.Helper()
	bp := &badPeer{l: listenLocal(t)}
	t.Cleanup(func() { bp.l.Close() })
	n := (len(data) + pieceLen - 1) / pieceLen
	go func() {
		for {
			conn, err := bp.l.Accept()
			if err != nil {
				return
			}
			bp.conns.Add(1)
			go bp.serve(conn, infoHash, data, pieceLen, n)
		}
	}()
	return bp
}

func (bp *badPeer) serve(conn net.Conn, infoHash [20]byte, data []byte, pieceLen, n int) {
	defer conn.Close()
	var hs [68]byte
	if _, err := io.ReadFull(conn, hs[:]); err != nil || !bytes.Equal(hs[28:48], infoHash[:]) {
		return
	}
	var out bytes.Buffer
	out.WriteString(pp.Protocol)
	out.Write(make([]byte, 8))
	out.Write(infoHash[:])
	out.WriteString("-XX0001-bad-peer-000")
	all := make([]bool, n)
	for i := range all {
		all[i] = true
	}
	out.Write(pp.Message{Type: pp.Bitfield, Bitfield: all}.MustMarshalBinary())
	out.Write(pp.Message{Type: pp.Unchoke}.MustMarshalBinary())
	if _, err := conn.Write(out.Bytes()); err != nil {
		return
	}
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			return
		}
		msg := make([]byte, binary.BigEndian.Uint32(hdr[:]))
		if _, err := io.ReadFull(conn, msg); err != nil {
			return
		}
		if len(msg) != 13 || pp.MessageType(msg[0]) != pp.Request {
			continue
		}
		i, begin, length := binary.BigEndian.Uint32(msg[1:]), binary.BigEndian.Uint32(msg[5:]), binary.BigEndian.Uint32(msg[9:])
		off := int(i)*pieceLen + int(begin)
		block := append([]byte(nil), data[off:off+int(length)]...)
		block[len(block)/2] ^= 0xff
		bp.blocksBad.Add(1)
		m := pp.Message{Type: pp.Piece, Index: pp.Integer(i), Begin: pp.Integer(begin), Piece: block}
		if _, err := conn.Write(m.MustMarshalBinary()); err != nil {
			return
		}
	}
}

// announceAs registers a peer at the tracker as a seeder.
func announceAs(t *testing.T, trackerURL string, infoHash [20]byte, peerID string, port int) {
	t.Helper()
	q := url.Values{"info_hash": {string(infoHash[:])}, "peer_id": {peerID}, "port": {strconv.Itoa(port)},
		"uploaded": {"0"}, "downloaded": {"0"}, "left": {"0"}, "event": {"started"}, "compact": {"1"}}
	resp, err := http.Get(trackerURL + "/announce?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("announce: HTTP %d", resp.StatusCode)
	}
}

func infoHashOf(t *testing.T, torrent string) [20]byte {
	t.Helper()
	mi, err := metainfo.LoadFromFile(torrent)
	if err != nil {
		t.Fatal(err)
	}
	return mi.HashInfoBytes()
}

// TestCorruptPieceRejected: the only peer sends corrupt blocks; the
// client rejects the piece, drops and bans the peer, and fetches
// everything again from the web seed.
func TestCorruptPieceRejected(t *testing.T) {
	tr := startTracker(t, listenLocal(t))
	dir := t.TempDir()
	data := randomData(t, 1<<20+500)
	tr.seedFiles["image.tgz"] = data
	torrent := writeTorrent(t, dir, tr.URL+"/announce", []string{tr.URL + "/seed/image.tgz"}, "image.tgz", data, 64<<10)
	ih := infoHashOf(t, torrent)
	bp := startBadPeer(t, ih, data, 64<<10)
	announceAs(t, tr.URL, ih, "-XX0001-bad-peer-000", bp.l.Addr().(*net.TCPAddr).Port)

	leechDir := mkdir(t, dir, "leech")
	c := startClient(t, leechDir, torrent, "-w", "1")
	waitFor(t, 30*time.Second, "ltorrent-client completes", func() bool {
		return strings.Contains(c.out.String(), "complete and verified")
	}, c.out.String)
	checkFile(t, filepath.Join(leechDir, "image.tgz"), data, c.out.String())
	if !strings.Contains(c.out.String(), "failed its hash check; dropping the peer") {
		t.Errorf("no rejected piece reported\n%s", c.out.String())
	}
	if bp.blocksBad.Load() == 0 || tr.seedBytes.Load() == 0 {
		t.Errorf("bad peer sent %d blocks, web seed %d bytes: want both", bp.blocksBad.Load(), tr.seedBytes.Load())
	}
	time.Sleep(3 * time.Second) // two more announces name the bad peer again
	if n := bp.conns.Load(); n != 1 {
		t.Errorf("the client connected %d times to the peer that sent a corrupt piece, want once", n)
	}
	stopClient(t, c, leechDir)
}

// TestFatalErrors: an unusable torrent ends at once, a tracker nobody
// answers (and no web seed) ends after the stall time; both with exit
// code 1, one line on stderr and no pid file left.
func TestFatalErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.torrent")
	writeFile(t, garbage, []byte("<html>404 Not Found</html>"))
	dead := listenLocal(t)
	deadURL := "http://" + dead.Addr().String() + "/announce"
	dead.Close()
	data := randomData(t, 100<<10)
	noPeers := writeTorrent(t, dir, deadURL, nil, "image.tgz", data, 16<<10)
	multi := filepath.Join(dir, "multi.torrent")
	{
		info := metainfo.Info{PieceLength: 16 << 10, Name: "dir", Files: []metainfo.FileInfo{{Length: 5, Path: []string{"a"}}}, Pieces: make([]byte, 20)}
		ib, _ := bencodeMarshal(info)
		f, _ := os.Create(multi)
		_ = (&metainfo.MetaInfo{InfoBytes: ib, Announce: deadURL}).Write(f)
		f.Close()
	}
	for _, tc := range []struct {
		name, torrent, want string
		within              time.Duration
	}{
		{"garbage", garbage, "load torrent", 5 * time.Second},
		{"missing", filepath.Join(dir, "nothing.torrent"), "no such file", 5 * time.Second},
		{"multi-file", multi, "one-file torrents", 5 * time.Second},
		{"unreachable tracker", noPeers, "no progress for 2s", 12 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := t.TempDir()
			pidFile := filepath.Join(work, "client.pid")
			p := startProc(t, work, clientBin, "-t", tc.torrent, "-f", pidFile, "-b", "127.0.0.1", "-s", "2", "-d", "1")
			code := p.wait(tc.within)
			if code != ExitError {
				t.Fatalf("exit code %d, want %d\n%s", code, ExitError, p.out.String())
			}
			if exists(pidFile) {
				t.Errorf("pid file left behind")
			}
			var errLines []string
			for _, l := range strings.Split(p.out.String(), "\n") {
				if strings.Contains(l, tc.want) {
					errLines = append(errLines, l)
				}
			}
			if len(errLines) != 1 {
				t.Errorf("want one line with %q\n%s", tc.want, p.out.String())
			}
		})
	}
	t.Run("usage", func(t *testing.T) {
		p := startProc(t, dir, clientBin, "-x")
		if code := p.wait(5 * time.Second); code != ExitError {
			t.Errorf("unknown flag: exit %d, want %d", code, ExitError)
		}
		p = startProc(t, dir, clientBin, "-h")
		if code := p.wait(5 * time.Second); code != ExitOK || !strings.Contains(p.out.String(), "-t FILE") {
			t.Errorf("-h: exit %d\n%s", code, p.out.String())
		}
	})
}

// waiter is a shell that records a SIGUSR1, as the install script's trap.
func startWaiter(t *testing.T, dir string) (*proc, string) {
	t.Helper()
	got := filepath.Join(dir, "got-usr1")
	return startProc(t, dir, "/bin/sh", "-c", `trap 'echo usr1 > got-usr1' USR1; while :; do sleep 0.1; done`), got
}

// TestSignals: SIGUSR1 reaches -p on completion and SIGTERM then ends
// seeding with exit 0; SIGTERM during the download exits 2 without
// SIGUSR1. The pid file holds the client's pid while it runs.
func TestSignals(t *testing.T) {
	tr := startTracker(t, listenLocal(t))
	dir := t.TempDir()
	data := randomData(t, 300<<10)
	tr.seedFiles["image.tgz"] = data
	torrent := writeTorrent(t, dir, tr.URL+"/announce", []string{tr.URL + "/seed/image.tgz"}, "image.tgz", data, 32<<10)

	t.Run("complete", func(t *testing.T) {
		work := t.TempDir()
		w, got := startWaiter(t, work)
		c := startClient(t, work, torrent, "-w", "1", "-p", strconv.Itoa(w.cmd.Process.Pid))
		waitFor(t, 20*time.Second, "SIGUSR1 reaches the waiter", func() bool { return exists(got) }, c.out.String)
		checkFile(t, filepath.Join(work, "image.tgz"), data, c.out.String())
		pid, _ := os.ReadFile(filepath.Join(work, "client.pid"))
		if strings.TrimSpace(string(pid)) != strconv.Itoa(c.cmd.Process.Pid) {
			t.Errorf("pid file holds %q, want %d", pid, c.cmd.Process.Pid)
		}
		time.Sleep(500 * time.Millisecond)
		if !c.running() {
			t.Fatalf("the client stopped instead of seeding\n%s", c.out.String())
		}
		stopClient(t, c, work)
	})
	t.Run("interrupted", func(t *testing.T) {
		work := t.TempDir()
		tr.seedDown.Store(true) // nothing to download from
		defer tr.seedDown.Store(false)
		w, got := startWaiter(t, work)
		c := startClient(t, work, torrent, "-w", "1", "-p", strconv.Itoa(w.cmd.Process.Pid))
		waitFor(t, 10*time.Second, "the client writes its pid file", func() bool { return exists(filepath.Join(work, "client.pid")) }, c.out.String)
		time.Sleep(time.Second)
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		if code := c.wait(10 * time.Second); code != ExitInterrupted {
			t.Errorf("exit code %d after SIGTERM during the download, want %d\n%s", code, ExitInterrupted, c.out.String())
		}
		time.Sleep(300 * time.Millisecond)
		if exists(got) {
			t.Errorf("SIGUSR1 was sent although the download was interrupted")
		}
		if exists(filepath.Join(work, "client.pid")) {
			t.Errorf("pid file left behind")
		}
	})
}

func bencodeMarshal(v any) ([]byte, error) { return bencode.Marshal(v) }
