package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Triggers of a stop other than a signal ("signal terminated", "signal
// interrupt"), as [StopReport.Trigger] names them.
const (
	// TriggerFxStop: Fx's OnStop hook began the stop (app.Stop, or
	// fx.Shutdowner).
	TriggerFxStop = "fx stop"
	// TriggerStopCalled: [Coordinator.Stop] began it.
	TriggerStopCalled = "Stop called"
)

// Coordinator runs the stop: it owns the phases, the budget, readiness and
// the stop signals. Servers, hubs and pools come to it as registered steps;
// it imports none of them.
type Coordinator struct {
	cfg       Settings
	log       *zap.Logger
	health    *Health
	exit      func(int)
	observers []Observer
	// wake tells the application that a signal began the stop (Fx's
	// Shutdowner), so that a runner waiting for its own signal wakes.
	wake func()

	mu       sync.Mutex
	steps    [len(phaseNames)][]Step
	started  bool
	start    time.Time // when the stop began, once started
	end      time.Time // end of the budget, once started
	current  *phaseRun
	signals  int
	hurried  bool            // a second signal came: what is left gets the force grace
	trigger  string          // what began the stop
	listener *signalListener // while ListenSignals runs
	report   *StopReport
	stopping chan struct{} // closed when the stop begins
	draining chan struct{} // closed when the shutdown phase begins
	done     chan struct{} // closed when the stop has ended
}

// Option configures a [Coordinator].
type Option func(*Coordinator)

// WithLogger sets the logger for phase lines and the final report. The
// default is a no-op logger.
func WithLogger(l *zap.Logger) Option { return func(c *Coordinator) { c.log = l } }

// WithObservers adds observers of phase events.
func WithObservers(o ...Observer) Option {
	return func(c *Coordinator) { c.observers = append(c.observers, o...) }
}

// WithExit replaces os.Exit, which a third stop signal calls with
// [ExitAborted]. For tests.
func WithExit(exit func(code int)) Option { return func(c *Coordinator) { c.exit = exit } }

// WithWake sets a function that the first stop signal calls after it began
// the stop, to wake whatever runs the application (the Fx module passes
// fx.Shutdowner's Shutdown).
func WithWake(wake func()) Option { return func(c *Coordinator) { c.wake = wake } }

// New returns a coordinator for the stop settings cfg. It does nothing until
// [Coordinator.Stop] is called or a signal arrives (see
// [Coordinator.ListenSignals]).
func New(cfg Settings, opts ...Option) *Coordinator {
	c := &Coordinator{
		cfg:      cfg,
		log:      zap.NewNop(),
		exit:     os.Exit,
		stopping: make(chan struct{}),
		draining: make(chan struct{}),
		done:     make(chan struct{}),
	}
	c.health = newHealth(c.stopping)
	for _, o := range opts {
		o(c)
	}
	return c
}

// Settings returns the stop settings the coordinator was made with.
func (c *Coordinator) Settings() Settings { return c.cfg }

// Started tells the coordinator that the application has started: /readyz
// turns ready (see [Health.MarkStarted]), and the budget is logged, with
// whether the process runs in Kubernetes (the preStop delay's default
// depends on it).
func (c *Coordinator) Started() {
	c.health.MarkStarted()
	c.log.Info("serving; stop budget set",
		zap.Duration("total", c.cfg.Total), zap.Duration("preStopDelay", c.cfg.PreStopDelay),
		zap.Bool("kubernetes", os.Getenv("KUBERNETES_SERVICE_HOST") != ""),
		zap.Duration("shutdown", c.cfg.Shutdown), zap.Duration("hubDrain", c.cfg.HubDrain),
		zap.Duration("wait", c.cfg.Wait), zap.Duration("reserve", c.cfg.Reserve))
}

// Health returns the coordinator's readiness and liveness handlers.
func (c *Coordinator) Health() *Health { return c.health }

// Register adds steps to the stop. It fails once the stop has begun, and for
// a step without a name, phase or stopper.
func (c *Coordinator) Register(steps ...Step) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return errors.New("lifecycle: cannot register a step: the stop has already begun")
	}
	for _, s := range steps {
		switch {
		case !s.Phase.valid():
			return fmt.Errorf("lifecycle: step %q: unknown phase %d", s.Name, int(s.Phase))
		case s.Name == "":
			return fmt.Errorf("lifecycle: a step of phase %s has no name: name it after what it stops (e.g. \"http.public\")", s.Phase)
		case s.Stopper == nil:
			return fmt.Errorf("lifecycle: step %q has no Stopper", s.Name)
		}
	}
	for _, s := range steps {
		c.steps[s.Phase] = append(c.steps[s.Phase], s)
	}
	return nil
}

// Stopping returns a channel that is closed when the stop begins.
func (c *Coordinator) Stopping() <-chan struct{} { return c.stopping }

// Draining returns a channel that is closed when the shutdown phase
// begins: servers stop accepting and drain what is in flight. A handler
// that streams (Server-Sent Events, a watch, a long download) selects on it
// to end its stream cleanly, with a last message that tells the client to
// reconnect, instead of waiting for its context to be cancelled at the
// phase's deadline. It is not closed at readiness off: during the preStop
// delay the service serves as usual.
func (c *Coordinator) Draining() <-chan struct{} { return c.draining }

// Signals returns how many stop signals have arrived (see
// [Coordinator.Interrupt]), for metrics.
func (c *Coordinator) Signals() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.signals
}

// Done returns a channel that is closed when the stop has ended.
func (c *Coordinator) Done() <-chan struct{} { return c.done }

// Report returns the report of the stop, or nil while it has not ended.
func (c *Coordinator) Report() *StopReport {
	select {
	case <-c.done:
		return c.report
	default:
		return nil
	}
}

// Stop runs the stop sequence, or joins the one already running, and returns
// its report. If ctx has a deadline earlier than the end of the budget, the
// budget shrinks to end just before it (this is how the coordinator stays
// inside Fx's stop timeout). The error is a [*StopError] when the stop was not
// clean, or ctx's error if ctx ended first (the stop then goes on in the
// background).
func (c *Coordinator) Stop(ctx context.Context) (*StopReport, error) {
	return c.StopAs(ctx, TriggerStopCalled)
}

// StopAs is [Coordinator.Stop] for a caller that names what began the stop,
// such as Fx's OnStop hook ([TriggerFxStop]). A stop signal already
// delivered to the process counts first: Fx and the coordinator receive the
// same SIGTERM, and when Fx's path comes first the signal is still the
// trigger.
func (c *Coordinator) StopAs(ctx context.Context, trigger string) (*StopReport, error) {
	c.settleSignals()
	c.begin(ctx, trigger)
	select {
	case <-c.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("lifecycle: stop still running: %w", ctx.Err())
	}
	if !c.report.Clean() {
		return c.report, &StopError{Report: c.report}
	}
	return c.report, nil
}

// Interrupt delivers a stop signal, counted from the first: the first starts
// the stop; the second skips what is left of the preStop delay, forces the
// phase that runs (readiness-off excepted: it only flips flags) and gives
// every later phase only the force grace; the third exits the process at
// once with [ExitAborted]. [Coordinator.ListenSignals] calls it for SIGTERM
// and SIGINT.
func (c *Coordinator) Interrupt(reason string) {
	c.mu.Lock()
	c.signals++
	n := c.signals
	if n == 2 {
		c.hurried = true
		if c.current != nil {
			c.current.hurry()
		}
	}
	c.mu.Unlock()
	switch {
	case n == 1:
		c.begin(context.Background(), reason)
		if c.wake != nil {
			c.wake()
		}
	case n == 2:
		c.log.Warn("second stop signal: forcing the current phase; every phase left gets only the force grace",
			zap.String("signal", reason), zap.Duration("forceGrace", c.cfg.ForceGrace))
	default:
		c.log.Error("third stop signal: exiting now, the stop is abandoned", zap.String("signal", reason), zap.Int("exit_code", ExitAborted))
		_ = c.log.Sync()
		c.exit(ExitAborted)
	}
}

// begin starts the stop unless it is running, and shrinks the budget to
// fit ctx's deadline.
func (c *Coordinator) begin(ctx context.Context, trigger string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.started {
		c.started = true
		c.trigger = trigger
		start := time.Now()
		c.start, c.end = start, start.Add(c.cfg.Total)
		c.tighten(ctx)
		close(c.stopping)
		go c.run(start, trigger)
		return
	}
	c.tighten(ctx)
}
