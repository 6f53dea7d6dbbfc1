package httpmodule

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// secretVolume lays files out as the kubelet does for a Secret volume:
// the data in a timestamped directory, "..data" a symlink to it, and each
// file a symlink through "..data". An update writes a new directory and
// renames a new "..data" symlink over the old one, atomically.
type secretVolume struct {
	t   *testing.T
	dir string
	gen int
}

func newSecretVolume(t *testing.T, cert, key []byte) *secretVolume {
	v := &secretVolume{t: t, dir: t.TempDir()}
	v.update(cert, key)
	for _, name := range []string{"tls.crt", "tls.key"} {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(v.dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

func (v *secretVolume) update(cert, key []byte) {
	v.t.Helper()
	v.gen++
	data := fmt.Sprintf("..2026_12_04_00_00_%02d.%d", v.gen, v.gen)
	if err := os.Mkdir(filepath.Join(v.dir, data), 0o755); err != nil {
		v.t.Fatal(err)
	}
	writeFile(v.t, filepath.Join(v.dir, data), "tls.crt", cert)
	writeFile(v.t, filepath.Join(v.dir, data), "tls.key", key)
	tmp := filepath.Join(v.dir, "..data_tmp")
	if err := os.Symlink(data, tmp); err != nil {
		v.t.Fatal(err)
	}
	old, _ := os.Readlink(filepath.Join(v.dir, "..data"))
	if err := os.Rename(tmp, filepath.Join(v.dir, "..data")); err != nil {
		v.t.Fatal(err)
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(v.dir, old)); err != nil { // as the kubelet does
			v.t.Fatal(err)
		}
	}
}

func (v *secretVolume) certFile() string { return filepath.Join(v.dir, "tls.crt") }
func (v *secretVolume) keyFile() string  { return filepath.Join(v.dir, "tls.key") }

// servedSerial makes a request with client and returns the serial number of
// the certificate the connection it went over was made with.
func servedSerial(t *testing.T, client *http.Client, s *Server) string {
	t.Helper()
	resp, err := client.Get(tlsURL(s, "/"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return fmt.Sprintf("%X", resp.TLS.PeerCertificates[0].SerialNumber)
}

// reloadServer starts a TLS server on the files of vol that reports each
// reload attempt on the returned channel, logging to obs.
func reloadServer(t *testing.T, certFile, keyFile string, interval bool) (*Server, <-chan error, *observer.ObservedLogs) {
	t.Helper()
	cfg := testServerConfig()
	cfg.Protocols = []Protocol{HTTP1, H2}
	cfg.TLS.CertFile, cfg.TLS.KeyFile = certFile, keyFile
	cfg.TLS.ReloadInterval = 0
	if interval {
		cfg.TLS.ReloadInterval = 100 * time.Millisecond
	}
	core, obs := observer.New(zap.InfoLevel)
	reloads := make(chan error, 16)
	s := NewServer("public", cfg, http.NewServeMux(), WithLogger(zap.New(core)))
	s.onTLSReload = func(err error) { reloads <- err }
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, reloads, obs
}

// A Kubernetes Secret volume update (the "..data" symlink swap) is seen by
// the poll: new handshakes get the new certificate, the connection made
// before keeps serving with the one it negotiated, and the log and the
// stats name the serial served.
func TestTLSReloadsOnSecretVolumeSwap(t *testing.T) {
	pki := newTestPKI(t)
	c, k := pki.issue(t, 0xA0, false)
	vol := newSecretVolume(t, c, k)
	s, reloads, obs := reloadServer(t, vol.certFile(), vol.keyFile(), true)
	var d countingDialer
	kept := tlsClient(t, pki, false, &d)
	if got := servedSerial(t, kept, s); got != "A0" {
		t.Fatalf("served serial %s, want A0", got)
	}

	c, k = pki.issue(t, 0xA1, false)
	vol.update(c, k)
	if err := recv(t, reloads, "the reload"); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if got := s.Stats().TLSSerial; got != "A1" {
		t.Errorf("Stats().TLSSerial = %s after the swap, want A1", got)
	}
	if got := servedSerial(t, kept, s); got != "A0" || d.n.Load() != 1 {
		t.Errorf("the connection made before the swap: serial %s over %d connections, want A0 over 1 (not dropped)", got, d.n.Load())
	}
	if got := servedSerial(t, tlsClient(t, pki, false, nil), s); got != "A1" {
		t.Errorf("a new connection got serial %s, want A1", got)
	}
	if logs := obs.FilterMessage("tls certificate reloaded").FilterField(zap.String("serial", "A1")).Len(); logs != 1 {
		t.Errorf("%d log entries name the new serial A1, want 1", logs)
	}
}

// A bad new pair (a key that is not the certificate's, as a half-written
// update would give) keeps the certificate served now, and the log says why
// and which serial is still served; the next good pair is taken.
func TestTLSReloadKeepsOldPairWhenNewOneIsBad(t *testing.T) {
	pki := newTestPKI(t)
	c, k := pki.issue(t, 0xB0, false)
	vol := newSecretVolume(t, c, k)
	s, reloads, obs := reloadServer(t, vol.certFile(), vol.keyFile(), true)

	badCert, _ := pki.issue(t, 0xB1, false)
	_, otherKey := pki.issue(t, 0xB2, false)
	vol.update(badCert, otherKey)
	err := recv(t, reloads, "the failed reload")
	if err == nil || !strings.Contains(err.Error(), "still serving serial B0") {
		t.Fatalf("reload of a mismatched pair: %v, want an error saying serial B0 is still served", err)
	}
	if got := servedSerial(t, tlsClient(t, pki, false, nil), s); got != "B0" {
		t.Errorf("after the bad update a new connection got serial %s, want B0", got)
	}
	if n := obs.FilterMessage("tls certificate reload failed; keeping the certificate served now").
		FilterField(zap.String("serial", "B0")).Len(); n != 1 {
		t.Errorf("%d warnings name the kept serial, want 1 (the same bad files are not retried)", n)
	}

	c, k = pki.issue(t, 0xB3, false)
	vol.update(c, k)
	if err := recv(t, reloads, "the good reload"); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if got := servedSerial(t, tlsClient(t, pki, false, nil), s); got != "B3" {
		t.Errorf("after the good update a new connection got serial %s, want B3", got)
	}
}

// SIGHUP re-reads the files even with polling off; so does ReloadTLS,
// which a plaintext server refuses.
func TestTLSReloadsOnSIGHUP(t *testing.T) {
	pki := newTestPKI(t)
	dir := t.TempDir()
	c, k := pki.issue(t, 0xC0, false)
	certFile, keyFile := writeFile(t, dir, "tls.crt", c), writeFile(t, dir, "tls.key", k)
	s, reloads, _ := reloadServer(t, certFile, keyFile, false)

	c, k = pki.issue(t, 0xC1, false)
	writeFile(t, dir, "tls.crt", c)
	writeFile(t, dir, "tls.key", k)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, reloads, "the reload on SIGHUP"); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if got := servedSerial(t, tlsClient(t, pki, false, nil), s); got != "C1" {
		t.Errorf("after SIGHUP a new connection got serial %s, want C1", got)
	}

	c, k = pki.issue(t, 0xC2, false)
	writeFile(t, dir, "tls.crt", c)
	writeFile(t, dir, "tls.key", k)
	if err := s.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	<-reloads
	if got := s.Stats().TLSSerial; got != "C2" {
		t.Errorf("after ReloadTLS the serial is %s, want C2", got)
	}
	plain := startServer(t, testServerConfig(), http.NewServeMux())
	if err := plain.ReloadTLS(); !errors.Is(err, ErrNoTLS) {
		t.Errorf("ReloadTLS of a plaintext server: %v, want ErrNoTLS", err)
	}
}

// The poll does not retry files that failed until they change again: a
// bad pair left in place is reported once, not at every look.
func TestTLSPollDoesNotRetrySameBadFiles(t *testing.T) {
	pki := newTestPKI(t)
	dir := t.TempDir()
	c, k := pki.issue(t, 0xD0, false)
	cfg := TLSSettings{CertFile: writeFile(t, dir, "tls.crt", c), KeyFile: writeFile(t, dir, "tls.key", k), MinVersion: "1.2"}
	attempts := 0
	src, err := newCertSource(cfg, []Protocol{H2}, "public", zap.NewNop(), func(error) { attempts++ })
	if err != nil {
		t.Fatal(err)
	}
	if err := src.reload(false); err != nil || attempts != 0 {
		t.Fatalf("poll of unchanged files: %v after %d attempts, want nothing done", err, attempts)
	}
	writeFile(t, dir, "tls.key", []byte("not a key"))
	if err := src.reload(false); err == nil || attempts != 1 {
		t.Fatalf("poll of a bad key: %v after %d attempts, want one failed attempt", err, attempts)
	}
	if err := src.reload(false); err != nil || attempts != 1 {
		t.Errorf("second poll of the same bad key: %v after %d attempts, want no new attempt", err, attempts)
	}
	if src.serial() != "D0" {
		t.Errorf("serving %s, want D0", src.serial())
	}
	writeFile(t, dir, "tls.key", k)
	if err := src.reload(false); err != nil || attempts != 2 || src.serial() != "D0" {
		t.Errorf("poll of the key put back: %v after %d attempts serving %s, want a good reload of D0", err, attempts, src.serial())
	}
}

// A client's TLS session resumes across a reload: the listener's session
// ticket keys are the same for every load.
func TestTLSSessionResumesAcrossReload(t *testing.T) {
	pki := newTestPKI(t)
	dir := t.TempDir()
	c, k := pki.issue(t, 0xE0, false)
	certFile, keyFile := writeFile(t, dir, "tls.crt", c), writeFile(t, dir, "tls.key", k)
	s, reloads, _ := reloadServer(t, certFile, keyFile, false)
	cache := tls.NewLRUClientSessionCache(4)
	handshake := func() tls.ConnectionState {
		tc, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{RootCAs: pki.pool, ClientSessionCache: cache, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer tc.Close()
		// TLS 1.3 tickets arrive after the handshake: read until the
		// server's reply so that the ticket is in the cache.
		io.WriteString(tc, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		io.ReadAll(tc)
		return tc.ConnectionState()
	}
	handshake()
	c, k = pki.issue(t, 0xE1, false)
	writeFile(t, dir, "tls.crt", c)
	writeFile(t, dir, "tls.key", k)
	if err := s.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	<-reloads
	if st := handshake(); !st.DidResume {
		t.Error("the session did not resume after the reload")
	}
}
