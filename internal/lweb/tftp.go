package lweb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"

	"github.com/pin/tftp/v3"
)

// errReadOnly answers TFTP write requests.
var errReadOnly = errors.New("read-only server: writes are refused")

// tftpServer serves the iPXE binaries from a directory and synthesises
// pxelinux.cfg/01-<mac> files from lweb's discovery (the job of xinetd's
// tftpd and of lfs_pxelinux in Luna 1.2). It only reads.
type tftpServer struct {
	root *os.Root
	web  *Server
	srv  *tftp.Server
}

// listenTFTP binds addr (UDP) and opens dir, so that a busy port or a
// missing directory stops lweb before anything is served.
func listenTFTP(addr, dir string, web *Server) (*tftpServer, net.PacketConn, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("tftp root: %w (make the directory, pass --tftp-root DIR, or --tftp off)", err)
	}
	conn, err := net.ListenPacket("udp", addr)
	if err != nil {
		_ = root.Close()
		return nil, nil, fmt.Errorf("tftp: %w", err)
	}
	t := &tftpServer{root: root, web: web}
	t.srv = tftp.NewServer(t.read, func(string, io.WriterTo) error { return errReadOnly })
	return t, conn, nil
}

// run serves on conn until ctx ends, then lets the transfers under way finish.
func (t *tftpServer) run(ctx context.Context, conn net.PacketConn) error {
	done := make(chan error, 1)
	go func() { done <- t.srv.Serve(conn) }()
	select {
	case <-ctx.Done():
		t.srv.Shutdown()
		<-done
		return t.root.Close()
	case err := <-done:
		_ = t.root.Close()
		return fmt.Errorf("tftp: %w", err)
	}
}

// cleanTFTPName is a requested name as a path below the root; absolute
// names, ".." elements and backslashes are refused.
func cleanTFTPName(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") || strings.ContainsAny(name, "\\\x00") {
		return "", fmt.Errorf("refused name %q", name)
	}
	for _, el := range strings.Split(name, "/") {
		if el == ".." {
			return "", fmt.Errorf("refused name %q", name)
		}
	}
	return path.Clean(name), nil
}

func (t *tftpServer) read(name string, rf io.ReaderFrom) error {
	clean, err := cleanTFTPName(name)
	if err != nil {
		t.web.Log.Warn("tftp: refused", "file", name)
		return err
	}
	client := ""
	if ot, ok := rf.(tftp.OutgoingTransfer); ok {
		a := ot.RemoteAddr()
		client = a.IP.String()
	}
	if dir, file := path.Split(clean); dir == "pxelinux.cfg/" {
		body, err := t.pxelinux(file, client)
		if err != nil {
			t.web.Log.Debug("tftp: no pxelinux file", "file", name, "client", client, "err", err)
			return err
		}
		if ot, ok := rf.(tftp.OutgoingTransfer); ok {
			ot.SetSize(int64(len(body)))
		}
		_, err = rf.ReadFrom(bytes.NewReader(body))
		return err
	}
	f, err := t.root.Open(clean)
	if err != nil {
		return errors.New("file not found")
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return errors.New("file not found")
	}
	t.web.Log.Debug("tftp: sending", "file", clean, "client", client)
	_, err = rf.ReadFrom(f)
	return err
}

// pxelinux is the syslinux boot script for a pxelinux.cfg name whose last
// six "-"-separated fields are a MAC (pxelinux asks for 01-aa-bb-cc-dd-ee-ff):
// the answer of lweb's discovery for that MAC, with its side effects
// (status boot.request, boot token, a MAC learnt through the switches).
func (t *tftpServer) pxelinux(file, client string) ([]byte, error) {
	f := strings.Split(file, "-")
	if len(f) < 6 {
		return nil, fs.ErrNotExist
	}
	mac := strings.Join(f[len(f)-6:], ":")
	q := url.Values{"step": {"discovery"}, "hwdata": {mac}, "type": {"syslinux"}}
	r, err := http.NewRequest(http.MethodGet, "/luna?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	r.RemoteAddr = net.JoinHostPort(client, "0")
	w := &bufferWriter{header: http.Header{}, code: http.StatusOK}
	t.web.discovery(w, r)
	if w.code != http.StatusOK {
		return nil, errors.New("file not found")
	}
	return w.body.Bytes(), nil
}

// bufferWriter keeps a handler's answer in memory.
type bufferWriter struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (w *bufferWriter) Header() http.Header         { return w.header }
func (w *bufferWriter) Write(b []byte) (int, error) { return w.body.Write(b) }
func (w *bufferWriter) WriteHeader(code int)        { w.code = code }
