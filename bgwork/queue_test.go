package bgwork

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lameduck/lameduck/config"
)

// TestQueueTakesTasksBeyondMaxRunning: with maxRunning 2 and queue 3, Go
// takes five blocking tasks without blocking the submitter; the sixth finds
// the pool full.
func TestQueueTakesTasksBeyondMaxRunning(t *testing.T) {
	p := newPool(t, config.Tasks{MaxRunning: 2, Queue: 3, WhenFull: config.Fail})
	release := make(chan struct{})
	started := make(chan struct{}, 5)
	var ran atomic.Int64
	block := func(context.Context) error { started <- struct{}{}; <-release; ran.Add(1); return nil }
	for i := range 5 {
		if err := p.Go(context.Background(), fmt.Sprintf("t%d", i), block); err != nil {
			t.Fatalf("task %d: %v, want it taken (2 running + 3 queued fit)", i, err)
		}
	}
	<-started
	<-started
	if s := p.Stats(); s.Running != 2 || s.Queued != 3 {
		t.Errorf("stats %+v, want 2 running and 3 queued", s)
	}
	err := p.Go(context.Background(), "extra", block)
	if !errors.Is(err, ErrFull) || !strings.Contains(err.Error(), `"extra"`) {
		t.Errorf("Go on a pool with 2 running and 3 queued = %v, want ErrFull naming the task", err)
	}
	close(release)
	stop(t, p)
	if s := p.Stats(); ran.Load() != 5 || s.Started != 5 || s.Completed != 5 || s.Refused != 1 || s.Queued != 0 {
		t.Errorf("ran %d, stats %+v; want 5 started and completed, 1 refused", ran.Load(), s)
	}
}

// TestQueuedTasksStartInOrder: queued tasks start in the order they were
// submitted, each as soon as a slot frees.
func TestQueuedTasksStartInOrder(t *testing.T) {
	p := newPool(t, config.Tasks{MaxRunning: 1, Queue: 20})
	release := make(chan struct{})
	p.Go(context.Background(), "first", func(context.Context) error { <-release; return nil })
	var mu sync.Mutex
	var order []int
	for i := range 20 {
		if err := p.Go(context.Background(), "queued", func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, i)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	stop(t, p)
	if !slices.IsSorted(order) || len(order) != 20 {
		t.Errorf("queued tasks ran in the order %v, want 0 to 19", order)
	}
}

// TestFullWithQueueWaitsForRoom: with maxRunning 1 and queue 1, a third
// submission waits until the running task returns, then is queued and runs
// after the second.
func TestFullWithQueueWaitsForRoom(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, config.Tasks{MaxRunning: 1, Queue: 1, WhenFull: config.Wait})
		start := time.Now()
		var started []string
		var mu sync.Mutex
		task := func(name string, d time.Duration) func(context.Context) error {
			return func(context.Context) error {
				mu.Lock()
				started = append(started, fmt.Sprintf("%s@%v", name, time.Since(start)))
				mu.Unlock()
				time.Sleep(d)
				return nil
			}
		}
		p.Go(context.Background(), "first", task("first", time.Second))
		p.Go(context.Background(), "second", task("second", time.Second))
		if d := time.Since(start); d != 0 {
			t.Errorf("the queued submission waited %v, want none", d)
		}
		if err := p.Go(context.Background(), "third", task("third", 0)); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("the submission to a full pool waited %v, want 1s: until the first task returned", d)
		}
		stop(t, p)
		if want := []string{"first@0s", "second@1s", "third@2s"}; !slices.Equal(started, want) {
			t.Errorf("tasks started %v, want %v", started, want)
		}
	})
}

// TestStopWaitsForQueuedTasks: tasks queued when the stop begins still run,
// and the stop returns when the last of them returns.
func TestStopWaitsForQueuedTasks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, config.Tasks{MaxRunning: 2, Queue: 10})
		var ran atomic.Int64
		start := time.Now()
		for range 6 {
			p.Go(context.Background(), "sleep", func(context.Context) error {
				time.Sleep(time.Second)
				ran.Add(1)
				return nil
			})
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := p.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 3*time.Second || ran.Load() != 6 {
			t.Errorf("Stop returned after %v with %d tasks run, want 3s and 6 (2 at a time)", d, ran.Load())
		}
	})
}

// TestStopDeadlineDropsQueuedTasks: at the stop's deadline, the queued tasks
// that have not started are dropped (they never run) and named in the report
// as such, beside the cancelled running one.
func TestStopDeadlineDropsQueuedTasks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, config.Tasks{MaxRunning: 1, Queue: 5}, WithForceGrace(time.Second))
		p.Go(context.Background(), "report.render", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
		time.Sleep(time.Second)
		var ranQueued atomic.Bool
		for _, name := range []string{"mail.a", "mail.b", "mail.c"} {
			p.Go(context.Background(), name, func(context.Context) error { ranQueued.Store(true); return nil })
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		err := p.Stop(ctx)
		if err == nil || !strings.Contains(err.Error(), "cancelled 1 running tasks, all returned; dropped 3 queued") {
			t.Errorf("Stop = %v, want an error counting 1 cancelled and 3 dropped", err)
		}
		synctest.Wait()
		if ranQueued.Load() {
			t.Error("a task queued when the deadline came ran")
		}
		var got []string
		for _, s := range p.Stragglers() {
			got = append(got, s.String())
		}
		want := []string{
			"task report.render (bgwork: cancelled at the stop deadline, then returned), age 3s",
			"task mail.a (bgwork: queued, dropped at the stop deadline before it started), age 2s",
			"task mail.b (bgwork: queued, dropped at the stop deadline before it started), age 2s",
			"task mail.c (bgwork: queued, dropped at the stop deadline before it started), age 2s",
		}
		if !slices.Equal(got, want) {
			t.Errorf("stragglers:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if s := p.Stats(); s.Started != 1 || s.Failed != 1 || s.Dropped != 3 || s.Queued != 0 || s.Running != 0 {
			t.Errorf("stats %+v, want 1 started (and failed), 3 dropped", s)
		}
	})
}

// TestStragglersBeforeTheStopNameQueuedTasks: before the deadline, the report
// names the running tasks and the queued ones, with their ages.
func TestStragglersBeforeTheStopNameQueuedTasks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, config.Tasks{MaxRunning: 1, Queue: 5})
		release := make(chan struct{})
		p.Go(context.Background(), "export.csv", func(context.Context) error { <-release; return nil })
		time.Sleep(1500 * time.Millisecond)
		p.Go(context.Background(), "export.pdf", func(context.Context) error { return nil })
		time.Sleep(500 * time.Millisecond)
		var got []string
		for _, s := range p.Stragglers() {
			got = append(got, s.String())
		}
		want := []string{"task export.csv (bgwork: running), age 2s", "task export.pdf (bgwork: queued), age 500ms"}
		if !slices.Equal(got, want) {
			t.Errorf("Stragglers = %q, want %q", got, want)
		}
		close(release)
		stop(t, p)
	})
}

// TestSweepCountsAndFreesEndedSlots: a sweep keeps the slots of running
// tasks in order, counts the ended ones, and clears them before they are
// reused, unless the stop's deadline forbids reuse.
func TestSweepCountsAndFreesEndedSlots(t *testing.T) {
	for _, reuse := range []bool{true, false} {
		var l slotList
		var counts Stats
		var all []*slot
		for i := range 10 {
			s := slots.Get().(*slot)
			s.name, s.ctx, s.fn = fmt.Sprint(i), &taskContext{}, noop
			all = append(all, s)
			l.add(s, func() int { return 10 }, &counts, reuse)
		}
		for i, o := range map[int]taskState{1: succeeded, 4: failed, 5: panicked, 9: succeeded} {
			all[i].state.Store(uint32(o))
		}
		if live := l.sweep(&counts, reuse); live != 6 {
			t.Errorf("reuse %v: %d live after the sweep, want 6", reuse, live)
		}
		var names []string
		for _, s := range l.slots {
			names = append(names, s.name)
		}
		if want := []string{"0", "2", "3", "6", "7", "8"}; !slices.Equal(names, want) {
			t.Errorf("reuse %v: kept %v, want %v", reuse, names, want)
		}
		if counts.Completed != 2 || counts.Failed != 1 || counts.Panicked != 1 {
			t.Errorf("reuse %v: counted %+v, want 2 completed, 1 failed, 1 panicked", reuse, counts)
		}
		if ended := all[4]; reuse != (ended.ctx == nil && ended.fn == nil && ended.name == "" && ended.load() == running) {
			t.Errorf("reuse %v: an ended slot is %+v", reuse, ended)
		}
	}
}

// TestEndedTasksDoNotPileUp: a busy pool without a limit sweeps the slots of
// ended tasks as it goes, so that it keeps about as many as tasks run, not
// one per task it ran.
func TestEndedTasksDoNotPileUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, config.Tasks{})
		most := 0
		for range 100 {
			for range 50 {
				p.Go(context.Background(), "quick", func(context.Context) error { return nil })
			}
			synctest.Wait() // every task so far has ended
			p.mu.Lock()
			most = max(most, len(p.slots.slots))
			p.mu.Unlock()
		}
		stop(t, p)
		if most > 2*50+minSweep {
			t.Errorf("the pool kept up to %d slots while at most 50 tasks were live, want at most %d", most, 2*50+minSweep)
		}
		if s := p.Stats(); s.Completed != 5000 {
			t.Errorf("%d completed, want 5000", s.Completed)
		}
	})
}

// TestClockIsAtMostATickStale: the pool's clock serves a stored reading
// for at most a tick, then reads the clock again.
func TestClockIsAtMostATickStale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newClock()
		defer c.stop()
		time.Sleep(time.Second)
		if got := c.now(); got != time.Second {
			t.Fatalf("now = %v, want 1s", got)
		}
		time.Sleep(clockTick / 2)
		if got := c.now(); got != time.Second {
			t.Errorf("half a tick later, now = %v, want the stored 1s", got)
		}
		time.Sleep(clockTick)
		if got, want := c.now(), time.Second+3*clockTick/2; got != want {
			t.Errorf("a tick and a half later, now = %v, want %v, read again", got, want)
		}
		time.Sleep(time.Hour) // no submission: the timer is not re-armed
		if got := c.now(); got != time.Hour+time.Second+3*clockTick/2 {
			t.Errorf("after an idle hour, now = %v", got)
		}
	})
}

// TestTasksShareTheContextOfTheirCaller: tasks submitted one after another
// with the same caller's context get the same task context (no allocation
// per task), and a task's context stays its own after the pool reused
// everything else of the task: a context kept past the end of its task
// still has its caller's values, and still follows the pool's cancellation.
func TestTasksShareTheContextOfTheirCaller(t *testing.T) {
	type key struct{}
	for _, cfg := range []config.Tasks{{}, {MaxRunning: 1, Queue: 2000}} {
		p := newPool(t, cfg, WithForceGrace(time.Second))
		hold := make(chan struct{})
		p.Go(context.Background(), "hold", func(context.Context) error { <-hold; return nil })
		got := make(chan context.Context, 3)
		keep := func(ctx context.Context) error { got <- ctx; return nil }
		a := context.WithValue(context.Background(), key{}, "a")
		p.Go(a, "a1", keep) // with a limit of 1: queued behind hold, then run by one worker back to back
		p.Go(a, "a2", keep)
		b := context.WithValue(context.Background(), key{}, "b")
		for range 1000 { // the pool reuses its records many times over
			if err := p.Go(b, "b", func(context.Context) error { return nil }); err != nil {
				t.Fatal(err)
			}
		}
		p.Go(b, "b-kept", keep)
		close(hold)
		var as []context.Context  // a1's and a2's
		var other context.Context // b-kept's
		for range 3 {
			if ctx := <-got; ctx.Value(key{}) == "a" {
				as = append(as, ctx)
			} else {
				other = ctx
			}
		}
		first := as[0]
		if len(as) != 2 || as[0] != as[1] {
			t.Errorf("%+v: two tasks of the same caller's context in a row got different contexts", cfg)
		}
		p.Stats() // sweeps
		if v := first.Value(key{}); v != "a" {
			t.Errorf("%+v: a context kept past its task's end has value %v, want a", cfg, v)
		}
		if v := other.Value(key{}); v != "b" {
			t.Errorf("%+v: value %v, want b", cfg, v)
		}
		p.Go(context.Background(), "until-cancelled", func(ctx context.Context) error { <-ctx.Done(); return nil })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		if err := p.Stop(ctx); err == nil {
			t.Errorf("%+v: Stop = nil with a task running past the deadline", cfg)
		}
		if first.Err() != context.Canceled || context.Cause(first) != ErrStopDeadline {
			t.Errorf("%+v: a kept context after the stop deadline: Err %v, Cause %v", cfg, first.Err(), context.Cause(first))
		}
	}
}

// uncomparableContext is a context whose type cannot be compared with ==:
// sharing contexts must not compare it.
type uncomparableContext struct {
	context.Context
	tags []string
}

func TestContextOfAnUncomparableTypeIsNotShared(t *testing.T) {
	for _, cfg := range []config.Tasks{{}, {MaxRunning: 1, Queue: 10}} {
		p := newPool(t, cfg)
		caller := uncomparableContext{Context: context.Background(), tags: []string{"x"}}
		var ran atomic.Int64
		for range 3 {
			if err := p.Go(caller, "tagged", func(ctx context.Context) error {
				if ctx.Err() == nil {
					ran.Add(1)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		stop(t, p)
		if ran.Load() != 3 {
			t.Errorf("%+v: %d tasks ran, want 3", cfg, ran.Load())
		}
	}
}

// TestGoexitKeepsTheQueueGoing: a task that calls runtime.Goexit takes its
// worker with it; another worker takes over the queue.
func TestGoexitKeepsTheQueueGoing(t *testing.T) {
	for _, cfg := range []config.Tasks{{}, {MaxRunning: 1, Queue: 10}} {
		p := newPool(t, cfg)
		p.Go(context.Background(), "goexit", func(context.Context) error { runtime.Goexit(); return nil })
		var ran atomic.Int64
		for range 5 {
			p.Go(context.Background(), "after", func(context.Context) error { ran.Add(1); return nil })
		}
		stop(t, p)
		if s := p.Stats(); ran.Load() != 5 || s.Panicked != 1 || s.Completed != 5 || s.Running != 0 {
			t.Errorf("%+v: ran %d, stats %+v; want 5 completed and 1 panicked", cfg, ran.Load(), s)
		}
	}
}
