package bgwork

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func newPool(t *testing.T, cfg Settings, opts ...Option) *Pool {
	t.Helper()
	p, err := New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// stop stops p and fails the test if it does not stop cleanly.
func stop(t *testing.T, p *Pool) {
	t.Helper()
	if err := p.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  Settings
		want string
	}{
		{Settings{MaxRunning: -1}, "maxRunning = \"-1\""},
		{Settings{Queue: -1}, "queue = \"-1\""},
		{Settings{WhenFull: "queue"}, "whenFull = \"queue\""},
		{Settings{TaskTimeout: -time.Second}, "taskTimeout = \"-1s\""},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error naming %s", tc.cfg, err, tc.want)
		}
	}
}

func TestGoRunsEveryTaskAndCounts(t *testing.T) {
	for _, limit := range []int{0, 3} {
		p := newPool(t, Settings{MaxRunning: limit})
		var ran atomic.Int64
		for range 1000 {
			if err := p.Go(context.Background(), "count", func(context.Context) error {
				ran.Add(1)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		stop(t, p)
		s := p.Stats()
		if ran.Load() != 1000 || s.Started != 1000 || s.Completed != 1000 || s.Running != 0 || s.Failed+s.Panicked+s.Refused != 0 {
			t.Errorf("limit %d: ran %d, stats %+v; want 1000 started and completed, nothing else", limit, ran.Load(), s)
		}
	}
}

func TestGoRejectsNilFunction(t *testing.T) {
	p := newPool(t, Settings{})
	defer stop(t, p)
	if err := p.Go(context.Background(), "nil", nil); err == nil {
		t.Fatal("Go with a nil function returned nil")
	}
}

func TestTaskContextKeepsValuesDropsCancellation(t *testing.T) {
	p := newPool(t, Settings{})
	type key struct{}
	caller, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "trace-42"))

	proceed := make(chan struct{})
	type seen struct {
		value    any
		err      error
		deadline bool
	}
	got := make(chan seen, 1)
	if err := p.Go(caller, "detached", func(ctx context.Context) error {
		<-proceed
		_, hasDeadline := ctx.Deadline()
		got <- seen{ctx.Value(key{}), ctx.Err(), hasDeadline}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cancel() // the request ends before the task runs its course
	close(proceed)
	s := <-got
	if s.value != "trace-42" {
		t.Errorf("task context value = %v, want the caller's trace-42", s.value)
	}
	if s.err != nil {
		t.Errorf("task context error = %v after the caller's context was cancelled, want nil", s.err)
	}
	if s.deadline {
		t.Error("task context has a deadline; want none without tasks.taskTimeout")
	}
	stop(t, p)
}

func TestStopDeadlineCancelsTaskContextsWithCause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, Settings{}, WithForceGrace(time.Second))
		type key struct{}
		caller := context.WithValue(context.Background(), key{}, "v")
		type result struct {
			err, cause, childErr error
			value                any
		}
		got := make(chan result, 1)
		p.Go(caller, "cooperative", func(ctx context.Context) error {
			child, cancel := context.WithCancel(ctx) // must follow the pool's cancellation
			defer cancel()
			<-child.Done()
			got <- result{ctx.Err(), context.Cause(ctx), child.Err(), ctx.Value(key{})}
			return nil
		})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		err := p.Stop(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Stop = %v, want an error wrapping context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d != 5*time.Second {
			t.Errorf("Stop returned after %v, want 5s: as soon as the cancelled task returned", d)
		}
		r := <-got
		if r.err != context.Canceled || r.cause != ErrStopDeadline || r.childErr != context.Canceled || r.value != "v" {
			t.Errorf("after the stop deadline: Err %v, Cause %v, child Err %v, value %v; want Canceled, ErrStopDeadline, Canceled, v",
				r.err, r.cause, r.childErr, r.value)
		}
	})
}

func TestTaskTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, Settings{TaskTimeout: 2 * time.Second})
		type result struct {
			after      time.Duration
			err, cause error
			deadline   time.Time
		}
		got := make(chan result, 1)
		start := time.Now()
		p.Go(context.Background(), "slow", func(ctx context.Context) error {
			dl, _ := ctx.Deadline()
			<-ctx.Done()
			got <- result{time.Since(start), ctx.Err(), context.Cause(ctx), dl}
			return ctx.Err()
		})
		r := <-got
		if r.after != 2*time.Second || r.err != context.DeadlineExceeded || r.cause != ErrTaskTimeout || !r.deadline.Equal(start.Add(2*time.Second)) {
			t.Errorf("timeout after %v, Err %v, Cause %v, deadline %v; want 2s, DeadlineExceeded, ErrTaskTimeout, start+2s",
				r.after, r.err, r.cause, r.deadline.Sub(start))
		}
		stop(t, p)
		if s := p.Stats(); s.Failed != 1 {
			t.Errorf("Failed = %d, want 1 (the task returned its context's error)", s.Failed)
		}
	})
}

func TestPanicIsRecoveredLoggedAndCounted(t *testing.T) {
	core, logs := observer.New(zapcore.ErrorLevel)
	var hooked error
	var hookedName string
	p := newPool(t, Settings{MaxRunning: 1}, WithLogger(zap.New(core)), WithErrorHandler(func(name string, err error) {
		hookedName, hooked = name, err
	}))
	if err := p.Go(context.Background(), "explode", func(context.Context) error { panicInTask(); return nil }); err != nil {
		t.Fatal(err)
	}
	var ran atomic.Bool
	if err := p.Go(context.Background(), "after", func(context.Context) error { ran.Store(true); return nil }); err != nil {
		t.Fatal(err)
	}
	stop(t, p)
	if !ran.Load() {
		t.Error("the task after the panic did not run: the panic took the worker down")
	}
	s := p.Stats()
	if s.Panicked != 1 || s.Completed != 1 {
		t.Errorf("stats %+v, want 1 panicked and 1 completed", s)
	}
	entries := logs.FilterMessage("task panicked").All()
	if len(entries) != 1 {
		t.Fatalf("%d 'task panicked' log entries, want 1: %v", len(entries), logs.All())
	}
	fields := entries[0].ContextMap()
	if fields["task"] != "explode" || fields["panic"] != "boom" || !strings.Contains(fields["stack"].(string), "panicInTask") {
		t.Errorf("log fields %v; want task=explode, panic=boom and a stack through panicInTask", fields)
	}
	var pe *PanicError
	if hookedName != "explode" || !errors.As(hooked, &pe) || pe.Value != "boom" {
		t.Errorf("error handler got (%q, %v), want (explode, *PanicError boom)", hookedName, hooked)
	}
}

func panicInTask() { panic("boom") }

func TestGoexitInTaskDoesNotHangTheStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, Settings{MaxRunning: 1})
		release := make(chan struct{})
		p.Go(context.Background(), "goexit", func(context.Context) error { <-release; runtime.Goexit(); return nil })
		waiting := make(chan error)
		go func() { waiting <- p.Go(context.Background(), "next", func(context.Context) error { return nil }) }()
		synctest.Wait()
		if s := p.Stats(); s.Waiting != 1 {
			t.Fatalf("Waiting = %d, want the second submitter waiting", s.Waiting)
		}
		close(release)
		if err := <-waiting; err != nil {
			t.Fatalf("the submitter waiting behind the Goexit task got %v", err)
		}
		stop(t, p)
		if s := p.Stats(); s.Panicked != 1 || s.Completed != 1 {
			t.Errorf("stats %+v, want the Goexit counted as panicked and the next task completed", s)
		}
	})
}

func TestErrorIsLoggedAndHandled(t *testing.T) {
	core, logs := observer.New(zapcore.ErrorLevel)
	errWebhook := errors.New("webhook: 503")
	var mu sync.Mutex
	var got []string
	p := newPool(t, Settings{}, WithLogger(zap.New(core)), WithErrorHandler(func(name string, err error) {
		mu.Lock()
		defer mu.Unlock()
		if errors.Is(err, errWebhook) {
			got = append(got, name)
		}
	}))
	p.Go(context.Background(), "webhook.send", func(context.Context) error { return errWebhook })
	stop(t, p)
	if len(got) != 1 || got[0] != "webhook.send" {
		t.Errorf("error handler saw %v, want [webhook.send]", got)
	}
	entries := logs.FilterMessage("task failed").FilterField(zap.String("task", "webhook.send")).All()
	if len(entries) != 1 || entries[0].ContextMap()["error"] != "webhook: 503" {
		t.Errorf("log %v, want one 'task failed' entry with task and error", logs.All())
	}
	if s := p.Stats(); s.Failed != 1 {
		t.Errorf("Failed = %d, want 1", s.Failed)
	}
}

func TestFullFailsFast(t *testing.T) {
	p := newPool(t, Settings{MaxRunning: 2, WhenFull: Fail})
	release := make(chan struct{})
	block := func(context.Context) error { <-release; return nil }
	for range 2 {
		if err := p.Go(context.Background(), "block", block); err != nil {
			t.Fatal(err)
		}
	}
	err := p.Go(context.Background(), "extra", block)
	if !errors.Is(err, ErrFull) || !strings.Contains(err.Error(), `"extra"`) {
		t.Errorf("Go on a full pool = %v, want ErrFull naming the task", err)
	}
	close(release)
	stop(t, p)
	if s := p.Stats(); s.Refused != 1 || s.Started != 2 {
		t.Errorf("stats %+v, want 2 started, 1 refused", s)
	}
}

func TestFullWaitsForASlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, Settings{MaxRunning: 1, WhenFull: Wait})
		start := time.Now()
		p.Go(context.Background(), "first", func(context.Context) error { time.Sleep(time.Second); return nil })
		var secondAt time.Duration
		if err := p.Go(context.Background(), "second", func(context.Context) error {
			secondAt = time.Since(start)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("Go waited %v, want 1s: until the running task returned", d)
		}
		stop(t, p)
		if secondAt != time.Second {
			t.Errorf("second task started at %v, want 1s", secondAt)
		}
	})
}

func TestFullWaitRespectsCallerContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, Settings{MaxRunning: 1, WhenFull: Wait})
		release := make(chan struct{})
		p.Go(context.Background(), "block", func(context.Context) error { <-release; return nil })
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		var ran atomic.Bool
		err := p.Go(ctx, "impatient", func(context.Context) error { ran.Store(true); return nil })
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 100*time.Millisecond {
			t.Errorf("Go = %v after %v, want DeadlineExceeded after 100ms", err, time.Since(start))
		}
		close(release)
		stop(t, p)
		if ran.Load() {
			t.Error("the task whose submitter gave up ran anyway")
		}
		if s := p.Stats(); s.Refused != 1 || s.Started != 1 || s.Waiting != 0 {
			t.Errorf("stats %+v, want 1 started, 1 refused, none waiting", s)
		}
	})
}

func TestGoAfterStopIsRefused(t *testing.T) {
	p := newPool(t, Settings{})
	stop(t, p)
	err := p.Go(context.Background(), "late", func(context.Context) error { return nil })
	if !errors.Is(err, ErrDraining) {
		t.Errorf("Go after Stop = %v, want ErrDraining", err)
	}
	if s := p.Stats(); s.Refused != 1 || s.Started != 0 {
		t.Errorf("stats %+v, want 1 refused, none started", s)
	}
}

func TestStopRefusesWaitingSubmitters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, Settings{MaxRunning: 1, WhenFull: Wait})
		p.Go(context.Background(), "running", func(context.Context) error { time.Sleep(time.Second); return nil })
		refusedErr := make(chan error)
		go func() {
			refusedErr <- p.Go(context.Background(), "waiting", func(context.Context) error { return nil })
		}()
		synctest.Wait() // the submitter waits for the slot
		stopped := make(chan error)
		go func() { stopped <- p.Stop(context.Background()) }()
		if err := <-refusedErr; !errors.Is(err, ErrDraining) {
			t.Errorf("waiting submitter got %v when the stop began, want ErrDraining", err)
		}
		if err := <-stopped; err != nil {
			t.Errorf("Stop = %v", err)
		}
	})
}

func TestStopReturnsWhenTheLastTaskReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, Settings{MaxRunning: 2})
		start := time.Now()
		for i := 1; i <= 3; i++ {
			p.Go(context.Background(), "sleep", func(context.Context) error {
				time.Sleep(time.Duration(i) * 700 * time.Millisecond)
				return nil
			})
		}
		// The third waited for the first: it ends at 0.7s + 2.1s.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := p.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 2800*time.Millisecond {
			t.Errorf("Stop returned at %v, want 2.8s, the moment the last task returned", d)
		}
	})
}

func TestStopDeadlineNamesStragglers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, Settings{}, WithForceGrace(500*time.Millisecond))
		hung := make(chan struct{})
		p.Go(context.Background(), "report.render", func(context.Context) error { <-hung; return nil })
		p.Go(context.Background(), "cache.warm", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
		p.Go(context.Background(), "audit.write", func(context.Context) error { return nil })
		time.Sleep(time.Second)

		if got := p.Stragglers(); len(got) != 2 {
			t.Errorf("before the stop, Stragglers = %v, want the 2 running tasks", got)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start := time.Now()
		err := p.Stop(ctx)
		if d := time.Since(start); d != 2500*time.Millisecond {
			t.Errorf("Stop took %v, want 2.5s: the deadline plus the force grace", d)
		}
		if err == nil || !strings.Contains(err.Error(), "1 still running") {
			t.Errorf("Stop = %v, want an error counting 1 task still running", err)
		}
		got := map[string]string{}
		for _, s := range p.Stragglers() {
			got[s.Name] = s.String()
		}
		if want := "task report.render (bgwork: still running after its context was cancelled), age 3.5s"; got["report.render"] != want {
			t.Errorf("straggler report.render = %q, want %q", got["report.render"], want)
		}
		if want := "task cache.warm (bgwork: cancelled at the stop deadline, then returned), age 3s"; got["cache.warm"] != want {
			t.Errorf("straggler cache.warm = %q, want %q", got["cache.warm"], want)
		}
		if len(got) != 2 {
			t.Errorf("stragglers %v, want exactly report.render and cache.warm", got)
		}
		close(hung)
	})
}

// TestNoGoroutineOutlivesItsTasks: a pool keeps no goroutine waiting for
// work; the next task starts one again.
func TestNoGoroutineOutlivesItsTasks(t *testing.T) {
	before := goleak.IgnoreCurrent()
	for _, cfg := range []Settings{{}, {MaxRunning: 2, Queue: 10}} {
		p := newPool(t, cfg)
		release := make(chan struct{})
		var ended sync.WaitGroup
		for range 12 {
			ended.Add(1)
			if err := p.Go(context.Background(), "block", func(context.Context) error {
				defer ended.Done()
				<-release
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		close(release)
		ended.Wait()
		if err := goleak.Find(before); err != nil {
			t.Errorf("%+v: goroutines left after every task returned, before Stop: %v", cfg, err)
		}
		var ran atomic.Bool
		p.Go(context.Background(), "again", func(context.Context) error { ran.Store(true); return nil })
		stop(t, p)
		if !ran.Load() {
			t.Errorf("%+v: no task ran after the workers exited", cfg)
		}
	}
}
