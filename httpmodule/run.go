package httpmodule

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/lameduck/lameduck/config"
	"github.com/lameduck/lameduck/lifecycle"
)

// connKey is the context key under which a request's context holds its
// *conn.
type connKey struct{}

// serverRun is one start of a server: its http.Server, listener,
// connections and requests.
type serverRun struct {
	s           *Server
	srv         *http.Server
	ln          *listener
	addr        net.Addr
	clock       *coarseClock
	tracker     *tracker
	h2c         bool // the server speaks h2c: look for the HTTP/2 preface
	h2IdleGrace time.Duration

	baseCtx    context.Context
	cancelBase context.CancelFunc
	serveDone  chan struct{}
	serveErr   error

	// wake is signalled when a request ends, a connection closes or the
	// listener closes while the stop waits.
	wake chan struct{}
	// resweep is signalled when an HTTP/2 connection starts after the
	// stop's GOAWAY sweep, so that it gets a GOAWAY too.
	resweep  chan struct{}
	stopping atomic.Bool
	forcing  atomic.Bool
	drains   sync.WaitGroup

	accepted atomic.Int64 // connections accepted so far
	open     atomic.Int64 // connections tracked in conns
	connMu   sync.Mutex
	conns    map[*conn]struct{}

	stopMu  sync.Mutex // one stop at a time
	stopped bool

	cutMu      sync.Mutex
	cutDone    bool // the stop ended: stragglers is final
	stragglers []lifecycle.Straggler
}

func newServerRun(s *Server, ln net.Listener) *serverRun {
	run := &serverRun{
		s:           s,
		addr:        ln.Addr(),
		clock:       processClock,
		h2c:         slices.Contains(s.cfg.Protocols, config.H2C),
		h2IdleGrace: s.cfg.H2IdleGrace,
		serveDone:   make(chan struct{}),
		wake:        make(chan struct{}, 1),
		resweep:     make(chan struct{}, 1),
		conns:       map[*conn]struct{}{},
	}
	run.tracker = newTracker(run.clock, run.wake)
	run.baseCtx, run.cancelBase = context.WithCancel(context.Background())
	run.ln = newListener(ln, run, s.cfg.MaxConns)
	run.srv = s.newHTTPServer(run)
	return run
}

func (s *Server) newHTTPServer(run *serverRun) *http.Server {
	var protos http.Protocols
	for _, p := range s.cfg.Protocols {
		switch p {
		case config.HTTP1:
			protos.SetHTTP1(true)
		case config.H2C:
			protos.SetUnencryptedHTTP2(true)
		}
	}
	if protos.String() == "{}" {
		protos.SetHTTP1(true)
	}
	return &http.Server{
		Handler:           run,
		Protocols:         &protos,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    int(s.cfg.MaxHeaderBytes),
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: s.cfg.MaxConcurrentStreams},
		BaseContext:       func(net.Listener) context.Context { return run.baseCtx },
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
		ConnState: run.connState,
		ErrorLog:  newErrorLog(s.log, s.name),
	}
}

func (run *serverRun) start() {
	run.clock.start()
	go func() {
		defer close(run.serveDone)
		err := run.srv.Serve(run.ln)
		if !errors.Is(err, http.ErrServerClosed) && !run.ln.isClosed() {
			run.serveErr = err
			run.s.log.Error("http server stopped serving", zap.String("server", run.s.name), zap.Error(err))
		}
	}()
}

// ServeHTTP tracks the request, marks HTTP/1 responses "Connection: close"
// in the lame-duck window, and calls the server's handler.
//
// HTTP/2 responses are not marked: net/http answers the header with an
// immediate GOAWAY, after which the server refuses the streams a load
// balancer still opens on the connection until its health check sees
// /readyz fail, and an LB that does not retry refused streams fails them.
// HTTP/2 connections get their GOAWAY at shutdown, after the preStop delay.
func (run *serverRun) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 && run.s.lameDuck.Load() {
		w.Header().Set("Connection", "close")
	}
	i := run.tracker.enter(r)
	defer run.tracker.exit(i, r)
	run.s.handler.ServeHTTP(w, r)
}

// track wraps and registers a connection the listener accepted.
func (run *serverRun) track(nc net.Conn, sem chan struct{}) *conn {
	c := &conn{Conn: nc, run: run, sem: sem, accepted: time.Now()}
	c.state.Store(int32(http.StateNew))
	run.accepted.Add(1)
	run.connMu.Lock()
	run.conns[c] = struct{}{}
	run.open.Add(1)
	run.connMu.Unlock()
	if run.s.onAccept != nil {
		run.s.onAccept()
	}
	return c
}

// untrack forgets a connection that closed or was hijacked.
// The stop is woken only when the last connection goes.
func (run *serverRun) untrack(c *conn) {
	run.connMu.Lock()
	_, ok := run.conns[c]
	delete(run.conns, c)
	run.connMu.Unlock()
	if ok && run.open.Add(-1) == 0 {
		run.wakeStop()
	}
}

func (run *serverRun) openConns() int { return int(run.open.Load()) }

// wakeStop wakes the stop, if one waits, to count again.
func (run *serverRun) wakeStop() {
	if run.stopping.Load() {
		select {
		case run.wake <- struct{}{}:
		default:
		}
	}
}

func (run *serverRun) connState(nc net.Conn, state http.ConnState) {
	c, ok := nc.(*conn)
	if !ok {
		return
	}
	switch state {
	case http.StateHijacked:
		c.hijack()
		// The hijacking request is now the handler's business (a
		// WebSocket hub drains it later): stop waiting for it.
		run.tracker.detach(func(r *http.Request) bool { return r.Context().Value(connKey{}) == nc })
	case http.StateClosed:
	default:
		c.setState(state)
	}
}
