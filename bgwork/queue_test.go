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
	"weak"
)

// TestQueueTakesTasksBeyondMaxRunning: with maxRunning 2 and queue 3, Go
// takes five blocking tasks without blocking the submitter; the sixth finds
// the pool full.
func TestQueueTakesTasksBeyondMaxRunning(t *testing.T) {
	p := newPool(t, Settings{MaxRunning: 2, Queue: 3, WhenFull: Fail})
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
	p := newPool(t, Settings{MaxRunning: 1, Queue: 20})
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
		p := newPool(t, Settings{MaxRunning: 1, Queue: 1, WhenFull: Wait})
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
		p := newPool(t, Settings{MaxRunning: 2, Queue: 10})
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
		p := newPool(t, Settings{MaxRunning: 1, Queue: 5}, WithForceGrace(time.Second))
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
		p := newPool(t, Settings{MaxRunning: 1, Queue: 5})
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

// TestEachTaskGetsItsCallersValues: tasks of different callers, interleaved
// and many (with a limit: queued, then run back to back by one goroutine),
// each see the values of their own caller's context, in a context that
// neither the caller's cancellation nor the task's end cancels.
func TestEachTaskGetsItsCallersValues(t *testing.T) {
	type key struct{}
	for _, cfg := range []Settings{{}, {MaxRunning: 1, Queue: 2000}} {
		p := newPool(t, cfg)
		hold := make(chan struct{})
		p.Go(context.Background(), "hold", func(context.Context) error { <-hold; return nil })
		var wrong atomic.Int64
		kept := make(chan context.Context, 1)
		for i := range 1000 {
			caller, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, i))
			err := p.Go(caller, "value", func(ctx context.Context) error {
				if ctx.Value(key{}) != i || ctx.Err() != nil {
					wrong.Add(1)
				}
				if i == 0 {
					kept <- ctx
				}
				return nil
			})
			cancel() // the request ends before its task runs
			if err != nil {
				t.Fatal(err)
			}
		}
		close(hold)
		stop(t, p)
		if n := wrong.Load(); n != 0 {
			t.Errorf("%+v: %d tasks saw another caller's value or a cancelled context", cfg, n)
		}
		ctx := <-kept // the pool cancels a task's context only at the stop's deadline or the task's timeout
		if ctx.Value(key{}) != 0 || ctx.Err() != nil {
			t.Errorf("%+v: a context kept past its task and a clean stop: value %v, Err %v; want 0, nil", cfg, ctx.Value(key{}), ctx.Err())
		}
	}
}

// TestPoolLetsGoOfEndedTasks: once a task ended, the pool keeps nothing
// that its function or its caller's context held (a pool lives as long as
// the process), with and without a queue.
func TestPoolLetsGoOfEndedTasks(t *testing.T) {
	for _, cfg := range []Settings{{}, {MaxRunning: 1, Queue: 100}, {MaxRunning: 1, WhenFull: Wait}} {
		synctest.Test(t, func(t *testing.T) {
			p := newPool(t, cfg)
			hold := make(chan struct{})
			p.Go(context.Background(), "hold", func(context.Context) error { <-hold; return nil })
			held := make(chan weak.Pointer[payload], 50)
			var submitted sync.WaitGroup
			for range 50 {
				submitted.Go(func() { held <- submitHolding(t, p) })
			}
			synctest.Wait() // the tasks are running, queued, or their submitters wait for room
			close(hold)
			submitted.Wait()
			close(held)
			synctest.Wait() // every task ended and its goroutine exited
			runtime.GC()
			runtime.GC()
			alive := 0
			for w := range held {
				if w.Value() != nil {
					alive++
				}
			}
			if alive > 0 {
				t.Errorf("%+v: the pool keeps what %d of 50 ended tasks held", cfg, alive)
			}
			stop(t, p)
		})
	}
}

type payload [1 << 10]byte

type payloadKey struct{}

// submitHolding submits a task whose function and caller's context hold a
// payload, and returns a weak pointer to it.
//
//go:noinline
func submitHolding(t *testing.T, p *Pool) weak.Pointer[payload] {
	data := new(payload)
	ctx := context.WithValue(context.Background(), payloadKey{}, data)
	if err := p.Go(ctx, "hold", func(context.Context) error { data[0]++; return nil }); err != nil {
		t.Error(err)
	}
	return weak.Make(data)
}

// uncomparableContext is a context whose type cannot be compared with ==:
// the pool must not compare it.
type uncomparableContext struct {
	context.Context
	tags []string
}

func TestContextOfAnUncomparableTypeIsNotShared(t *testing.T) {
	for _, cfg := range []Settings{{}, {MaxRunning: 1, Queue: 10}} {
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
	for _, cfg := range []Settings{{}, {MaxRunning: 1, Queue: 10}} {
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
