package httpmodule

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// testPKI is a CA made for one test, and the certificates it issues for
// 127.0.0.1 and localhost.
type testPKI struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
	pool *x509.CertPool
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "lameduck test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testPKI{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pool: pool}
}

// issue returns a certificate with the serial number and its key, PEM
// encoded, for a server (or, with client set, a client).
func (p *testPKI) issue(t *testing.T, serial int64, client bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// keyPair is a client's certificate and key.
func (p *testPKI) keyPair(t *testing.T, serial int64) tls.Certificate {
	t.Helper()
	c, k := p.issue(t, serial, true)
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

// writeFile writes b to dir/name.
func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// tlsServerConfig is a server on a free loopback port speaking HTTP/1.1
// and HTTP/2 over TLS with a certificate of pki with the serial number.
func tlsServerConfig(t *testing.T, pki *testPKI, serial int64) ServerSettings {
	t.Helper()
	dir := t.TempDir()
	c, k := pki.issue(t, serial, false)
	cfg := testServerConfig()
	cfg.Protocols = []Protocol{HTTP1, H2}
	cfg.TLS.CertFile = writeFile(t, dir, "tls.crt", c)
	cfg.TLS.KeyFile = writeFile(t, dir, "tls.key", k)
	cfg.TLS.ReloadInterval = 0
	return cfg
}

// countingDialer counts the TCP connections it makes.
type countingDialer struct{ n atomic.Int32 }

func (d *countingDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.n.Add(1)
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

// tlsClient returns a client that trusts pki and speaks HTTP/2 over TLS
// (or, with h1 set, HTTP/1.1 only), dialing through d if not nil.
func tlsClient(t *testing.T, pki *testPKI, h1 bool, d *countingDialer) *http.Client {
	var protos http.Protocols
	protos.SetHTTP2(!h1)
	protos.SetHTTP1(h1)
	tr := &http.Transport{Protocols: &protos, TLSClientConfig: &tls.Config{RootCAs: pki.pool}}
	if d != nil {
		tr.DialContext = d.dial
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func tlsURL(s *Server, path string) string { return "https://" + s.Addr().String() + path }

// dialRawH2TLS connects over TLS with ALPN h2 and starts HTTP/2.
func dialRawH2TLS(t *testing.T, addr string, pki *testPKI) *rawH2 {
	t.Helper()
	tc, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pki.pool, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tc.Close() })
	if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN negotiated %q, want h2", p)
	}
	h := &rawH2{t: t, nc: tc, br: bufio.NewReader(tc)}
	h.start()
	return h
}
