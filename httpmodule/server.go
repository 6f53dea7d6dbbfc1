package httpmodule

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/lameduck/lameduck/lifecycle"
)

// Server is one named HTTP server: HTTP/1.1, h2c (HTTP/2 with prior
// knowledge) or both on one listener, served by net/http with its native
// unencrypted HTTP/2. It tracks its requests and connections so that its
// stop ends the moment the last request is done, and names the requests it
// had to cut off.
//
// The [Module] builds one Server per configured name. Without Fx, build it
// with [NewServer], call [Server.Start], and register [Server.Steps] with a
// [lifecycle.Coordinator].
//
// A Server can be started again after it stopped; each start binds a new
// listener and builds a new http.Server.
type Server struct {
	name string
	cfg  ServerSettings
	// addrKey names the setting of the address in errors, and
	// settingsKey the server's settings ("servers.public").
	addrKey, settingsKey string
	handler              http.Handler
	mux                  *http.ServeMux // names the route of a cut request; may be nil
	log                  *zap.Logger
	admin                bool

	lameDuck atomic.Bool
	// onAccept, if set (by tests), is called when a connection has been
	// accepted; listen, if set (by tests), replaces the TCP listener, for
	// tests that run a server in a synctest bubble over net.Pipe.
	onAccept func()
	listen   func(ctx context.Context) (net.Listener, error)
	// onTLSReload, if set (by tests), is called after every attempt to
	// reload the certificate, with its error.
	onTLSReload func(error)

	mu   sync.Mutex
	run  *serverRun // the running instance, nil when stopped
	last *serverRun // the latest instance, running or not
}

// ServerOption configures a [Server].
type ServerOption func(*Server)

// WithLogger sets the logger of a server. The default logs nothing.
func WithLogger(l *zap.Logger) ServerOption { return func(s *Server) { s.log = l } }

// WithRouteNames lets the server name the route pattern of a request it
// cuts off, by asking mux which pattern matches it. Servers built by the
// [Module] have it; pass it when h routes through a ServeMux of yours.
func WithRouteNames(mux *http.ServeMux) ServerOption { return func(s *Server) { s.mux = mux } }

// NewServer returns a stopped server named name that serves h with the
// settings cfg.
func NewServer(name string, cfg ServerSettings, h http.Handler, opts ...ServerOption) *Server {
	if h == nil {
		h = http.NotFoundHandler()
	}
	s := &Server{name: name, cfg: cfg, handler: h, log: zap.NewNop()}
	if mux, ok := h.(*http.ServeMux); ok {
		s.mux = mux
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Name returns the server's name, a key of the servers' [Settings] ("admin" for
// the admin server).
func (s *Server) Name() string { return s.name }

// TLS reports whether the server serves TLS: its tls.certFile is set.
func (s *Server) TLS() bool { return s.cfg.TLS.Enabled() }

// Addr returns the address the server is bound to, or was bound to last
// if it has stopped; nil before its first start. With port 0 in the
// configured address, this is where the chosen port shows.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		return nil
	}
	return s.last.addr
}

// Start binds the listener, synchronously, so that a bad or busy address
// fails here with an error that names the server and the address, and
// serves in the background.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.run != nil {
		return fmt.Errorf("httpmodule: server %q: already started on %s", s.name, s.run.addr)
	}
	var certs *certSource
	if s.cfg.TLS.Enabled() {
		var err error
		if certs, err = newCertSource(s.cfg.TLS, s.cfg.Protocols, s.name, s.log, s.onTLSReload); err != nil {
			if s.settingsKey != "" {
				return fmt.Errorf("httpmodule: server %q: %w; fix the files or %s.tls", s.name, err, s.settingsKey)
			}
			return fmt.Errorf("httpmodule: server %q: %w; fix the files or the TLS settings", s.name, err)
		}
	}
	listen := s.listen
	if listen == nil {
		listen = func(ctx context.Context) (net.Listener, error) {
			var lc net.ListenConfig
			return lc.Listen(ctx, "tcp", s.cfg.Addr)
		}
	}
	ln, err := listen(ctx)
	if err != nil {
		if s.addrKey != "" {
			return fmt.Errorf("httpmodule: server %q: %w; free the address or change %s", s.name, err, s.addrKey)
		}
		return fmt.Errorf("httpmodule: server %q: %w; free the address or choose another", s.name, err)
	}
	s.lameDuck.Store(false)
	if slices.Contains(s.cfg.Protocols, H2C) || slices.Contains(s.cfg.Protocols, H2) {
		warnGoVersion(s.log)
	}
	run := newServerRun(s, ln, certs)
	s.run, s.last = run, run
	run.start()
	s.log.Info("http server listening", zap.String("server", s.name), zap.Stringer("addr", run.addr),
		zap.Strings("protocols", protocolNames(s.cfg.Protocols)), zap.Bool("tls", certs != nil))
	return nil
}

// Steps returns the server's steps in the stop: for an application
// server, "Connection: close" on every response from readiness off, and
// the shutdown in the shutdown phase; for the admin server, its shutdown
// in the final phase.
func (s *Server) Steps() []lifecycle.Step {
	stepName := "http." + s.name
	if s.admin {
		return []lifecycle.Step{{Phase: lifecycle.Final, Name: stepName, Stopper: shutdownStep{s}}}
	}
	return []lifecycle.Step{
		lifecycle.NewStep(lifecycle.ReadinessOff, stepName, func(context.Context) error {
			s.EnterLameDuck()
			return nil
		}),
		{Phase: lifecycle.Shutdown, Name: stepName, Stopper: shutdownStep{s}},
	}
}

// EnterLameDuck makes every HTTP/1 response from now on carry "Connection:
// close", so HTTP/1 clients close the connection after the reply and
// reconnect through their load balancer. HTTP/2 connections keep serving
// and get their GOAWAY at shutdown (see the package doc for why). The server
// still serves every request. Its readiness-off step calls it.
func (s *Server) EnterLameDuck() { s.lameDuck.Store(true) }

// Shutdown stops the server gracefully: it closes the listener, closes
// idle connections, lets in-flight requests finish and returns as soon as
// none is left and every connection is closed. When ctx is done, request
// contexts are cancelled; the connections still open are closed at
// [lifecycle.CloseBy] and what that cuts off (requests still running,
// responses not yet written) is reported by [Server.Stragglers], with the
// requests whose handler panicked after the stop began. It returns nil
// once stopped cleanly (nothing cut, no handler panicked), and does
// nothing if the server is not running.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	run := s.run
	s.mu.Unlock()
	if run == nil {
		return nil
	}
	err := run.stop(ctx, false)
	s.mu.Lock()
	if s.run == run {
		s.run = nil
	}
	s.mu.Unlock()
	return err
}

// Close stops the server at once: listener and connections closed,
// request contexts cancelled. It does nothing if the server is not
// running (for example because the stop sequence stopped it already).
func (s *Server) Close() error {
	s.mu.Lock()
	run := s.run
	s.mu.Unlock()
	if run == nil {
		return nil
	}
	err := run.stop(context.Background(), true)
	s.mu.Lock()
	if s.run == run {
		s.run = nil
	}
	s.mu.Unlock()
	return err
}

// Stragglers returns the requests that the last stop cut off, or, while a
// stop is still running, the requests in flight. It implements
// [lifecycle.StragglerReporter] for the server's shutdown step.
func (s *Server) Stragglers() []lifecycle.Straggler {
	s.mu.Lock()
	run := s.last
	s.mu.Unlock()
	if run == nil {
		return nil
	}
	return run.reportStragglers()
}

// shutdownStep is the Stopper of a server's shutdown step.
type shutdownStep struct{ s *Server }

func (st shutdownStep) Stop(ctx context.Context) error    { return st.s.Shutdown(ctx) }
func (st shutdownStep) Stragglers() []lifecycle.Straggler { return st.s.Stragglers() }

func protocolNames(ps []Protocol) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return out
}
