package httpmodule

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/lameduck/lameduck/lifecycle"
)

// connKey is the context key under which a request's context holds its
// *conn.
type connKey struct{}

// serverRun is one start of a server: its http.Server, listener,
// connections and requests.
type serverRun struct {
	s    *Server
	srv  *http.Server
	ln   *listener
	addr net.Addr
	// tls is the server's TLS, nil for a plaintext server.
	tls *certSource
	// drain is what a request's context holds for Draining and
	// EventStream.
	drain *drainState
	// watchDone ends the certificate watch; watched is closed when it has.
	watchDone, watched chan struct{}
	// silentGrace is how long, in the shutdown phase, a connection that
	// has not sent a byte may stay open.
	silentGrace time.Duration

	baseCtx    context.Context
	cancelBase context.CancelFunc
	serveDone  chan struct{}
	serveErr   error

	// wake is signalled, once the stop has begun, when a request ends, a
	// connection closes or the listener closes.
	wake chan struct{}
	// resweep is signalled when a connection starts serving after the
	// stop began, so that it gets a GOAWAY if it speaks HTTP/2.
	resweep  chan struct{}
	stopping atomic.Bool
	// rejecting is set in the late-arrival mode from the start of the
	// stop: new requests get 503; late counts them.
	rejecting atomic.Bool
	late      atomic.Int64

	accepted atomic.Int64 // connections accepted so far

	mu       sync.Mutex
	conns    map[*conn]struct{}
	requests map[*http.Request]time.Time // in flight, start time; hijacked ones removed
	panics   []lifecycle.Straggler       // requests whose handler panicked after the stop began

	stopMu  sync.Mutex // one stop at a time
	stopped bool

	cutMu      sync.Mutex
	cutDone    bool // the stop ended: stragglers is final
	stragglers []lifecycle.Straggler
}

func newServerRun(s *Server, ln net.Listener, certs *certSource) *serverRun {
	run := &serverRun{
		s:           s,
		addr:        ln.Addr(),
		tls:         certs,
		drain:       &drainState{ch: make(chan struct{})},
		watchDone:   make(chan struct{}),
		watched:     make(chan struct{}),
		silentGrace: s.cfg.H2IdleGrace,
		serveDone:   make(chan struct{}),
		wake:        make(chan struct{}, 1),
		resweep:     make(chan struct{}, 1),
		conns:       map[*conn]struct{}{},
		requests:    map[*http.Request]time.Time{},
	}
	run.baseCtx, run.cancelBase = context.WithCancel(context.WithValue(context.Background(), drainingKey{}, run.drain))
	run.ln = newListener(ln, run, s.cfg.MaxConns)
	run.srv = s.newHTTPServer(run)
	return run
}

func (s *Server) newHTTPServer(run *serverRun) *http.Server {
	var protos http.Protocols
	protos.SetHTTP1(slices.Contains(s.cfg.Protocols, HTTP1) || len(s.cfg.Protocols) == 0)
	protos.SetUnencryptedHTTP2(slices.Contains(s.cfg.Protocols, H2C) && run.tls == nil)
	protos.SetHTTP2(slices.Contains(s.cfg.Protocols, H2) && run.tls != nil)
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
		ConnContext: func(ctx context.Context, nc net.Conn) context.Context {
			if c, ok := tracked(nc); ok {
				return context.WithValue(ctx, connKey{}, c)
			}
			return ctx
		},
		ConnState: run.connState,
		ErrorLog:  newErrorLog(s.log, s.name),
	}
}

func (run *serverRun) start() {
	var ln net.Listener = run.ln
	if run.tls != nil {
		ln = tls.NewListener(run.ln, run.tls.listenerConfig())
		hup := notifyHUP()
		go func() {
			defer close(run.watched)
			run.tls.watch(hup, run.watchDone)
		}()
	} else {
		close(run.watched)
	}
	go func() {
		defer close(run.serveDone)
		err := run.srv.Serve(ln)
		if !errors.Is(err, http.ErrServerClosed) && !run.ln.isClosed() {
			run.serveErr = err
			run.s.log.Error("http server stopped serving", zap.String("server", run.s.name), zap.Error(err))
		}
	}()
}

// ServeHTTP tracks the request, marks HTTP/1 responses "Connection: close"
// in the lame-duck window, records a panic of the handler during the stop,
// and calls the server's handler.
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
	if run.rejecting.Load() {
		run.rejectLate(w, r)
		return
	}
	c, _ := r.Context().Value(connKey{}).(*conn)
	run.enter(r, c)
	defer func() {
		run.exit(r, c)
		if p := recover(); p != nil {
			run.panicked(r, p)
			panic(p) // net/http logs it and ends the response as it always does
		}
	}()
	run.s.handler.ServeHTTP(w, r)
}

// rejectLate answers a request that arrived after the shutdown began, in
// the late-arrival mode: 503, Retry-After, and on HTTP/1 "Connection:
// close", so that the client's next attempt opens a new connection.
func (run *serverRun) rejectLate(w http.ResponseWriter, r *http.Request) {
	run.late.Add(1)
	if r.ProtoMajor == 1 {
		w.Header().Set("Connection", "close")
	}
	secs := int64((run.s.cfg.RetryAfter + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	http.Error(w, "the server is shutting down: retry, through your load balancer or on another address", http.StatusServiceUnavailable)
}

// enter records r, on connection c (nil if unknown), as in flight.
func (run *serverRun) enter(r *http.Request, c *conn) {
	now := time.Now()
	run.mu.Lock()
	run.requests[r] = now
	if c != nil {
		c.inFlight++
		c.latest, c.latestStart = r, now
	}
	run.mu.Unlock()
}

// exit records that r has ended.
func (run *serverRun) exit(r *http.Request, c *conn) {
	run.mu.Lock()
	if _, ok := run.requests[r]; ok {
		delete(run.requests, r)
		if c != nil {
			c.inFlight--
		}
	}
	run.mu.Unlock()
	run.wakeStop()
}

// panicked records that r's handler panicked with p, if the stop has
// begun: its response is cut short, which the stop report must say.
func (run *serverRun) panicked(r *http.Request, p any) {
	if !run.s.lameDuck.Load() && !run.stopping.Load() {
		return
	}
	why := fmt.Sprint("the handler panicked: ", p)
	if p == http.ErrAbortHandler {
		why = "the handler aborted the response (http.ErrAbortHandler)"
	}
	st := lifecycle.Straggler{Kind: "request", Name: run.s.routeName(r), Detail: run.detail(r, why)}
	run.mu.Lock()
	run.panics = append(run.panics, st)
	run.mu.Unlock()
}

// detail describes r in a straggler: server, path, remote address, and
// why it is one.
func (run *serverRun) detail(r *http.Request, why string) string {
	return fmt.Sprintf("server %s, path %s, remote %s: %s", run.s.name, r.URL.Path, r.RemoteAddr, why)
}

// track wraps and registers a connection the listener accepted.
func (run *serverRun) track(nc net.Conn, sem chan struct{}) *conn {
	c := &conn{Conn: nc, run: run, sem: sem, accepted: time.Now()}
	c.state.Store(int32(http.StateNew))
	run.accepted.Add(1)
	run.mu.Lock()
	run.conns[c] = struct{}{}
	run.mu.Unlock()
	if run.s.onAccept != nil {
		run.s.onAccept()
	}
	return c
}

// untrack forgets a connection that closed or was hijacked.
func (run *serverRun) untrack(c *conn) {
	run.mu.Lock()
	delete(run.conns, c)
	if c.hijacked.Load() && c.latest != nil {
		// The hijacking request is now the handler's business (a
		// WebSocket hub drains it later): stop waiting for it.
		if _, ok := run.requests[c.latest]; ok {
			delete(run.requests, c.latest)
			c.inFlight--
		}
	}
	run.mu.Unlock()
	run.wakeStop()
}

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
	c, ok := tracked(nc)
	if !ok {
		return
	}
	switch state {
	case http.StateHijacked:
		c.hijack()
	case http.StateClosed:
	default:
		old := http.ConnState(c.state.Swap(int32(state)))
		if old == http.StateNew && run.stopping.Load() {
			// A connection that starts serving after the stop's GOAWAY
			// sweep never gets a GOAWAY if it speaks HTTP/2, and would
			// hold the stop until the phase deadline (golang/go#81153):
			// ask for another sweep.
			select {
			case run.resweep <- struct{}{}:
			default:
			}
		}
	}
}
