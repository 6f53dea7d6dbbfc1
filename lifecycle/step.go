package lifecycle

import (
	"context"
	"fmt"
	"time"
)

// Step is one piece of work in a phase of the stop: a server's shutdown, a
// hub's drain, a pool's wait. Steps come to the [Coordinator] through
// [Coordinator.Register] (the lameduck package does that for an Fx
// application, with the steps of its value group).
type Step struct {
	// Phase is when the step runs.
	Phase Phase
	// Name identifies the step in logs and the report, e.g. "http.public".
	Name string
	// Stopper does the work.
	Stopper Stopper
}

// NewStep returns a Step that runs stop in phase p.
func NewStep(p Phase, name string, stop func(ctx context.Context) error) Step {
	return Step{Phase: p, Name: name, Stopper: StopperFunc(stop)}
}

// Stopper is the work of a [Step].
//
// Stop must return as soon as its work is done: the phase ends when its last
// step returns, so a step that waits for a poll interval makes the whole stop
// slower. ctx carries the phase deadline. When ctx is done (the deadline
// passed, or a second signal forced the phase) the step must force-close
// what is left and return promptly: the coordinator waits at most until
// [ForceDeadline] and then moves on without it.
type Stopper interface {
	Stop(ctx context.Context) error
}

// StopperFunc adapts a function to [Stopper].
type StopperFunc func(ctx context.Context) error

// Stop calls f(ctx).
func (f StopperFunc) Stop(ctx context.Context) error { return f(ctx) }

// StragglerReporter is implemented by a [Stopper] that can name the work it
// had to cut off or is still waiting for. The coordinator calls Stragglers
// once the step returned or was abandoned, so it must be safe to call
// concurrently with Stop.
type StragglerReporter interface {
	Stragglers() []Straggler
}

// Straggler is one piece of work that a forced stop cut off, or that was
// still running when the coordinator moved on.
type Straggler struct {
	// Kind is what it is: "request", "websocket", "task", ...
	Kind string
	// Name says which: a route pattern such as "GET /slow", a hub name, a
	// task name.
	Name string
	// Detail adds what helps to find it: server, remote address.
	Detail string
	// Age is how long it had been running when it was cut.
	Age time.Duration
}

func (s Straggler) String() string {
	out := s.Kind + " " + s.Name
	if s.Detail != "" {
		out += " (" + s.Detail + ")"
	}
	return fmt.Sprintf("%s, age %v", out, s.Age.Round(time.Millisecond))
}

type forceDeadlineKey struct{}

// ForceDeadline returns the time by which a step whose context is done must
// have returned: the phase deadline plus the force grace. Steps use it to
// bound their force-close (for example a server's Close after its handlers
// saw their contexts cancelled); most want [CloseBy].
func ForceDeadline(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(forceDeadlineKey{}).(time.Time)
	return t, ok
}

// DefaultForceGrace is the force grace of a step whose context carries no
// [ForceDeadline] (one stopped without a coordinator): how long it waits,
// after its context is done, for what it asked to end before it closes
// what is left.
const DefaultForceGrace = 250 * time.Millisecond

// closeMargin bounds how long before its force deadline a step closes what
// is left, so that it has returned when the coordinator stops waiting.
const closeMargin = 20 * time.Millisecond

// CloseBy returns when a step whose context is done should stop waiting
// and close what is left, so that it returns before its force deadline:
// the [ForceDeadline] less a quarter of the time until it, at most 20ms.
// Without a force deadline in ctx it is [DefaultForceGrace] from now. Every
// step of lameduck's modules uses this one rule.
func CloseBy(ctx context.Context) time.Time {
	now := time.Now()
	fd, ok := ForceDeadline(ctx)
	if !ok {
		return now.Add(DefaultForceGrace)
	}
	return fd.Add(-min(max(fd.Sub(now), 0)/4, closeMargin))
}

// SpreadWindow returns the window over which a step spreads the ends of
// long-lived streams (WebSocket close frames, a last Server-Sent Event, the
// end of a gRPC stream), so that their clients do not all reconnect to the
// remaining replicas at once: window, but at most half of the time until
// ctx's deadline, so that the last streams still end in the phase. Pick
// each stream's delay at random in [0, SpreadWindow).
func SpreadWindow(ctx context.Context, window time.Duration) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		window = min(window, time.Until(dl)/2)
	}
	return max(window, 0)
}
