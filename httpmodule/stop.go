package httpmodule

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/lameduck/lameduck/lifecycle"
)

// defaultForceGrace is how long a stop whose context carries no
// lifecycle.ForceDeadline gives handlers, after cancelling their contexts,
// before it closes their connections.
const defaultForceGrace = 100 * time.Millisecond

// maxCloseMargin bounds how long before the force deadline the server
// closes what is left, so that the step returns before the coordinator
// gives up on it.
const maxCloseMargin = 20 * time.Millisecond

// stop runs the shutdown of this run of the server; see Server.Shutdown.
// With now set, it closes everything at once instead.
func (run *serverRun) stop(ctx context.Context, now bool) error {
	run.stopMu.Lock()
	defer run.stopMu.Unlock()
	if run.stopped {
		return nil
	}
	run.stopped = true
	start := time.Now()
	run.stopping.Store(true)
	run.tracker.watching.Store(true)

	// New connections are refused from now on, and the idle HTTP/1 ones
	// are closed on every core before Shutdown goes through them one by
	// one under its lock.
	_ = run.ln.Close()
	if !now {
		run.closeIdleHTTP1()
	}
	// Shutdown closes what is idle by now and sends GOAWAY on HTTP/2
	// connections. We do not wait for its polling loop: connections and
	// requests report their end, and it is cancelled as soon as nothing
	// is left.
	shutdownCtx, cancelShutdown := context.WithCancel(ctx)
	shutdownDone := make(chan struct{})
	if now {
		cancelShutdown()
	}
	go func() {
		defer close(shutdownDone)
		_ = run.srv.Shutdown(shutdownCtx)
	}()
	defer func() {
		cancelShutdown()
		<-shutdownDone
		<-run.serveDone
		run.drains.Wait()
		run.cancelBase()
		run.clock.stop()
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
	cut := len(run.reportStragglers())
	fields := []zap.Field{zap.String("server", run.s.name), zap.Duration("duration", time.Since(start))}
	if cut > 0 {
		run.s.log.Warn("http server stopped; requests were cut off", append(fields, zap.Int("cut", cut))...)
	} else {
		run.s.log.Info("http server stopped", fields...)
	}
	return err
}

// wait waits for the server to be quiescent, closing connections that
// stay silent, and forces the end when ctx is done.
func (run *serverRun) wait(ctx context.Context) error {
	stopStart := time.Now()
	silent := time.NewTimer(run.h2IdleGrace)
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

// closeIdleHTTP1 closes the idle HTTP/1 connections, as Shutdown does,
// but on every core: Shutdown closes them one by one under its lock, which
// takes about 20ms per thousand connections here.
func (run *serverRun) closeIdleHTTP1() {
	var idle []*conn
	run.connMu.Lock()
	for c := range run.conns {
		if c.proto.Load() == protoHTTP1 && http.ConnState(c.state.Load()) == http.StateIdle {
			idle = append(idle, c)
		}
	}
	run.connMu.Unlock()
	workers := min(runtime.GOMAXPROCS(0), len(idle)/64+1)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(idle); i += workers {
				_ = idle[i].Close()
			}
		})
	}
	wg.Wait()
}

// sweepAgain sends a GOAWAY to the HTTP/2 connections that have not had
// one: Shutdown does that on every call (its RegisterOnShutdown hooks), and
// with a cancelled context it returns after one pass.
func (run *serverRun) sweepAgain() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = run.srv.Shutdown(ctx)
}

// quiescent reports whether the listener is closed and no connection and
// no request is left.
func (run *serverRun) quiescent() bool {
	return run.ln.isClosed() && run.openConns() == 0 && run.tracker.count() == 0
}

// closeSilentConns closes the connections that have not sent a single byte
// for the grace, counted from the later of their accept and the start of
// the stop (a client that connected and never sent a request, or a
// preconnected pool): Shutdown alone would wait up to 5s for each. A
// connection that sent part of a request is left to its request. It
// returns when to look again, or 0.
func (run *serverRun) closeSilentConns(stopStart time.Time) time.Duration {
	now := time.Now()
	var doomed []*conn
	var next time.Duration
	run.connMu.Lock()
	for c := range run.conns {
		if http.ConnState(c.state.Load()) != http.StateNew || c.proto.Load() != protoUnknown {
			continue // it sent something: wait for its request
		}
		due := c.accepted
		if due.Before(stopStart) {
			due = stopStart
		}
		due = due.Add(run.h2IdleGrace)
		if !due.After(now) {
			doomed = append(doomed, c)
		} else if d := due.Sub(now); next == 0 || d < next {
			next = d
		}
	}
	run.connMu.Unlock()
	for _, c := range doomed {
		c.forceClose()
	}
	return next
}

// force runs once the phase deadline passed: request contexts are
// cancelled, and what is still open at the force deadline is closed.
func (run *serverRun) force(ctx context.Context) error {
	run.cancelBase()
	now := time.Now()
	closeAt := now.Add(defaultForceGrace)
	if fd, ok := lifecycle.ForceDeadline(ctx); ok {
		closeAt = fd.Add(-min(fd.Sub(now)/4, maxCloseMargin))
	}
	timer := time.NewTimer(time.Until(closeAt))
	defer timer.Stop()
	for !run.quiescent() {
		select {
		case <-run.wake:
		case <-timer.C:
			return run.cutOff("still running at the force deadline")
		}
	}
	return nil
}

// cutOff closes the listener and every connection, and records the
// requests still running as stragglers.
func (run *serverRun) cutOff(why string) error {
	run.cancelBase()
	run.forcing.Store(true)
	stragglers := run.snapshot()
	run.cutMu.Lock()
	run.stragglers = stragglers
	run.cutMu.Unlock()
	_ = run.srv.Close()
	run.connMu.Lock()
	left := make([]*conn, 0, len(run.conns))
	for c := range run.conns {
		left = append(left, c)
	}
	run.connMu.Unlock()
	for _, c := range left {
		c.forceClose()
	}
	if len(stragglers) == 0 {
		return nil
	}
	return fmt.Errorf("httpmodule: server %q: %d request(s) %s were cut off; first: %s",
		run.s.name, len(stragglers), why, stragglers[0])
}

// reportStragglers returns the requests the stop cut off, or the requests
// in flight while the stop has not ended.
func (run *serverRun) reportStragglers() []lifecycle.Straggler {
	run.cutMu.Lock()
	defer run.cutMu.Unlock()
	if run.cutDone || run.stragglers != nil {
		return run.stragglers
	}
	if !run.stopping.Load() {
		return nil
	}
	return run.snapshot()
}

// snapshot names every request in flight.
func (run *serverRun) snapshot() []lifecycle.Straggler {
	now := run.clock.precise()
	var out []lifecycle.Straggler
	run.tracker.scan(func(f inFlight) {
		out = append(out, lifecycle.Straggler{
			Kind:   "request",
			Name:   run.s.routeName(f.req),
			Detail: fmt.Sprintf("server %s, path %s, remote %s", run.s.name, f.req.URL.Path, f.req.RemoteAddr),
			Age:    time.Duration(max(now-f.start, 0)),
		})
	})
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
