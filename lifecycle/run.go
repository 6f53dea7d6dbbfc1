package lifecycle

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"go.uber.org/zap"
)

// run runs every phase in order, then publishes the report.
func (c *Coordinator) run(start time.Time, trigger string) {
	c.log.Info("stop begins", zap.String("trigger", trigger), zap.Duration("budget", time.Until(c.budgetEnd())))
	c.notify(Event{Kind: StopBegan, Time: start, Deadline: c.budgetEnd()})
	report := &StopReport{Trigger: trigger, Start: start}
	for _, p := range Phases() {
		c.mu.Lock()
		steps := c.steps[p]
		c.mu.Unlock()
		pr := c.runPhase(p, steps, start)
		report.Phases = append(report.Phases, pr)
		c.logPhase(pr)
		c.notify(Event{Kind: PhaseEnded, Phase: p, Time: time.Now(), PhaseReport: &pr})
	}
	c.mu.Lock()
	report.Trigger = c.trigger
	report.Budget = c.end.Sub(start)
	report.Signals = c.signals
	c.mu.Unlock()
	report.Duration = time.Since(start)
	c.report = report
	level := zap.InfoLevel
	if !report.Clean() {
		level = zap.WarnLevel
	}
	c.log.Check(level, "stop ended").Write(zap.Bool("clean", report.Clean()), zap.Duration("duration", report.Duration), report.Field())
	c.notify(Event{Kind: StopEnded, Time: start.Add(report.Duration), Report: report})
	close(c.done)
}

func (c *Coordinator) logPhase(pr PhaseReport) {
	fields := []zap.Field{zap.String("phase", pr.Phase.String()), zap.String("outcome", string(pr.Outcome)),
		zap.Duration("duration", pr.Duration), zap.Duration("allotted", pr.Allotted), zap.Int("steps", len(pr.Steps))}
	if pr.ForcedBy != "" {
		fields = append(fields, zap.String("forced_by", string(pr.ForcedBy)), zap.Duration("forced_at", pr.ForcedAt))
	}
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

// notify reports e to the observers, with what began the stop and the
// budget as it stands.
func (c *Coordinator) notify(e Event) {
	c.mu.Lock()
	e.Trigger, e.Budget = c.trigger, c.end.Sub(c.start)
	c.mu.Unlock()
	for _, o := range c.observers {
		o.ObserveStop(e)
	}
}

// runPhase runs the steps of phase p in parallel until they have all
// returned, or until the phase is forced (its deadline passed, a second
// signal came) and they have had the force grace to return.
func (c *Coordinator) runPhase(p Phase, steps []Step, stopStart time.Time) PhaseReport {
	r := c.startPhase(p, steps, stopStart)
	defer c.endPhase(r)
	// The steps' context ends at the phase deadline (Err DeadlineExceeded,
	// cause ErrPhaseDeadline) or when a second signal forces the phase
	// (Err Canceled, cause ErrSecondSignal).
	base, cancel := context.WithCancelCause(context.WithValue(context.Background(), forceDeadlineKey{}, r.forceBy()))
	defer cancel(nil)
	ctx, stop := context.WithDeadlineCause(base, r.deadline, ErrPhaseDeadline)
	defer stop()
	for i, s := range steps {
		go func() { r.results <- stepResult{i, c.runStep(ctx, s)} }()
	}
	if cause := r.await(ctx, cancel); cause != "" {
		r.report.Outcome, r.report.ForcedBy, r.report.ForcedAt = PhaseForced, cause, time.Since(r.start)
		r.awaitUntil(r.forceBy())
		r.abandonRest()
	}
	return r.finish()
}

// phaseRun is the state of the running phase, which signals and deadline
// changes act on.
type phaseRun struct {
	c        *Coordinator
	phase    Phase
	steps    []Step
	start    time.Time
	alloc    time.Duration
	deadline time.Time
	hurryCh  chan struct{} // a second signal
	moveCh   chan struct{} // the budget's end moved
	results  chan stepResult
	reports  []StepReport
	got      []bool
	pending  int
	report   PhaseReport
}

type stepResult struct {
	i      int
	report StepReport
}

// startPhase allots the phase its time, makes it the current one and tells
// the observers.
func (c *Coordinator) startPhase(p Phase, steps []Step, stopStart time.Time) *phaseRun {
	now := time.Now()
	r := &phaseRun{
		c: c, phase: p, steps: steps, start: now,
		hurryCh: make(chan struct{}, 1), moveCh: make(chan struct{}, 1),
		results: make(chan stepResult, len(steps)),
		reports: make([]StepReport, len(steps)), got: make([]bool, len(steps)), pending: len(steps),
	}
	c.mu.Lock()
	r.alloc = c.allot(p, len(steps), now)
	shortened := c.hurried && p != ReadinessOff
	c.current = r
	c.mu.Unlock()
	r.deadline = now.Add(r.alloc)
	r.report = PhaseReport{Phase: p, Start: now.Sub(stopStart), Allotted: r.alloc, Outcome: PhaseCompleted, Shortened: shortened}
	if p == PreStopDelay && r.alloc < c.cfg.PreStopDelay {
		r.report.Outcome = PhaseCutShort
	}
	if p == Shutdown {
		close(c.draining)
	}
	c.notify(Event{Kind: PhaseStarted, Phase: p, Time: now, Deadline: r.deadline})
	return r
}

// endPhase makes the phase no longer the current one.
func (c *Coordinator) endPhase(r *phaseRun) {
	c.mu.Lock()
	c.current = nil
	c.mu.Unlock()
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

// forceBy is when the steps must have returned once forced: the phase
// deadline plus the force grace, and never after the budget.
func (r *phaseRun) forceBy() time.Time {
	return minTime(r.deadline.Add(r.c.cfg.ForceGrace), r.c.budgetEnd())
}

// await waits for every step to return (and, in the preStop delay, for the
// delay to pass) and returns what forced the phase, or "" if nothing did.
// ctx is the steps' context; cancel ends it early: when a second signal
// forces the phase, or when the budget's end moves before the deadline.
func (r *phaseRun) await(ctx context.Context, cancel context.CancelCauseFunc) ForceCause {
	// The preStop delay is a wait of its own: the phase lasts until its
	// deadline unless a signal or the budget cuts it short.
	delaying := r.phase == PreStopDelay && r.alloc > 0
	var moved *time.Timer
	defer func() {
		if moved != nil {
			moved.Stop()
		}
	}()
	for r.pending > 0 || delaying {
		select {
		case res := <-r.results:
			r.record(res)
		case <-ctx.Done():
			if delaying && r.pending == 0 {
				return ""
			}
			return ForcedByDeadline
		case <-r.hurryCh:
			switch {
			case r.phase == ReadinessOff:
				// It only flips flags; the phases after it get the
				// force grace.
			case delaying:
				// A second signal skips what is left of the delay; the
				// steps of the phase still finish normally.
				delaying = false
				r.report.Outcome = PhaseCutShort
			default:
				cancel(ErrSecondSignal)
				return ForcedBySignal
			}
		case <-r.moveCh:
			r.moveDeadline(&moved, cancel)
		}
	}
	return ""
}

// moveDeadline brings the phase's deadline forward to the budget's end,
// less the reserve, if that is earlier: moved ends the steps' context then.
func (r *phaseRun) moveDeadline(moved **time.Timer, cancel context.CancelCauseFunc) {
	d := r.c.budgetEnd().Add(-r.c.cfg.Reserve)
	if !d.Before(r.deadline) {
		return
	}
	r.deadline = d
	if *moved != nil {
		(*moved).Stop()
	}
	*moved = time.AfterFunc(time.Until(d), func() { cancel(ErrPhaseDeadline) })
}

// awaitUntil collects the results of the steps that return before t.
func (r *phaseRun) awaitUntil(t time.Time) {
	grace := time.NewTimer(time.Until(t))
	defer grace.Stop()
	for r.pending > 0 {
		select {
		case res := <-r.results:
			r.record(res)
		case <-grace.C:
			return
		}
	}
}

func (r *phaseRun) record(res stepResult) {
	r.reports[res.i], r.got[res.i] = res.report, true
	r.pending--
}

// abandonRest reports the steps that have not returned by their force
// deadline as abandoned: they ignored their context. Their goroutines still
// send to the buffered results channel when (if) they return.
func (r *phaseRun) abandonRest() {
	for i, s := range r.steps {
		if r.got[i] {
			continue
		}
		rep := StepReport{Name: s.Name, Outcome: StepAbandoned, Duration: time.Since(r.start), Err: errAbandoned}
		if sr, ok := s.Stopper.(StragglerReporter); ok {
			rep.Stragglers = sr.Stragglers()
		}
		r.reports[i] = rep
		r.c.log.Error("stop step ignored its deadline and was abandoned", zap.String("phase", r.phase.String()), zap.String("step", s.Name))
	}
}

// finish completes the phase's report.
func (r *phaseRun) finish() PhaseReport {
	for _, s := range r.reports {
		// A step that saw its deadline pass returned at the same instant
		// as the phase's timer fired: the phase was forced all the same.
		if (s.Outcome == StepForced || s.Outcome == StepAbandoned) && r.report.ForcedBy == "" {
			r.report.Outcome, r.report.ForcedBy, r.report.ForcedAt = PhaseForced, ForcedByDeadline, r.alloc
		}
	}
	r.report.Steps = r.reports
	r.report.Duration = time.Since(r.start)
	return r.report
}

// runStep runs one step, recovering a panic.
func (c *Coordinator) runStep(ctx context.Context, s Step) (rep StepReport) {
	start := time.Now()
	rep.Name = s.Name
	defer func() {
		if p := recover(); p != nil {
			rep.Outcome = StepPanicked
			rep.Err = &PanicError{Step: s.Name, Value: p}
			c.log.Error("stop step panicked", zap.String("step", s.Name), zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
		}
		rep.Duration = time.Since(start)
		if r, ok := s.Stopper.(StragglerReporter); ok {
			rep.Stragglers = r.Stragglers()
		}
	}()
	rep.Err = s.Stopper.Stop(ctx)
	switch {
	case rep.Err == nil:
		rep.Outcome = StepOK // done, even if its context ended meanwhile
	case ctx.Err() != nil:
		rep.Outcome = StepForced
	default:
		rep.Outcome = StepFailed
	}
	return rep
}

// PanicError is the error of a step that panicked.
type PanicError struct {
	Step  string
	Value any
}

func (e *PanicError) Error() string { return fmt.Sprint("panic: ", e.Value) }

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
