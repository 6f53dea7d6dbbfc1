package httpmodule

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/lameduck/lameduck/lifecycle"
)

// stop runs the shutdown of this run of the server; see Server.Shutdown.
// With now set, it closes everything at once instead.
//
// The graceful path is http.Server.Shutdown's own: it closes the listener
// and the idle connections, sends GOAWAY on HTTP/2 connections, HTTP/1
// connections close after their response, HTTP/2 connections when their
// streams are done (net/http closes a GOAWAY'd connection a second after
// its last stream, unless the client closes it first, as Go's client
// does from Go 1.27 on). What is added: the stop returns the moment the last request and
// connection are gone instead of at Shutdown's next poll, closes
// connections that never sent a byte, and at the deadline cancels request
// contexts, closes what is left and names what that cut off.
func (run *serverRun) stop(ctx context.Context, now bool) error {
	run.stopMu.Lock()
	defer run.stopMu.Unlock()
	if run.stopped {
		return nil
	}
	run.stopped = true
	start := time.Now()
	run.stopping.Store(true)
	run.drain.spread = lifecycle.SpreadWindow(ctx, run.s.cfg.StreamCloseSpread)
	close(run.drain.ch)
	if run.s.cfg.RetryAfter > 0 && !now {
		run.answerLate(ctx)
	}
	_ = run.ln.Close()

	shutdownCtx, cancelShutdown := context.WithCancel(ctx)
	if now {
		cancelShutdown()
	}
	shutdownDone := make(chan struct{})
	go func() {
		defer close(shutdownDone)
		_ = run.srv.Shutdown(shutdownCtx)
	}()
	defer func() {
		cancelShutdown()
		<-shutdownDone
		<-run.serveDone
		close(run.watchDone)
		<-run.watched
		run.cancelBase()
		run.cutMu.Lock()
		run.cutDone = true
		run.cutMu.Unlock()
	}()

	var err error
	if now {
		err = run.cutOff("closed")
	} else {
		err = run.wait(ctx)
	}
	if err == nil {
		err = run.panicError()
	}
	fields := []zap.Field{zap.String("server", run.s.name), zap.Duration("duration", time.Since(start))}
	if run.s.cfg.RetryAfter > 0 {
		fields = append(fields, zap.Int64("lateAnswered503", run.late.Load()))
	}
	if cut := len(run.reportStragglers()); cut > 0 {
		run.s.log.Warn("http server stopped; requests were cut off", append(fields, zap.Int("cut", cut))...)
	} else {
		run.s.log.Info("http server stopped", fields...)
	}
	return err
}

// answerLate runs the late-arrival mode's first part: the listener stays
// open and new requests get 503 (see rejectLate) until no request that
// came before is in flight, for at most half of the time to ctx's
// deadline, so that the rest of the shutdown has the other half.
func (run *serverRun) answerLate(ctx context.Context) {
	run.rejecting.Store(true)
	var bound <-chan time.Time
	if dl, ok := ctx.Deadline(); ok {
		t := time.NewTimer(time.Until(dl) / 2)
		defer t.Stop()
		bound = t.C
	}
	for {
		run.mu.Lock()
		n := len(run.requests)
		run.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-run.wake:
		case <-bound:
			return
		case <-ctx.Done():
			return
		}
	}
}

// wait waits for the server to be quiescent, closing connections that
// stay silent, and forces the end when ctx is done.
func (run *serverRun) wait(ctx context.Context) error {
	stopStart := time.Now()
	silent := time.NewTimer(run.silentGrace)
	defer silent.Stop()
	for !run.quiescent() {
		select {
		case <-run.wake:
		case <-run.resweep:
			run.sweepAgain()
		case <-silent.C:
			if next := run.closeSilentConns(stopStart); next > 0 {
				silent.Reset(next)
			}
		case <-ctx.Done():
			return run.force(ctx)
		}
	}
	return nil
}

// sweepAgain sends a GOAWAY to the HTTP/2 connections that started
// serving after the first sweep. http.Server.Shutdown calls its
// RegisterOnShutdown hooks, the HTTP/2 server's graceful shutdown among
// them, on every call; with a cancelled context it returns after one pass.
// TestShutdownRerunsOnShutdownHooks guards that behaviour.
func (run *serverRun) sweepAgain() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = run.srv.Shutdown(ctx)
}

// quiescent reports whether the listener is closed and no connection and
// no request is left.
func (run *serverRun) quiescent() bool {
	if !run.ln.isClosed() {
		return false
	}
	run.mu.Lock()
	defer run.mu.Unlock()
	return len(run.conns) == 0 && len(run.requests) == 0
}

// closeSilentConns closes the connections that have not sent a single
// byte for the grace, counted from the later of their accept and the start
// of the stop (a client that connected and never sent a request, or a
// preconnected pool): Shutdown alone would wait 5s for each. Nothing can be
// lost: the client has not asked for anything. It returns when to look
// again, or 0.
func (run *serverRun) closeSilentConns(stopStart time.Time) time.Duration {
	now := time.Now()
	var doomed []*conn
	var next time.Duration
	run.mu.Lock()
	for c := range run.conns {
		if c.sentAny.Load() {
			continue // it sent something: wait for its request
		}
		due := c.accepted
		if due.Before(stopStart) {
			due = stopStart
		}
		due = due.Add(run.silentGrace)
		if !due.After(now) {
			doomed = append(doomed, c)
		} else if d := due.Sub(now); next == 0 || d < next {
			next = d
		}
	}
	run.mu.Unlock()
	for _, c := range doomed {
		_ = c.Close()
	}
	return next
}

// force runs once the phase deadline passed: request contexts are
// cancelled, and what is still open when the step must return is closed.
// Requests that return once cancelled are not stragglers, but the stop cut
// their work short: the error says how many.
func (run *serverRun) force(ctx context.Context) error {
	cancelled := run.snapshot(false)
	run.cancelBase()
	timer := time.NewTimer(time.Until(lifecycle.CloseBy(ctx)))
	defer timer.Stop()
	for !run.quiescent() {
		select {
		case <-run.wake:
		case <-timer.C:
			return run.cutOff("still running at the force deadline")
		}
	}
	if len(cancelled) > 0 {
		return fmt.Errorf("httpmodule: server %q: the deadline cancelled the context of %d request(s), which then returned; first: %s",
			run.s.name, len(cancelled), cancelled[0])
	}
	return nil
}

// cutOff records what closing now cuts off, then closes the listener and
// every connection.
func (run *serverRun) cutOff(why string) error {
	run.cancelBase()
	stragglers := run.snapshot(true)
	run.cutMu.Lock()
	run.stragglers = stragglers
	run.cutMu.Unlock()
	_ = run.srv.Close()
	run.mu.Lock()
	left := make([]*conn, 0, len(run.conns))
	for c := range run.conns {
		left = append(left, c)
	}
	run.mu.Unlock()
	for _, c := range left {
		_ = c.Close()
	}
	if len(stragglers) == 0 {
		return nil
	}
	return fmt.Errorf("httpmodule: server %q: %d request(s) %s were cut off; first: %s",
		run.s.name, len(stragglers), why, stragglers[0])
}

// panicError reports the requests whose handler panicked during the stop.
func (run *serverRun) panicError() error {
	run.mu.Lock()
	defer run.mu.Unlock()
	if len(run.panics) == 0 {
		return nil
	}
	return fmt.Errorf("httpmodule: server %q: %d request(s) ended in a handler panic during the stop; first: %s",
		run.s.name, len(run.panics), run.panics[0])
}

// reportStragglers returns what the stop cut off, or, while the stop has
// not ended, the requests in flight; with the requests whose handler
// panicked during the stop either way.
func (run *serverRun) reportStragglers() []lifecycle.Straggler {
	run.cutMu.Lock()
	cut, final := run.stragglers, run.cutDone || run.stragglers != nil
	run.cutMu.Unlock()
	if !final {
		if !run.stopping.Load() {
			return nil
		}
		cut = run.snapshot(false)
	}
	run.mu.Lock()
	defer run.mu.Unlock()
	if len(run.panics) == 0 {
		return cut
	}
	return append(append([]lifecycle.Straggler(nil), run.panics...), cut...)
}

// snapshot names every request in flight and, with conns set, every
// connection that closing now would cut without a request in flight to
// name: a response still being written after its handler returned, or a
// request still being read.
func (run *serverRun) snapshot(conns bool) []lifecycle.Straggler {
	now := time.Now()
	run.mu.Lock()
	defer run.mu.Unlock()
	var out []lifecycle.Straggler
	for r, start := range run.requests {
		out = append(out, lifecycle.Straggler{Kind: "request", Name: run.s.routeName(r),
			Detail: run.detail(r, "still running"), Age: now.Sub(start)})
	}
	if !conns {
		return out
	}
	for c := range run.conns {
		if c.inFlight > 0 {
			continue // named above
		}
		why := ""
		switch st := http.ConnState(c.state.Load()); {
		case c.writing.Load() > 0:
			why = "closed with part of its response unsent"
		case st == http.StateActive:
			why = "closed before its response was complete"
		case st == http.StateNew && c.sentAny.Load():
			why = "closed while its request was being read"
		}
		if why == "" {
			continue
		}
		st := lifecycle.Straggler{Kind: "response", Name: "(unknown route)",
			Detail: fmt.Sprintf("server %s, remote %s: the connection was %s", run.s.name, c.RemoteAddr(), why),
			Age:    now.Sub(c.accepted)}
		if c.latest != nil {
			st.Name, st.Age = run.s.routeName(c.latest), now.Sub(c.latestStart)
		}
		out = append(out, st)
	}
	return out
}

// routeName returns "METHOD pattern" for r, with the pattern the server's
// ServeMux matches r to (the r.Pattern its handler sees), or the path with
// "(no route)".
func (s *Server) routeName(r *http.Request) string {
	pattern := ""
	if s.mux != nil {
		_, pattern = s.mux.Handler(r)
	}
	if pattern == "" {
		return r.Method + " " + r.URL.Path + " (no route)"
	}
	if i := strings.IndexAny(pattern, " \t"); i >= 0 && !strings.Contains(pattern[:i], "/") {
		pattern = strings.TrimLeft(pattern[i:], " \t") // drop the pattern's method: r.Method says it
	}
	return r.Method + " " + pattern
}
