package httpmodule

import (
	"context"
	"time"
)

// drainingKey is the context key under which a request's context holds
// its server run's *drainState.
type drainingKey struct{}

// drainState says when a server run began its drain.
type drainState struct {
	ch chan struct{} // closed when the drain begins
	// spread is the window over which event streams end; written before
	// ch is closed, read after.
	spread time.Duration
}

// Draining returns a channel that is closed when the server serving the
// request begins its shutdown: in the stop's shutdown phase, after the
// preStop delay, when the listener closes and HTTP/2 connections get their
// GOAWAY (not at readiness off, when the server still gets new requests).
// A streaming handler (Server-Sent Events, a watch, a long download) selects
// on it to end its response cleanly while the phase has time left, instead
// of learning of the stop only when its context is cancelled at the phase
// deadline:
//
//	for {
//		select {
//		case ev := <-events:
//			write(w, ev)
//		case <-httpmodule.Draining(r.Context()):
//			return // the client reconnects to another replica
//		case <-r.Context().Done():
//			return
//		}
//	}
//
// For a context that no [Server] of this package made, it returns nil,
// which blocks forever in a select, as ctx.Done() of a context that is
// never cancelled does.
func Draining(ctx context.Context) <-chan struct{} {
	if d, ok := ctx.Value(drainingKey{}).(*drainState); ok {
		return d.ch
	}
	return nil
}
