package grpcmodule_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/lameduck/lameduck/examples/starter/grpcfeed"
	"github.com/lameduck/lameduck/grpcmodule"
	"github.com/lameduck/lameduck/lameducktest"
)

// writeCert writes a self-signed certificate for 127.0.0.1 and its key,
// and returns their paths and a pool that trusts the certificate.
func writeCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lameduck test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// With certFile and keyFile the server speaks TLS: a client that trusts
// the certificate is served, a plaintext one is not.
func TestTLS(t *testing.T) {
	certFile, keyFile, pool := writeCert(t)
	app := startApp(t, nil, func(s *grpcmodule.ServerSettings) { s.CertFile, s.KeyFile = certFile, keyFile })
	addr := app.GRPCAddr("public")
	cc, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if err := grpcfeed.CallEcho(t.Context(), cc, []byte("over TLS")); err != nil {
		t.Fatalf("TLS client: %v", err)
	}
	if err := grpcfeed.CallEcho(t.Context(), dial(t, addr), []byte("plaintext")); err == nil {
		t.Fatal("a plaintext client was served by a TLS server")
	}
	lameducktest.RequireClean(t, app.Stop())
}

// A key file that does not exist fails the start, saying what to fix.
func TestTLSBadFiles(t *testing.T) {
	srv := grpcmodule.NewServer("public", func() grpcmodule.ServerSettings {
		s := grpcmodule.DefaultServerSettings("127.0.0.1:0")
		s.CertFile, s.KeyFile = "/nonexistent/cert.pem", "/nonexistent/key.pem"
		return s
	}())
	err := srv.Start(t.Context())
	if err == nil || !strings.Contains(err.Error(), "fix certFile and keyFile") {
		t.Fatalf("Start with missing files: %v", err)
	}
}
