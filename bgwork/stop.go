package bgwork

import (
	"context"
	"fmt"
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
// submitters still waiting for a slot), and Stop waits for every task that
// the pool has taken. It returns nil the moment the last one returns.
//
// If ctx ends first, Stop cancels the contexts of the tasks still running
// (cause [ErrStopDeadline]) and waits for them until [lifecycle.ForceDeadline]
// of ctx, or for the force grace ([WithForceGrace]) if ctx has none; then it
// returns an error that counts what was cut off. [Pool.Stragglers] names
// those tasks. Stop may be called more than once; the pool never takes tasks
// again.
func (p *Pool) Stop(ctx context.Context) error {
	p.beginDrain()
	select {
	case <-p.drained:
		return nil
	case <-ctx.Done():
		select {
		case <-p.drained: // the last task returned as the deadline came
			return nil
		default:
		}
	}

	cut := p.cancelRunning()
	p.log.Warn("stop deadline passed: cancelled the contexts of running tasks",
		zap.String("pool", p.name), zap.Int("cancelled", cut))
	grace := time.NewTimer(time.Until(p.forceBy(ctx)))
	defer grace.Stop()
	select {
	case <-p.drained:
		return fmt.Errorf("bgwork: stop deadline passed: cancelled %d running tasks, all returned: %w", cut, context.Cause(ctx))
	case <-grace.C:
	}
	left := p.Stats().Running
	p.log.Error("tasks still running after their contexts were cancelled; the stop moves on without them",
		zap.String("pool", p.name), zap.Int64("running", left), zap.Strings("tasks", p.runningNames(maxLoggedNames)))
	return fmt.Errorf("bgwork: stop deadline passed: cancelled %d running tasks, %d still running: %w", cut, left, context.Cause(ctx))
}

// beginDrain makes the pool refuse new tasks, refuses the submitters waiting
// for a slot and ends the idle workers.
func (p *Pool) beginDrain() {
	old := p.admission.Or(draining)
	if old == 0 {
		p.signalDrained()
	}
	if old&draining != 0 {
		return // already stopping
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.reaper != nil {
		p.reaper.Stop()
	}
	for _, w := range p.parked {
		w.wake <- nil
	}
	clear(p.parked)
	p.parked = nil
	for t := p.waiters.popFront(); t != nil; t = p.waiters.popFront() {
		t.state = refused
		t.accepted <- struct{}{}
	}
}

// cancelRunning records the running tasks as cut off and cancels every
// task's context. It returns how many it cut.
func (p *Pool) cancelRunning() int {
	p.mu.Lock()
	if p.cut == nil {
		p.cutAt = time.Since(p.epoch)
		for t := p.running.head; t != nil; t = t.next {
			t.cut = true
			p.cut = append(p.cut, t)
		}
	}
	n := len(p.cut)
	p.mu.Unlock()
	p.cancelForce(ErrStopDeadline)
	return n
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
// reached its deadline (with their age then), and those running now (with
// their age now). Before the deadline it names the tasks running now. The
// coordinator calls it after [Pool.Stop] returned, or while Stop still runs
// if it abandoned the step.
func (p *Pool) Stragglers() []lifecycle.Straggler {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Since(p.epoch)
	var out []lifecycle.Straggler
	for _, t := range p.cut {
		s := lifecycle.Straggler{Kind: "task", Name: t.name, Detail: p.name + ": cancelled at the stop deadline, then returned", Age: p.cutAt - t.start}
		if t.state == running {
			s.Detail, s.Age = p.name+": still running after its context was cancelled", now-t.start
		}
		out = append(out, s)
	}
	for t := p.running.head; t != nil; t = t.next {
		if !t.cut {
			out = append(out, lifecycle.Straggler{Kind: "task", Name: t.name, Detail: p.name + ": running", Age: now - t.start})
		}
	}
	return out
}

// maxLoggedNames caps the task names in one log line; the stop report
// (Stragglers) has them all.
const maxLoggedNames = 20

// runningNames returns the names of up to limit running tasks, oldest first,
// and says how many more there are.
func (p *Pool) runningNames(limit int) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	names := make([]string, 0, min(p.running.len, limit+1))
	for t := p.running.head; t != nil; t = t.next {
		if len(names) == limit {
			names = append(names, fmt.Sprintf("... and %d more", p.running.len-limit))
			break
		}
		names = append(names, t.name)
	}
	return names
}
