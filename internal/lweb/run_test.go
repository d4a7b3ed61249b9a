package lweb

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// writeCert makes a self-signed certificate for 127.0.0.1.
func writeCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "luna test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return certFile, keyFile, pool
}

// TestRunHTTPSAndGracefulStop runs the whole daemon: it serves HTTPS when
// the cluster says so, writes https:// URLs, and returns cleanly when
// stopped.
func TestRunHTTPSAndGracefulStop(t *testing.T) {
	f := newFixture(t)
	cert, key, pool := writeCert(t, f.path)
	f.luna("cluster", "change", "--frontend_https", "y", "--https_cert", cert, "--https_key", key,
		"--frontend_address", "127.0.0.1")
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	reload := make(chan os.Signal, 1)
	done := make(chan error, 1)
	var logb strings.Builder
	lw := &lockedWriter{w: &logb}
	log := slog.New(slog.NewTextHandler(lw, nil))
	logText := func() string {
		lw.mu.Lock()
		defer lw.mu.Unlock()
		return logb.String()
	}
	go func() {
		done <- Run(ctx, Config{Options: Options{Listen: "127.0.0.1:0", MenuTimeout: time.Second}, Log: log, Getenv: func(k string) string { return f.env[k] }, Ready: func(a string) { ready <- a }, Now: f.clock.Now, Reload: reload})
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("lweb stopped: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("lweb did not start")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	resp, err := client.Get("https://" + addr + "/luna?step=boot")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "set luna-base https://127.0.0.1:7050") {
		t.Fatalf("menu over HTTPS: %d\n%s", resp.StatusCode, body)
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Log("plain HTTP on the HTTPS port answered (Go replies 400 to it)")
	}
	// A status reported through the running daemon is stored by the batch writer.
	resp, err = client.Get("https://" + addr + "/luna?step=install&node=node001&status=install.partscript")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status from 127.0.0.1 without a token: %d, want 403", resp.StatusCode)
	}
	f.luna("cluster", "change", "--insecure_install", "y")
	f.clock.Advance(clusterTTL) // the cached cluster settings expire
	resp, err = client.Get("https://" + addr + "/luna?step=install&node=node001&status=install.partscript")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status with insecure_install: %d, want 200", resp.StatusCode)
	}
	// A reload (SIGHUP in cmd/lweb) reads the settings again at once, with
	// no time passing.
	f.luna("cluster", "change", "--insecure_install", "n")
	reload <- syscall.SIGHUP
	for !strings.Contains(logText(), "reloaded") {
		select {
		case err := <-done:
			t.Fatalf("lweb stopped: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	resp, err = client.Get("https://" + addr + "/luna?step=install&node=node001&status=install.unpack")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status after insecure_install n and a reload: %d, want 403", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v on a graceful stop", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("lweb did not stop")
	}
	if f.status("node001") != "install.partscript" {
		t.Fatalf("status = %q: the pending status was not flushed on stop", f.status("node001"))
	}
}

// lockedWriter serialises writes of concurrent log lines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
