package bgwork

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/lameduck/lameduck/lifecycle"
)

// Step returns the pool's step of the stop: [Pool.Stop] in the wait phase,
// named after the pool, for [lifecycle.Coordinator.Register].
func (p *Pool) Step() lifecycle.Step {
	return lifecycle.Step{Phase: lifecycle.Wait, Name: p.name, Stopper: p}
}

var (
	_ lifecycle.Stopper           = (*Pool)(nil)
	_ lifecycle.StragglerReporter = (*Pool)(nil)
)

// Stop stops the pool: from now on [Pool.Go] returns [ErrDraining] (also to
// submitters still waiting for room), and Stop waits for every task that
// the pool has taken, queued ones included. It returns nil the moment the
// last one returns.
//
// If ctx ends first, Stop drops the queued tasks that have not started,
// cancels the contexts of the tasks still running (cause
// [ErrStopDeadline]), and waits for them until [lifecycle.ForceDeadline] of
// ctx, or for the force grace ([WithForceGrace]) if ctx has none; then it
// returns an error that counts what was cut off. [Pool.Stragglers] names
// those tasks. Stop may be called more than once; the pool never takes
// tasks again.
func (p *Pool) Stop(ctx context.Context) error {
	p.beginStop()
	select {
	case <-p.idle:
		return nil
	case <-ctx.Done():
		select {
		case <-p.idle: // the last task returned as the deadline came
			return nil
		default:
		}
	}

	nCancelled, nDropped := p.cutOff()
	p.log.Warn("stop deadline passed: cancelled the contexts of running tasks and dropped the queued ones",
		zap.String("pool", p.name), zap.Int("cancelled", nCancelled), zap.Int("dropped", nDropped))
	grace := time.NewTimer(time.Until(p.forceBy(ctx)))
	defer grace.Stop()
	select {
	case <-p.idle:
		return fmt.Errorf("bgwork: stop deadline passed: cancelled %d running tasks, all returned; dropped %d queued: %w", nCancelled, nDropped, context.Cause(ctx))
	case <-grace.C:
	}
	p.mu.Lock()
	var names []string // of the tasks still running; the stop report has them all
	for _, t := range p.cut {
		if !t.ended {
			names = append(names, t.name)
		}
	}
	p.mu.Unlock()
	left := len(names)
	if left > 20 { // a log line names 20
		names = append(names[:20], fmt.Sprintf("... and %d more", left-20))
	}
	p.log.Error("tasks still running after their contexts were cancelled; the stop moves on without them",
		zap.String("pool", p.name), zap.Int("running", left), zap.Strings("tasks", names))
	return fmt.Errorf("bgwork: stop deadline passed: cancelled %d running tasks, %d still running; dropped %d queued: %w", nCancelled, left, nDropped, context.Cause(ctx))
}

// beginStop makes the pool refuse new tasks and refuses the submitters
// waiting for room.
func (p *Pool) beginStop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopping {
		return
	}
	p.stopping = true
	for _, w := range p.waiters {
		w.taken <- p.refuseLocked(w.t.name, ErrDraining)
	}
	p.waiters = nil
	p.signalIfIdleLocked()
}

// cutOff drops the queued tasks, records the running ones as cut off, and
// cancels their contexts. It returns how many tasks were running and how
// many it dropped.
func (p *Pool) cutOff() (nCancelled, nDropped int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.cutDone {
		p.cutDone = true
		p.cutAt = time.Now()
		p.cut = slices.SortedFunc(maps.Keys(p.running), byAge)
		for _, t := range p.cut {
			t.cancel(ErrStopDeadline) // cancels what the task derived too; calls nothing of the pool
		}
		p.dropped, p.queue = p.queue, nil
		p.counters.Dropped += int64(len(p.dropped))
		p.signalIfIdleLocked()
	}
	return len(p.cut), len(p.dropped)
}

// forceBy returns when Stop must return after ctx ended: lifecycle.CloseBy,
// a little before the coordinator's force deadline, so that the step is
// reported as forced and not as abandoned; without a coordinator, the force
// grace from now.
func (p *Pool) forceBy(ctx context.Context) time.Time {
	if _, ok := lifecycle.ForceDeadline(ctx); !ok {
		return time.Now().Add(p.grace)
	}
	return lifecycle.CloseBy(ctx)
}

// Stragglers names the tasks that the stop cut off: those running when it
// reached its deadline (with their age then, or their age now if they still
// run), and the queued ones it dropped then. Before the deadline it names
// the tasks running and queued now, oldest first. The coordinator calls it
// after [Pool.Stop] returned, or while Stop still runs if it abandoned the
// step.
func (p *Pool) Stragglers() []lifecycle.Straggler {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	var out []lifecycle.Straggler
	add := func(t *task, detail string, at time.Time) {
		out = append(out, lifecycle.Straggler{Kind: "task", Name: t.name, Detail: p.name + ": " + detail, Age: at.Sub(t.start)})
	}
	for _, t := range p.cut {
		if t.ended {
			add(t, "cancelled at the stop deadline, then returned", p.cutAt)
		} else {
			add(t, "still running after its context was cancelled", now)
		}
	}
	for _, t := range p.dropped {
		add(t, "queued, dropped at the stop deadline before it started", p.cutAt)
	}
	if !p.cutDone { // after it, the tasks running are those cut
		for _, t := range slices.SortedFunc(maps.Keys(p.running), byAge) {
			add(t, "running", now)
		}
	}
	for _, t := range p.queue {
		add(t, "queued", now)
	}
	return out
}
