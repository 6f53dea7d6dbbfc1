package grpcmodule

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/lameduck/lameduck/lifecycle"
)

// call is one RPC in flight.
type call struct {
	method string
	peer   net.Addr // formatted only if the call is named in a report
	stream bool
	start  time.Time
	cancel context.CancelFunc
	// drain is closed when the RPC should learn that the drain began
	// (Draining); drainOnce guards it.
	drain     chan struct{}
	drainOnce sync.Once
}

func (c *call) tellDrain() { c.drainOnce.Do(func() { close(c.drain) }) }

type callKey struct{}

// Draining returns a channel that is closed when the drain of the server
// serving the RPC of ctx began and this RPC should end: a server-streaming
// handler selects on it beside its work and returns
// status.Error(codes.Unavailable, ...), which clients retry on another
// replica. Streams learn it at instants spread over the server's
// drainSpread; unary calls at the start of the shutdown phase. For a
// context that is not an RPC's of a grpcmodule server it returns nil,
// which a select never receives from.
func Draining(ctx context.Context) <-chan struct{} {
	if c, ok := ctx.Value(callKey{}).(*call); ok {
		return c.drain
	}
	return nil
}

// tracker counts the RPCs in flight of one run of a server, so that the
// stop can cancel their contexts at the deadline and name those it cut.
type tracker struct {
	mu        sync.Mutex
	calls     map[*call]struct{}
	draining  bool
	cancelled bool          // the deadline passed: every RPC is cancelled
	timers    []*time.Timer // of the drain's spread
	stopping  bool          // from readiness off: a panic now is counted
	panics    []lifecycle.Straggler

	// onPanic logs a handler's panic; nil logs nothing.
	onPanic func(method string, p any)
}

func newTracker() *tracker {
	return &tracker{calls: map[*call]struct{}{}}
}

// begin records an RPC and returns its context, cancelled when the
// stop's deadline cancels every RPC or when the RPC ends.
func (t *tracker) begin(ctx context.Context, method string, stream bool) (context.Context, *call) {
	c := &call{method: method, stream: stream, start: time.Now(), drain: make(chan struct{})}
	if p, ok := peer.FromContext(ctx); ok {
		c.peer = p.Addr
	}
	ctx, c.cancel = context.WithCancel(ctx)
	t.mu.Lock()
	t.calls[c] = struct{}{}
	if t.draining {
		c.tellDrain()
	}
	if t.cancelled {
		c.cancel()
	}
	t.mu.Unlock()
	return context.WithValue(ctx, callKey{}, c), c
}

func (t *tracker) end(c *call) {
	c.cancel()
	t.mu.Lock()
	delete(t.calls, c)
	t.mu.Unlock()
}

// drain tells every RPC in flight, and every later one, that the drain
// began: unary calls at once, streams at random instants in [0, window).
func (t *tracker) drain(window time.Duration) {
	t.mu.Lock()
	t.draining = true
	var streams []*call
	for c := range t.calls {
		if c.stream && window > 0 {
			streams = append(streams, c)
		} else {
			c.tellDrain()
		}
	}
	for _, c := range streams {
		t.timers = append(t.timers, time.AfterFunc(rand.N(window), c.tellDrain))
	}
	t.mu.Unlock()
}

// stopTimers ends the spread of drain: once the stop ended, nothing is left
// to tell.
func (t *tracker) stopTimers() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tm := range t.timers {
		tm.Stop()
	}
	t.timers = nil
}

// cancelAll cancels the context of every RPC in flight and of every later
// one, and returns how many were in flight.
func (t *tracker) cancelAll() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cancelled = true
	for c := range t.calls {
		c.cancel()
	}
	return len(t.calls)
}

// stragglers names every RPC in flight, the oldest first.
func (t *tracker) stragglers(server string) []lifecycle.Straggler {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]lifecycle.Straggler, 0, len(t.calls))
	for c := range t.calls {
		kind := "rpc"
		if c.stream {
			kind = "stream"
		}
		peer := ""
		if c.peer != nil {
			peer = c.peer.String()
		}
		out = append(out, lifecycle.Straggler{Kind: kind, Name: c.method,
			Detail: "server " + server + ", peer " + peer, Age: now.Sub(c.start)})
	}
	slices.SortFunc(out, func(a, b lifecycle.Straggler) int {
		return cmp.Or(cmp.Compare(b.Age, a.Age), cmp.Compare(a.Name, b.Name))
	})
	return out
}

func (t *tracker) inFlight() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.calls)
}

// unary is the first unary interceptor of every server.
func (t *tracker) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
	ctx, c := t.begin(ctx, info.FullMethod, false)
	defer t.end(c)
	defer t.recover(c, &err)
	return h(ctx, req)
}

// stream is the first stream interceptor of every server.
func (t *tracker) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
	ctx, c := t.begin(ss.Context(), info.FullMethod, true)
	defer t.end(c)
	defer t.recover(c, &err)
	return h(srv, &trackedStream{ServerStream: ss, ctx: ctx})
}

// recover turns a handler's panic into INTERNAL for its client, as
// net/http turns one into a reset stream, instead of grpc-go's default of
// ending the process (and with it the stop). A panic from readiness off
// on is counted: the stop report names the RPC.
func (t *tracker) recover(c *call, err *error) {
	p := recover()
	if p == nil {
		return
	}
	if t.onPanic != nil {
		t.onPanic(c.method, p)
	}
	*err = status.Error(codes.Internal, "grpcmodule: the handler panicked")
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopping {
		peer := ""
		if c.peer != nil {
			peer = c.peer.String()
		}
		kind := "rpc"
		if c.stream {
			kind = "stream"
		}
		t.panics = append(t.panics, lifecycle.Straggler{Kind: kind, Name: c.method,
			Detail: fmt.Sprintf("peer %s: the handler panicked: %v", peer, p), Age: time.Since(c.start)})
	}
}

// enterStopping counts panics from now on.
func (t *tracker) enterStopping() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopping = true
}

// panicked returns the RPCs whose handler panicked since readiness off.
func (t *tracker) panicked() []lifecycle.Straggler {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.panics)
}

type trackedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *trackedStream) Context() context.Context { return s.ctx }
