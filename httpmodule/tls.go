package httpmodule

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// certSource is the TLS of one run of a server: the configuration built
// from the files last loaded, swapped whole when they change, so that a
// handshake always sees one certificate, its key and one CA pool together.
// Connections already established keep the certificate they negotiated.
type certSource struct {
	cfg    TLSSettings
	protos []string // ALPN, in the server's order of preference
	log    *zap.Logger
	server string

	current atomic.Pointer[loadedCerts]

	mu sync.Mutex // one load at a time; guards failed
	// failed are the stamps of the files of the last load that failed:
	// the poll does not try (and log) the same bad files again.
	failed []fileStamp

	// onReload, if set (by tests), is called after every reload attempt.
	onReload func(error)
}

// loadedCerts is one successful load of the files.
type loadedCerts struct {
	config *tls.Config
	serial string
	stamps []fileStamp
}

// fileStamp identifies the content of a file by what stat says of its
// resolved path: a Kubernetes Secret volume replaces a file by pointing a
// symlink at a new directory, which shows as another file (inode), and an
// in-place rewrite shows as another size or modification time.
type fileStamp struct {
	path string
	info os.FileInfo // nil when the file could not be stat'ed
}

func (a fileStamp) same(b fileStamp) bool {
	if a.info == nil || b.info == nil {
		return a.info == nil && b.info == nil
	}
	return os.SameFile(a.info, b.info) && a.info.Size() == b.info.Size() && a.info.ModTime().Equal(b.info.ModTime())
}

func sameStamps(a, b []fileStamp) bool {
	return slices.EqualFunc(a, b, fileStamp.same)
}

// newCertSource loads the files of cfg once; it fails if they do not make
// a usable configuration.
func newCertSource(cfg TLSSettings, protocols []Protocol, server string, log *zap.Logger, onReload func(error)) (*certSource, error) {
	src := &certSource{cfg: cfg, log: log, server: server, onReload: onReload}
	if slices.Contains(protocols, H2) {
		src.protos = append(src.protos, "h2")
	}
	if slices.Contains(protocols, HTTP1) {
		src.protos = append(src.protos, "http/1.1")
	}
	loaded, err := src.load()
	if err != nil {
		return nil, err
	}
	src.current.Store(loaded)
	log.Info("tls certificate loaded", zap.String("server", server), zap.String("serial", loaded.serial),
		zap.Strings("alpn", src.protos), zap.String("minVersion", cfg.MinVersion))
	return src, nil
}

// stamps stats the files, before they are read, so that a change made
// while they are read shows at the next look.
func (src *certSource) stamps() []fileStamp {
	paths := []string{src.cfg.CertFile, src.cfg.KeyFile}
	if src.cfg.ClientCAFile != "" {
		paths = append(paths, src.cfg.ClientCAFile)
	}
	out := make([]fileStamp, len(paths))
	for i, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			info = nil
		}
		out[i] = fileStamp{path: p, info: info}
	}
	return out
}

// load reads the files and builds the configuration handshakes use.
func (src *certSource) load() (*loadedCerts, error) {
	stamps := src.stamps()
	cert, err := tls.LoadX509KeyPair(src.cfg.CertFile, src.cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls.certFile %s and tls.keyFile %s: %w", src.cfg.CertFile, src.cfg.KeyFile, err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("tls.certFile %s: %w", src.cfg.CertFile, err)
		}
	}
	config := &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   src.protos,
		MinVersion:   tls.VersionTLS12,
	}
	if src.cfg.MinVersion == "1.3" {
		config.MinVersion = tls.VersionTLS13
	}
	if src.cfg.ClientCAFile != "" {
		pem, err := os.ReadFile(src.cfg.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.clientCAFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.clientCAFile %s: no PEM certificate in it", src.cfg.ClientCAFile)
		}
		config.ClientCAs = pool
		config.ClientAuth = tls.RequireAndVerifyClientCert
		if src.cfg.ClientAuth == "verify-if-given" {
			config.ClientAuth = tls.VerifyClientCertIfGiven
		}
	}
	return &loadedCerts{config: config, serial: serialText(leaf), stamps: stamps}, nil
}

// serialText is the certificate's serial number as openssl prints it,
// hexadecimal.
func serialText(c *x509.Certificate) string {
	return fmt.Sprintf("%X", c.SerialNumber)
}

// listenerConfig is the configuration of the TLS listener: every handshake
// takes the configuration of the latest load, whose session ticket keys
// are this one's (Go falls back to them), so resumption survives a reload.
func (src *certSource) listenerConfig() *tls.Config {
	return &tls.Config{
		NextProtos: src.protos,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return src.current.Load().config, nil
		},
	}
}

// serial returns the serial number of the certificate served now.
func (src *certSource) serial() string { return src.current.Load().serial }

// reload re-reads the files; with force unset, only when they changed
// since the last load (or the last failed one). A bad new pair keeps the
// one served now; the error says why.
func (src *certSource) reload(force bool) error {
	src.mu.Lock()
	defer src.mu.Unlock()
	old := src.current.Load()
	if !force {
		now := src.stamps()
		if sameStamps(now, old.stamps) || src.failed != nil && sameStamps(now, src.failed) {
			return nil
		}
	}
	loaded, err := src.load()
	if err == nil {
		src.failed = nil
		src.current.Store(loaded)
		src.log.Info("tls certificate reloaded", zap.String("server", src.server),
			zap.String("serial", loaded.serial), zap.String("previousSerial", old.serial))
	} else {
		src.failed = src.stamps()
		err = fmt.Errorf("httpmodule: server %q: %w; still serving serial %s", src.server, err, old.serial)
		src.log.Warn("tls certificate reload failed; keeping the certificate served now",
			zap.String("server", src.server), zap.String("serial", old.serial), zap.Error(err))
	}
	if src.onReload != nil {
		src.onReload(err)
	}
	return err
}

// notifyHUP starts relaying SIGHUP to the returned channel, at once, so
// that a SIGHUP sent once the server has started cannot take the default
// action (ending the process).
func notifyHUP() chan os.Signal {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return hup
}

// watch re-reads the files when they change, looking every
// ReloadInterval, and when hup receives, until done is closed.
func (src *certSource) watch(hup chan os.Signal, done <-chan struct{}) {
	defer signal.Stop(hup)
	var tick <-chan time.Time
	if src.cfg.ReloadInterval > 0 {
		t := time.NewTicker(src.cfg.ReloadInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-done:
			return
		case <-hup:
			_ = src.reload(true)
		case <-tick:
			_ = src.reload(false)
		}
	}
}

// tracked returns the connection the server's listener accepted under
// nc, which net/http hands out as a *tls.Conn on a TLS server.
func tracked(nc net.Conn) (*conn, bool) {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	c, ok := nc.(*conn)
	return c, ok
}

// ErrNoTLS is returned by [Server.ReloadTLS] for a server that is not
// running with TLS.
var ErrNoTLS = errors.New("httpmodule: the server is not running with TLS")

// ReloadTLS re-reads the server's certificate, key and client CA files now,
// as SIGHUP does. If they do not make a usable pair, the server keeps the
// certificate it serves and the error says why. Connections already
// established are not touched; new handshakes get the new certificate.
func (s *Server) ReloadTLS() error {
	s.mu.Lock()
	run := s.run
	s.mu.Unlock()
	if run == nil || run.tls == nil {
		return ErrNoTLS
	}
	return run.tls.reload(true)
}
