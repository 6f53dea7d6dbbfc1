// Command loadservers serves the same handler from a bare net/http server,
// from a lameduck server (httpmodule.NewServer) and from a lameduck server
// whose metrics are on (metrics.New watching it, its registry scraped every
// 100ms, 150 times as often as a usual 15s scrape interval), with the same
// settings, for the request-path comparison of the benchmark suite: the
// suite runs wrk and h2load against each, in processes of their own.
//
// It also serves the handler over TLS (HTTP/1.1 and HTTP/2 by ALPN) from a
// bare net/http server and a lameduck server with the same certificate, a
// self-signed ECDSA P-256 one made at start (the load generators do not
// verify it), for the comparison of the TLS request path.
//
// It prints "bare ADDR", "lameduck ADDR", "lameduck+metrics ADDR",
// "bare-tls ADDR" and "lameduck-tls ADDR", then serves until its standard
// input closes.
//
//	go run ./cmd/loadservers
package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/metrics"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadservers:", err)
		os.Exit(1)
	}
}

// handler is what both servers serve: GET /hello, a small fixed body.
func handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "hello, world\n")
	})
	return mux
}

func run() error {
	cfg := httpmodule.DefaultServerSettings("127.0.0.1:0")
	ld := httpmodule.NewServer("public", cfg, handler())
	if err := ld.Start(context.Background()); err != nil {
		return err
	}
	defer ld.Close()

	withMetrics := httpmodule.NewServer("public", cfg, handler())
	if err := withMetrics.Start(context.Background()); err != nil {
		return err
	}
	defer withMetrics.Close()
	stopScraping := scrape(withMetrics)
	defer stopScraping()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	bare := &http.Server{
		Handler: handler(), Protocols: &protos,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout, IdleTimeout: cfg.IdleTimeout, MaxHeaderBytes: int(cfg.MaxHeaderBytes),
		HTTP2: &http.HTTP2Config{MaxConcurrentStreams: cfg.MaxConcurrentStreams},
	}
	go func() { _ = bare.Serve(ln) }()
	defer bare.Close()

	certFile, keyFile, cleanup, err := writeCert()
	if err != nil {
		return err
	}
	defer cleanup()
	tlsCfg := cfg
	tlsCfg.Protocols = []httpmodule.Protocol{httpmodule.HTTP1, httpmodule.H2}
	tlsCfg.TLS.CertFile, tlsCfg.TLS.KeyFile, tlsCfg.TLS.ReloadInterval = certFile, keyFile, 0
	ldTLS := httpmodule.NewServer("public", tlsCfg, handler())
	if err := ldTLS.Start(context.Background()); err != nil {
		return err
	}
	defer ldTLS.Close()
	tlsLn, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	var tlsProtos http.Protocols
	tlsProtos.SetHTTP1(true)
	tlsProtos.SetHTTP2(true)
	bareTLS := &http.Server{
		Handler: handler(), Protocols: &tlsProtos,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout, IdleTimeout: cfg.IdleTimeout, MaxHeaderBytes: int(cfg.MaxHeaderBytes),
		HTTP2: &http.HTTP2Config{MaxConcurrentStreams: cfg.MaxConcurrentStreams},
	}
	go func() { _ = bareTLS.ServeTLS(tlsLn, certFile, keyFile) }()
	defer bareTLS.Close()

	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(out, "bare %s\nlameduck %s\nlameduck+metrics %s\nbare-tls %s\nlameduck-tls %s\n",
		ln.Addr(), ld.Addr(), withMetrics.Addr(), tlsLn.Addr(), ldTLS.Addr())
	if err := out.Flush(); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// writeCert writes a self-signed certificate for 127.0.0.1 to a temporary
// directory, which cleanup removes.
func writeCert() (certFile, keyFile string, cleanup func(), err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", nil, err
	}
	dir, err := os.MkdirTemp("", "loadservers-tls-")
	if err != nil {
		return "", "", nil, err
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	err = errors.Join(
		os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600),
		os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600))
	if err != nil {
		cleanup()
		return "", "", nil, err
	}
	return certFile, keyFile, cleanup, nil
}

// scrape turns s's metrics on and scrapes them every 100ms, through the
// handler that would serve them, until the returned function is called.
func scrape(s *httpmodule.Server) (stop func()) {
	m := metrics.New(metrics.WithRoutes())
	m.AddServers(s)
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/metrics", nil))
			case <-done:
				return
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}
