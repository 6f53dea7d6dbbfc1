package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/lameduck/lameduck/config"
)

// Exit codes of a process stopped by the coordinator (see [ExitCode]).
const (
	// ExitClean: the stop lost nothing.
	ExitClean = 0
	// ExitStartFailed: the application failed to start.
	ExitStartFailed = 1
	// ExitForced: the stop completed within its budget, but something had
	// to be force-closed, a step failed, or the budget ran out.
	ExitForced = 3
	// ExitAborted: a third signal ended the process at once, in the middle
	// of the stop.
	ExitAborted = 4
)

// tightenMargin is kept between a caller's deadline (Fx's stop timeout) and
// the end of the budget, so that the coordinator returns before the caller
// gives up on it.
const tightenMargin = 50 * time.Millisecond

// fxStopTrigger is the trigger of a stop begun by Fx's OnStop hook.
const fxStopTrigger = "fx stop"

// Coordinator runs the stop: it owns the phases, the budget, readiness and
// the stop signals. Servers, hubs and pools come to it as registered steps;
// it imports none of them.
type Coordinator struct {
	cfg       config.Stop
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
	end      time.Time // end of the budget, once started
	current  *phaseRun
	signals  int
	trigger  string          // what began the stop
	listener *signalListener // while ListenSignals runs
	// hurryPending is a second signal that arrived when no phase could
	// take it (during readiness-off or between phases).
	hurryPending bool
	report       *StopReport
	stopping     chan struct{} // closed when the stop begins
	done         chan struct{} // closed when the stop has ended
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

// New returns a coordinator for the stop settings cfg. It does nothing until
// [Coordinator.Stop] is called or a signal arrives (see
// [Coordinator.ListenSignals]).
func New(cfg config.Stop, opts ...Option) *Coordinator {
	c := &Coordinator{
		cfg:      cfg,
		log:      zap.NewNop(),
		exit:     os.Exit,
		stopping: make(chan struct{}),
		done:     make(chan struct{}),
	}
	c.health = newHealth(c.stopping)
	for _, o := range opts {
		o(c)
	}
	return c
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
	c.beginWith(ctx, "Stop called")
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
// the stop; the second skips what is left of the preStop delay or
// force-closes the current phase; the third exits the process at once with
// [ExitAborted]. [Coordinator.ListenSignals] calls it for SIGTERM and SIGINT.
func (c *Coordinator) Interrupt(reason string) {
	c.mu.Lock()
	c.signals++
	n := c.signals
	if n == 2 {
		// Readiness-off only flips flags: a hurry there is meant for the
		// preStop delay that follows. Between phases, the next phase takes
		// it. Either way it waits in hurryPending for runPhase.
		if c.current != nil && c.current.phase != ReadinessOff {
			c.current.hurry()
		} else {
			c.hurryPending = true
		}
	}
	c.mu.Unlock()
	switch {
	case n == 1:
		c.beginWith(context.Background(), reason)
		if c.wake != nil {
			c.wake()
		}
	case n == 2:
		c.log.Warn("second stop signal: hurrying the stop", zap.String("signal", reason))
	default:
		c.log.Error("third stop signal: exiting now, the stop is abandoned", zap.String("signal", reason), zap.Int("exit_code", ExitAborted))
		_ = c.log.Sync()
		c.exit(ExitAborted)
	}
}

// stopSignals are the signals that stop the process.
var stopSignals = []os.Signal{syscall.SIGTERM, syscall.SIGINT}

// signalListener is the goroutine of [Coordinator.ListenSignals].
type signalListener struct {
	settle chan chan struct{} // asks it to count the signals already delivered
	quit   chan struct{}
}

// ListenSignals makes SIGTERM and SIGINT call [Coordinator.Interrupt] until
// the returned function is called.
func (c *Coordinator) ListenSignals() (stop func()) {
	ch := make(chan os.Signal, 3)
	signal.Notify(ch, stopSignals...)
	l := &signalListener{settle: make(chan chan struct{}), quit: make(chan struct{})}
	c.mu.Lock()
	c.listener = l
	c.mu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case sig := <-ch:
				c.Interrupt("signal " + sig.String())
			case done := <-l.settle:
				// os/signal sends a signal to every registered channel
				// under its handler lock, which Notify takes too: once
				// this no-op Notify returns, a signal that reached another
				// listener (Fx's) is in ch.
				// TestSignalIsTheTriggerEvenWhenFxBeganTheStopFirst
				// guards that behaviour of os/signal.
				signal.Notify(ch, stopSignals...)
				for pending := true; pending; {
					select {
					case sig := <-ch:
						c.Interrupt("signal " + sig.String())
					default:
						pending = false
					}
				}
				close(done)
			case <-l.quit:
				return
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(ch)
			c.mu.Lock()
			c.listener = nil
			c.mu.Unlock()
			close(l.quit)
			wg.Wait()
		})
	}
}

// settleSignals has the signal listener, if one runs, count every stop
// signal already delivered to the process. Fx and the coordinator both
// listen to SIGTERM; when Fx's OnStop hook comes first, this makes the
// signal, not "fx stop", the trigger of the stop it began.
func (c *Coordinator) settleSignals() {
	c.mu.Lock()
	l := c.listener
	c.mu.Unlock()
	if l == nil {
		return
	}
	done := make(chan struct{})
	select {
	case l.settle <- done:
		<-done
	case <-l.quit:
	}
}

// beginWith starts the stop unless it is running, and shrinks the budget to
// fit ctx's deadline.
func (c *Coordinator) beginWith(ctx context.Context, trigger string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.started {
		c.started = true
		c.trigger = trigger
		start := time.Now()
		c.end = start.Add(c.cfg.Total)
		c.tighten(ctx)
		close(c.stopping)
		go c.run(start, trigger)
		return
	}
	c.tighten(ctx)
}

// tighten moves the end of the budget before ctx's deadline. c.mu is held.
func (c *Coordinator) tighten(ctx context.Context) {
	dl, ok := ctx.Deadline()
	if !ok || !dl.Add(-tightenMargin).Before(c.end) {
		return
	}
	c.log.Warn("the caller's stop deadline is shorter than the budget: shrinking the budget; "+
		"give fx.StopTimeout at least stop.total + stop.margin (lameduck.Run does)",
		zap.Duration("budget_left", time.Until(dl.Add(-tightenMargin))), zap.Duration("stop.total", c.cfg.Total))
	c.end = dl.Add(-tightenMargin)
	if c.current != nil {
		c.current.reschedule()
	}
}

func (c *Coordinator) budgetEnd() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.end
}

func (c *Coordinator) run(start time.Time, trigger string) {
	c.log.Info("stop begins", zap.String("trigger", trigger), zap.Duration("budget", time.Until(c.budgetEnd())))
	report := &StopReport{Trigger: trigger, Start: start}
	for _, p := range Phases {
		c.mu.Lock()
		steps := c.steps[p]
		c.mu.Unlock()
		pr := c.runPhase(p, steps, start)
		report.Phases = append(report.Phases, pr)
		c.logPhase(pr)
		c.notify(Event{Kind: PhaseEnded, Phase: p, PhaseReport: &pr})
	}
	c.mu.Lock()
	report.Trigger = c.trigger
	report.Budget = c.end.Sub(start)
	report.Signals = c.signals
	c.current = nil
	c.mu.Unlock()
	report.Duration = time.Since(start)
	c.report = report
	level := zap.InfoLevel
	if !report.Clean() {
		level = zap.WarnLevel
	}
	c.log.Check(level, "stop ended").Write(zap.Bool("clean", report.Clean()), zap.Duration("duration", report.Duration), report.Field())
	c.notify(Event{Kind: StopEnded, Report: report})
	close(c.done)
}

func (c *Coordinator) logPhase(pr PhaseReport) {
	fields := []zap.Field{zap.String("phase", pr.Phase.String()), zap.String("outcome", string(pr.Outcome)),
		zap.Duration("duration", pr.Duration), zap.Duration("allotted", pr.Allotted), zap.Int("steps", len(pr.Steps))}
	if cut := pr.Stragglers(); len(cut) > 0 {
		names := make([]string, len(cut))
		for i, s := range cut {
			names[i] = s.String()
		}
		fields = append(fields, zap.Strings("cut", names))
	}
	if pr.Clean() {
		c.log.Info("stop phase ended", fields...)
	} else {
		c.log.Warn("stop phase ended", fields...)
	}
}

func (c *Coordinator) notify(e Event) {
	for _, o := range c.observers {
		o.ObserveStop(e)
	}
}

// allot returns how long phase p may run: min(its cap, time left - reserve).
func (c *Coordinator) allot(p Phase, nSteps int, now, end time.Time) time.Duration {
	left := end.Sub(now) - c.cfg.Reserve
	var limit time.Duration
	switch p {
	case ReadinessOff:
		limit = c.cfg.ForceGrace // flipping flags takes no time
	case PreStopDelay:
		limit = c.cfg.PreStopDelay
		if nSteps > 0 {
			limit = max(limit, c.cfg.ForceGrace)
		}
	case Shutdown:
		limit = c.cfg.Shutdown
	case HubDrain:
		limit = c.cfg.HubDrain
	case Wait:
		limit = c.cfg.Wait
	case Final:
		// The final phase runs in the reserve, leaving room to force-close.
		limit = c.cfg.Reserve / 2
		left = end.Sub(now) - c.cfg.ForceGrace
	}
	return max(0, min(limit, left))
}

// phaseRun is the state of the running phase that signals and deadline
// changes act on.
type phaseRun struct {
	phase   Phase
	hurryCh chan struct{} // second signal
	moveCh  chan struct{} // the budget's end moved
}

func (r *phaseRun) hurry() {
	select {
	case r.hurryCh <- struct{}{}:
	default:
	}
}

func (r *phaseRun) reschedule() {
	select {
	case r.moveCh <- struct{}{}:
	default:
	}
}

type stepResult struct {
	i      int
	report StepReport
}

func (c *Coordinator) runPhase(p Phase, steps []Step, stopStart time.Time) PhaseReport {
	start := time.Now()
	end := c.budgetEnd()
	alloc := c.allot(p, len(steps), start, end)
	deadline := start.Add(alloc)
	forceBy := func() time.Time { return minTime(deadline.Add(c.cfg.ForceGrace), c.budgetEnd()) }
	pr := PhaseReport{Phase: p, Start: start.Sub(stopStart), Allotted: alloc, Outcome: PhaseCompleted}
	c.notify(Event{Kind: PhaseStarted, Phase: p, Deadline: deadline})

	run := &phaseRun{phase: p, hurryCh: make(chan struct{}, 1), moveCh: make(chan struct{}, 1)}
	c.mu.Lock()
	c.current = run
	if c.hurryPending && p != ReadinessOff {
		c.hurryPending = false
		run.hurry()
	}
	c.mu.Unlock()
	defer func() {
		// A hurry that this phase did not take (it ended first) goes to
		// the next phase.
		c.mu.Lock()
		c.current = nil
		select {
		case <-run.hurryCh:
			c.hurryPending = true
		default:
		}
		c.mu.Unlock()
	}()

	ctx, cancel := context.WithDeadline(context.WithValue(context.Background(), forceDeadlineKey{}, forceBy()), deadline)
	defer cancel()
	results := make(chan stepResult, len(steps))
	for i, s := range steps {
		go func() { results <- stepResult{i, c.runStep(ctx, s)} }()
	}
	reports := make([]StepReport, len(steps))
	got := make([]bool, len(steps))
	pending := len(steps)
	// The preStop delay is a wait of its own: the phase lasts until its
	// deadline unless a signal or the budget cuts it short.
	delaying := p == PreStopDelay && alloc > 0
	if p == PreStopDelay && alloc < c.cfg.PreStopDelay {
		pr.Outcome = PhaseCutShort
	}
	timer := time.NewTimer(alloc)
	defer timer.Stop()
	forced := false
wait:
	for pending > 0 || delaying {
		select {
		case r := <-results:
			reports[r.i], got[r.i] = r.report, true
			pending--
		case <-timer.C:
			if delaying {
				delaying = false
				if pending == 0 {
					break wait
				}
			}
			forced = true
			break wait
		case <-run.hurryCh:
			if delaying {
				// A second signal skips what is left of the delay; the
				// steps of the phase still finish normally.
				delaying = false
				pr.Outcome = PhaseCutShort
				continue
			}
			forced = true
			break wait
		case <-run.moveCh:
			if d := c.budgetEnd().Add(-c.cfg.Reserve); d.Before(deadline) {
				deadline = d
				timer.Reset(time.Until(deadline))
			}
		}
	}
	if forced {
		pr.Outcome = PhaseForced
		cancel() // tell the steps to force-close
		grace := time.NewTimer(time.Until(forceBy()))
		defer grace.Stop()
	force:
		for pending > 0 {
			select {
			case r := <-results:
				reports[r.i], got[r.i] = r.report, true
				pending--
			case <-grace.C:
				break force
			}
		}
		for i, s := range steps {
			if got[i] {
				continue
			}
			// Abandoned: it ignored its context. Its goroutine still sends
			// to the buffered results channel when (if) it returns.
			reports[i] = StepReport{Name: s.Name, Outcome: StepAbandoned, Duration: time.Since(start), Err: "did not return after its context was cancelled"}
			if rep, ok := s.Stopper.(StragglerReporter); ok {
				reports[i].Stragglers = rep.Stragglers()
			}
			c.log.Error("stop step ignored its deadline and was abandoned", zap.String("phase", p.String()), zap.String("step", s.Name))
		}
	}
	for _, r := range reports {
		// A step that saw its deadline pass returned at the same instant
		// as the phase's timer fired: the phase was forced all the same.
		if r.Outcome == StepForced || r.Outcome == StepAbandoned {
			pr.Outcome = PhaseForced
		}
	}
	pr.Steps = reports
	pr.Duration = time.Since(start)
	return pr
}

func (c *Coordinator) runStep(ctx context.Context, s Step) (rep StepReport) {
	start := time.Now()
	rep.Name = s.Name
	defer func() {
		if r := recover(); r != nil {
			rep.Outcome = StepPanicked
			rep.Err = fmt.Sprint("panic: ", r)
			c.log.Error("stop step panicked", zap.String("step", s.Name), zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
		}
		rep.Duration = time.Since(start)
		if r, ok := s.Stopper.(StragglerReporter); ok {
			rep.Stragglers = r.Stragglers()
		}
	}()
	err := s.Stopper.Stop(ctx)
	switch {
	case ctx.Err() != nil:
		rep.Outcome = StepForced
	case err != nil:
		rep.Outcome = StepFailed
	default:
		rep.Outcome = StepOK
	}
	if err != nil {
		rep.Err = err.Error()
	}
	return rep
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// StopError is returned by [Coordinator.Stop] when the stop was not clean.
type StopError struct {
	Report *StopReport
}

func (e *StopError) Error() string {
	cut := e.Report.Stragglers()
	msg := fmt.Sprintf("lifecycle: stop was not clean (%d cut off)", len(cut))
	for _, p := range e.Report.Phases {
		if !p.Clean() {
			msg += fmt.Sprintf("; %s %s", p.Phase, p.Outcome)
		}
	}
	if len(cut) > 0 {
		msg += ": first cut: " + cut[0].String()
	}
	return msg
}

// ExitCode maps the error of a stop to the process exit status: 0 for nil,
// [ExitForced] for a [*StopError] (anywhere in err's chain), 1 for anything
// else.
func ExitCode(err error) int {
	if err == nil {
		return ExitClean
	}
	var se *StopError
	if errors.As(err, &se) {
		return ExitForced
	}
	return 1
}
