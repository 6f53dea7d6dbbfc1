package bgwork

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/lameduck/lameduck/lifecycle"
)

// Step returns the pool's step of the stop: [Pool.Stop] in the wait phase,
// named after the pool. [Module] registers it; without Fx, pass it to
// [lifecycle.Coordinator.Register].
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
	p.beginDrain()
	select {
	case <-p.drained:
		p.drainedClean()
		return nil
	case <-ctx.Done():
		select {
		case <-p.drained: // the last task returned as the deadline came
			p.drainedClean()
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
	case <-p.drained:
		return fmt.Errorf("bgwork: stop deadline passed: cancelled %d running tasks, all returned; dropped %d queued: %w", nCancelled, nDropped, context.Cause(ctx))
	case <-grace.C:
	}
	names, left := p.stillRunning(maxLoggedNames)
	p.log.Error("tasks still running after their contexts were cancelled; the stop moves on without them",
		zap.String("pool", p.name), zap.Int("running", left), zap.Strings("tasks", names))
	return fmt.Errorf("bgwork: stop deadline passed: cancelled %d running tasks, %d still running; dropped %d queued: %w", nCancelled, left, nDropped, context.Cause(ctx))
}

// drainedClean counts the last tasks and lets the pool's records go to
// the next pool, once every task returned before the deadline.
func (p *Pool) drainedClean() {
	p.mu.Lock()
	p.sweepLocked()
	p.mu.Unlock()
}

// beginDrain makes the pool refuse new tasks and refuses the submitters
// waiting for room.
func (p *Pool) beginDrain() {
	if p.limit == 0 {
		old := p.admission.Or(draining)
		if old == 0 {
			p.signalDrained()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return // already stopping
	}
	p.closed = true
	p.clock.stop()
	for w := p.waiters.popFront(); w != nil; w = p.waiters.popFront() {
		w.state = waitRefused
		w.wake <- struct{}{}
	}
	p.signalIfDrainedLocked()
}

// cutTask is a task that was running when the stop reached its deadline.
type cutTask struct {
	name     string
	start    time.Duration
	slot     *slot // without a limit: the task's slot, whose state says when it ended
	returned bool  // with a limit: set by its worker when it returned
}

func (c *cutTask) ended() bool {
	if c.slot != nil {
		return c.slot.load() != running
	}
	return c.returned
}

// cutOff records the running tasks as cut off, drops the queued ones, and
// cancels every task's context. It returns how many tasks were running and
// how many it dropped.
func (p *Pool) cutOff() (nCancelled, nDropped int) {
	p.mu.Lock()
	if !p.cutDone {
		p.cutDone = true
		p.cutAt = p.clock.exact()
		p.sweepLocked()
		for _, s := range p.slots.slots {
			s.cut = true
			p.cut = append(p.cut, cutTask{name: s.name, start: s.start, slot: s})
		}
		for _, w := range p.live {
			if w.running {
				p.cut = append(p.cut, cutTask{name: w.task.name, start: w.task.start})
				w.cut = len(p.cut)
			}
		}
		var s submission
		for p.queue.popInto(&s) {
			s.values, s.fn = nil, nil // keep the name and the age only
			p.dropped = append(p.dropped, s)
			p.taken--
		}
		p.counters.Dropped += int64(len(p.dropped))
		p.signalIfDrainedLocked()
	}
	nCancelled, nDropped = len(p.cut), len(p.dropped)
	p.mu.Unlock()
	p.cancelForce(ErrStopDeadline)
	return nCancelled, nDropped
}

// forceBy returns when Stop must return after ctx ended: a little before the
// coordinator's force deadline, so that the step is reported as forced and
// not as abandoned.
func (p *Pool) forceBy(ctx context.Context) time.Time {
	fd, ok := lifecycle.ForceDeadline(ctx)
	if !ok {
		return time.Now().Add(p.grace)
	}
	margin := min(time.Until(fd)/10, 20*time.Millisecond)
	return fd.Add(-max(margin, 0))
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
	now := p.clock.exact()
	straggler := func(name, detail string, age time.Duration) lifecycle.Straggler {
		return lifecycle.Straggler{Kind: "task", Name: name, Detail: p.name + ": " + detail, Age: age}
	}
	var out []lifecycle.Straggler
	for _, c := range p.cut {
		if c.ended() {
			out = append(out, straggler(c.name, "cancelled at the stop deadline, then returned", p.cutAt-c.start))
		} else {
			out = append(out, straggler(c.name, "still running after its context was cancelled", now-c.start))
		}
	}
	for _, s := range p.dropped {
		out = append(out, straggler(s.name, "queued, dropped at the stop deadline before it started", p.cutAt-s.start))
	}
	var running []lifecycle.Straggler
	p.sweepLocked()
	for _, s := range p.slots.slots {
		if !s.cut {
			running = append(running, straggler(s.name, "running", now-s.start))
		}
	}
	for _, w := range p.live {
		if w.running && w.cut == 0 {
			running = append(running, straggler(w.task.name, "running", now-w.task.start))
		}
	}
	slices.SortStableFunc(running, func(a, b lifecycle.Straggler) int { return cmp.Compare(b.Age, a.Age) })
	out = append(out, running...)
	p.queue.each(func(s *submission) {
		out = append(out, straggler(s.name, "queued", now-s.start))
	})
	return out
}

// maxLoggedNames caps the task names in one log line; the stop report
// (Stragglers) has them all.
const maxLoggedNames = 20

// stillRunning returns the names of up to limit tasks that the stop cut off
// and that still run, saying how many more there are, and how many run.
func (p *Pool) stillRunning(limit int) (names []string, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.cut {
		if c.ended() {
			continue
		}
		n++
		if len(names) < limit {
			names = append(names, c.name)
		}
	}
	if n > limit {
		names = append(names, fmt.Sprintf("... and %d more", n-limit))
	}
	return names, n
}
