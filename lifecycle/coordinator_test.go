package lifecycle_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/multierr"

	"github.com/lameduck/lameduck/lifecycle"
)

// stopCfg is a budget with round numbers: 10s total, 1s reserve,
// phases 2s + 3s + 2s + 2s = 9s.
func stopCfg() lifecycle.Settings {
	return lifecycle.Settings{
		Total:        10 * time.Second,
		Reserve:      time.Second,
		PreStopDelay: 2 * time.Second,
		Shutdown:     3 * time.Second,
		HubDrain:     2 * time.Second,
		Wait:         2 * time.Second,
		ForceGrace:   200 * time.Millisecond,
		Margin:       time.Second,
	}
}

// recorder records when steps start and end, in fake time.
type recorder struct {
	mu     sync.Mutex
	t0     time.Time
	events []string
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf("%v %s", time.Since(r.t0), fmt.Sprintf(format, args...)))
}

// sleeper is a step that works for d, or until its context ends.
func sleeper(r *recorder, p lifecycle.Phase, name string, d time.Duration) lifecycle.Step {
	return lifecycle.NewStep(p, name, func(ctx context.Context) error {
		r.add("start %s", name)
		select {
		case <-time.After(d):
			r.add("end %s", name)
			return nil
		case <-ctx.Done():
			r.add("forced %s", name)
			return ctx.Err()
		}
	})
}

func TestPhasesRunInOrderAndStepsOfAPhaseInParallel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := lifecycle.New(stopCfg())
		r := &recorder{t0: time.Now()}
		// Registered out of order on purpose: phases, not registration,
		// decide the order.
		must(t, c.Register(
			sleeper(r, lifecycle.Wait, "pool", 500*time.Millisecond),
			sleeper(r, lifecycle.Shutdown, "http.a", time.Second),
			sleeper(r, lifecycle.Shutdown, "http.b", time.Second),
			sleeper(r, lifecycle.HubDrain, "hub", 250*time.Millisecond),
			sleeper(r, lifecycle.ReadinessOff, "flag", 0),
			sleeper(r, lifecycle.Final, "admin", 0),
		))
		rep, err := c.Stop(context.Background())
		if err != nil {
			t.Fatalf("Stop: %v", err)
		}
		// Sorted within each instant. The times carry the order: the
		// preStop delay takes 2s, both servers stop in parallel in 1s, and
		// each later phase starts when the one before ends.
		want := []string{
			"0s end flag", "0s start flag",
			"2s start http.a", "2s start http.b",
			"3s end http.a", "3s end http.b", "3s start hub",
			"3.25s end hub", "3.25s start pool",
			"3.75s end admin", "3.75s end pool", "3.75s start admin",
		}
		got := sortedWithinInstant(r.events)
		if !slices.Equal(got, want) {
			t.Errorf("events:\n got %q\nwant %q", got, want)
		}
		if rep.Duration != 3750*time.Millisecond {
			t.Errorf("stop took %v, want 3.75s", rep.Duration)
		}
		var phases []lifecycle.Phase
		for _, p := range rep.Phases {
			phases = append(phases, p.Phase)
			if p.Outcome != lifecycle.PhaseCompleted {
				t.Errorf("phase %s: %s, want completed", p.Phase, p.Outcome)
			}
		}
		if !slices.Equal(phases, lifecycle.Phases()) {
			t.Errorf("report phases %v, want %v", phases, lifecycle.Phases())
		}
		if !rep.Clean() {
			t.Errorf("report not clean:\n%s", rep)
		}
	})
}

// sortedWithinInstant sorts the events of each fake instant by text, so that
// the order of goroutines running at the same instant does not matter.
func sortedWithinInstant(events []string) []string {
	out := slices.Clone(events)
	slices.SortStableFunc(out, func(a, b string) int {
		ta, _, _ := strings.Cut(a, " ")
		tb, _, _ := strings.Cut(b, " ")
		da, _ := time.ParseDuration(ta)
		db, _ := time.ParseDuration(tb)
		if da != db {
			return int(da - db)
		}
		return strings.Compare(a, b)
	})
	return out
}

func TestBudgetGivesEachPhaseItsCapAndKeepsTheReserve(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := stopCfg()
		c := lifecycle.New(cfg)
		never := func(p lifecycle.Phase) lifecycle.Step {
			return lifecycle.NewStep(p, "stuck."+p.String(), func(ctx context.Context) error {
				<-ctx.Done() // returns only when forced, having cut its work
				return ctx.Err()
			})
		}
		must(t, c.Register(never(lifecycle.Shutdown), never(lifecycle.HubDrain), never(lifecycle.Wait)))
		rep, err := c.Stop(context.Background())
		if lifecycle.ExitCode(err) != lifecycle.ExitForced {
			t.Fatalf("Stop error %v: want a StopError (exit %d)", err, lifecycle.ExitForced)
		}
		allotted := map[lifecycle.Phase]time.Duration{}
		for _, p := range rep.Phases {
			allotted[p.Phase] = p.Allotted
		}
		want := map[lifecycle.Phase]time.Duration{
			lifecycle.ReadinessOff: 0, // no steps: ends at once, allotted the force grace
			lifecycle.PreStopDelay: 2 * time.Second,
			lifecycle.Shutdown:     3 * time.Second,
			lifecycle.HubDrain:     2 * time.Second,
			lifecycle.Wait:         2 * time.Second,
		}
		for p, d := range want {
			if p == lifecycle.ReadinessOff {
				continue
			}
			if allotted[p] != d {
				t.Errorf("%s allotted %v, want %v", p, allotted[p], d)
			}
		}
		// Every stuck phase is forced at its deadline and its step returns
		// at once: 2s + 3s + 2s + 2s = 9s = total - reserve.
		if rep.Duration != 9*time.Second {
			t.Errorf("stop took %v, want 9s", rep.Duration)
		}
		if rep.Duration > cfg.Total-cfg.Reserve {
			t.Errorf("stop used the reserve: %v > %v", rep.Duration, cfg.Total-cfg.Reserve)
		}
		for _, p := range []lifecycle.Phase{lifecycle.Shutdown, lifecycle.HubDrain, lifecycle.Wait} {
			pr, _ := rep.Phase(p)
			if pr.Outcome != lifecycle.PhaseForced || pr.Steps[0].Outcome != lifecycle.StepForced {
				t.Errorf("%s: phase %s, step %s; want forced, forced", p, pr.Outcome, pr.Steps[0].Outcome)
			}
		}
	})
}

func TestPhaseGetsOnlyWhatIsLeftOfTheBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A caller's deadline of 6s (Fx's stop timeout, say) shrinks the
		// 10s budget: preStop 2s, then shutdown gets min(3s, left - 1s).
		c := lifecycle.New(stopCfg())
		r := &recorder{t0: time.Now()}
		must(t, c.Register(sleeper(r, lifecycle.Shutdown, "http", time.Hour), sleeper(r, lifecycle.Wait, "pool", time.Hour)))
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
		defer cancel()
		rep, err := c.Stop(ctx)
		if err == nil {
			t.Fatal("Stop returned no error although steps were forced")
		}
		end := 6*time.Second - 50*time.Millisecond // the coordinator keeps a margin before the caller's deadline
		if rep.Budget != end {
			t.Errorf("budget %v, want %v", rep.Budget, end)
		}
		if rep.Duration > end {
			t.Errorf("stop took %v, past the caller's deadline minus margin %v", rep.Duration, end)
		}
		sd, _ := rep.Phase(lifecycle.Shutdown)
		// 5.95s budget - 2s preStop - 1s reserve = 2.95s left, less than
		// the 3s cap.
		if sd.Allotted != 2950*time.Millisecond {
			t.Errorf("shutdown allotted %v, want 2.95s", sd.Allotted)
		}
		w, _ := rep.Phase(lifecycle.Wait)
		// After preStop and shutdown 1s is left: all of it is reserve.
		if w.Allotted != 0 || w.Outcome != lifecycle.PhaseForced {
			t.Errorf("wait allotted %v (%s), want 0 and forced", w.Allotted, w.Outcome)
		}
	})
}

func TestStepIgnoringItsContextIsAbandonedAndNamedAndTheStopEndsInBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := stopCfg()
		c := lifecycle.New(cfg)
		release := make(chan struct{})
		stubborn := &reportingStep{run: func(ctx context.Context) error {
			<-release // ignores ctx
			return nil
		}, cut: []lifecycle.Straggler{{Kind: "request", Name: "GET /slow", Detail: "server public", Age: 5 * time.Second}}}
		must(t, c.Register(lifecycle.Step{Phase: lifecycle.Shutdown, Name: "http.public", Stopper: stubborn}))
		r := &recorder{t0: time.Now()}
		must(t, c.Register(sleeper(r, lifecycle.Wait, "pool", 100*time.Millisecond)))
		start := time.Now()
		rep, err := c.Stop(context.Background())
		elapsed := time.Since(start)
		close(release)
		var se *lifecycle.StopError
		if !errors.As(err, &se) {
			t.Fatalf("Stop error %v, want *StopError", err)
		}
		if elapsed > cfg.Total {
			t.Fatalf("stop took %v, past the %v budget", elapsed, cfg.Total)
		}
		sd, _ := rep.Phase(lifecycle.Shutdown)
		if sd.Outcome != lifecycle.PhaseForced || sd.Steps[0].Outcome != lifecycle.StepAbandoned {
			t.Errorf("shutdown %s / step %s, want forced / abandoned", sd.Outcome, sd.Steps[0].Outcome)
		}
		// preStop 2s + shutdown 3s + force grace 0.2s
		if want := 2*time.Second + 3*time.Second + cfg.ForceGrace; sd.Start+sd.Duration != want {
			t.Errorf("shutdown ended at %v, want %v (deadline + force grace)", sd.Start+sd.Duration, want)
		}
		if got := rep.Stragglers(); len(got) != 1 || got[0].Name != "GET /slow" {
			t.Errorf("stragglers %v, want the GET /slow request", got)
		}
		if !strings.Contains(rep.String(), "cut: request GET /slow (server public), age 5s") {
			t.Errorf("report does not name the cut request:\n%s", rep)
		}
		// Later phases still ran.
		if w, _ := rep.Phase(lifecycle.Wait); w.Outcome != lifecycle.PhaseCompleted {
			t.Errorf("wait phase %s after an abandoned step, want completed", w.Outcome)
		}
		if !strings.Contains(se.Error(), "GET /slow") {
			t.Errorf("StopError %q does not name the cut request", se)
		}
	})
}

type reportingStep struct {
	run func(ctx context.Context) error
	cut []lifecycle.Straggler
}

func (s *reportingStep) Stop(ctx context.Context) error    { return s.run(ctx) }
func (s *reportingStep) Stragglers() []lifecycle.Straggler { return s.cut }

func TestPanickingStepIsRecoveredAndLaterPhasesRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := lifecycle.New(stopCfg())
		r := &recorder{t0: time.Now()}
		must(t, c.Register(
			lifecycle.NewStep(lifecycle.HubDrain, "hub.bad", func(context.Context) error { panic("boom") }),
			sleeper(r, lifecycle.HubDrain, "hub.good", 10*time.Millisecond),
			sleeper(r, lifecycle.Wait, "pool", 10*time.Millisecond),
		))
		rep, err := c.Stop(context.Background())
		if lifecycle.ExitCode(err) != lifecycle.ExitForced {
			t.Errorf("exit code %d for a stop with a panicking step, want %d", lifecycle.ExitCode(err), lifecycle.ExitForced)
		}
		hd, _ := rep.Phase(lifecycle.HubDrain)
		outcomes := map[string]lifecycle.StepOutcome{}
		for _, s := range hd.Steps {
			outcomes[s.Name] = s.Outcome
		}
		if outcomes["hub.bad"] != lifecycle.StepPanicked || outcomes["hub.good"] != lifecycle.StepOK {
			t.Errorf("step outcomes %v", outcomes)
		}
		if hd.Outcome != lifecycle.PhaseCompleted {
			t.Errorf("hub-drain %s, want completed (the panic ended the step, not the phase)", hd.Outcome)
		}
		if !slices.Contains(r.events, "2.02s end pool") {
			t.Errorf("wait phase did not run after the panic: %q", r.events)
		}
	})
}

// A second signal skips what is left of the preStop delay, and every phase
// after it gets only the force grace: what finishes in it finishes, the
// rest is forced, and the report says which phases were shortened.
func TestSecondSignalSkipsPreStopDelayThenForcesCurrentPhase(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := lifecycle.New(stopCfg())
		r := &recorder{t0: time.Now()}
		must(t, c.Register(sleeper(r, lifecycle.Shutdown, "http", 100*time.Millisecond),
			sleeper(r, lifecycle.Wait, "pool", time.Second)))
		c.Interrupt("signal terminated")
		if n := c.Signals(); n != 1 {
			t.Errorf("Signals() = %d after the first signal, want 1", n)
		}
		time.Sleep(500 * time.Millisecond) // fake time: half a second into the 2s delay
		c.Interrupt("signal terminated")
		<-c.Done()
		if n := c.Signals(); n != 2 {
			t.Errorf("Signals() = %d after the second signal, want 2", n)
		}
		rep := c.Report()
		pd, _ := rep.Phase(lifecycle.PreStopDelay)
		if pd.Outcome != lifecycle.PhaseCutShort || pd.Duration != 500*time.Millisecond {
			t.Errorf("preStop %s after %v, want cut short after 500ms", pd.Outcome, pd.Duration)
		}
		// The shutdown, allotted the 200ms force grace, drains its 100ms.
		if sd, _ := rep.Phase(lifecycle.Shutdown); sd.Outcome != lifecycle.PhaseCompleted || sd.Duration != 100*time.Millisecond ||
			sd.Allotted != 200*time.Millisecond || !sd.Shortened || !sd.Clean() {
			t.Errorf("shutdown %s in %v of %v (shortened %v), want completed in 100ms of 200ms, shortened", sd.Outcome, sd.Duration, sd.Allotted, sd.Shortened)
		}
		// The wait phase's 1s task does not fit in it: forced at 200ms.
		wp, _ := rep.Phase(lifecycle.Wait)
		if wp.Outcome != lifecycle.PhaseForced || wp.ForcedBy != lifecycle.ForcedByDeadline || wp.ForcedAt != 200*time.Millisecond {
			t.Errorf("wait %s by %q at %v, want forced by its deadline at 200ms", wp.Outcome, wp.ForcedBy, wp.ForcedAt)
		}
		if !strings.Contains(rep.String(), "wait           200ms    forced by its deadline at 200ms (allotted 200ms: the second signal came before it)") {
			t.Errorf("the timeline does not say the wait phase was shortened:\n%s", rep)
		}
		if rep.Trigger != "signal terminated" || rep.Signals != 2 {
			t.Errorf("trigger %q with %d signals, want the signal and 2", rep.Trigger, rep.Signals)
		}
	})

	synctest.Test(t, func(t *testing.T) {
		c := lifecycle.New(stopCfg())
		r := &recorder{t0: time.Now()}
		must(t, c.Register(sleeper(r, lifecycle.Shutdown, "http", time.Minute)))
		c.Interrupt("signal interrupt")
		time.Sleep(2*time.Second + 100*time.Millisecond) // into the shutdown phase
		c.Interrupt("signal interrupt")
		<-c.Done()
		sd, _ := c.Report().Phase(lifecycle.Shutdown)
		if sd.Outcome != lifecycle.PhaseForced || sd.ForcedBy != lifecycle.ForcedBySignal || sd.Duration != 100*time.Millisecond {
			t.Errorf("shutdown %s by %q after %v, want forced after 100ms by the second signal", sd.Outcome, sd.ForcedBy, sd.Duration)
		}
		if !strings.Contains(c.Report().String(), "shutdown       100ms    forced by the second signal at 100ms") {
			t.Errorf("the timeline does not say the second signal forced the shutdown:\n%s", c.Report())
		}
		if sd.Steps[0].Outcome != lifecycle.StepForced {
			t.Errorf("step %s, want forced", sd.Steps[0].Outcome)
		}
	})
}

func TestSecondSignalDuringReadinessOffSkipsTheDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := lifecycle.New(stopCfg())
		r := &recorder{t0: time.Now()}
		// A readiness-off step that takes a moment, so that the second
		// signal lands in that phase: it is meant for the delay after it.
		must(t, c.Register(sleeper(r, lifecycle.ReadinessOff, "flag", 10*time.Millisecond)))
		c.Interrupt("signal terminated")
		time.Sleep(5 * time.Millisecond)
		c.Interrupt("signal terminated")
		<-c.Done()
		rep := c.Report()
		ro, _ := rep.Phase(lifecycle.ReadinessOff)
		pd, _ := rep.Phase(lifecycle.PreStopDelay)
		if ro.Outcome != lifecycle.PhaseCompleted {
			t.Errorf("readiness-off %s, want completed: a second signal must not force it", ro.Outcome)
		}
		if pd.Outcome != lifecycle.PhaseCutShort || pd.Duration != 0 {
			t.Errorf("preStop %s after %v, want cut short at once", pd.Outcome, pd.Duration)
		}
		if !rep.Clean() {
			t.Errorf("report not clean:\n%s", rep)
		}
	})
}

// Two signals a moment apart (coreutils timeout signals the process and
// its group) on an idle service: the second forces the phase that runs,
// its steps have nothing left to cut and return nil, and the stop is clean.
func TestTwoSignalsOnAnIdleServiceStopCleanly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := stopCfg()
		cfg.PreStopDelay = 0
		c := lifecycle.New(cfg)
		entered := make(chan struct{})
		must(t, c.Register(lifecycle.NewStep(lifecycle.Shutdown, "http.idle", func(ctx context.Context) error {
			close(entered)
			<-ctx.Done() // an idle server: nothing to wait for but its own listener
			return nil
		})))
		c.Interrupt("signal terminated")
		<-entered
		c.Interrupt("signal terminated")
		<-c.Done()
		rep := c.Report()
		if !rep.Clean() || lifecycle.ExitCode(stopErr(rep)) != lifecycle.ExitClean {
			t.Errorf("a stop that cut nothing is not clean:\n%s", rep)
		}
		if sd, _ := rep.Phase(lifecycle.Shutdown); sd.ForcedBy != lifecycle.ForcedBySignal {
			t.Errorf("shutdown forced by %q, want the second signal", sd.ForcedBy)
		}
	})
}

// stopErr is the error Coordinator.Stop returns for rep.
func stopErr(rep *lifecycle.StopReport) error {
	if rep.Clean() {
		return nil
	}
	return &lifecycle.StopError{Report: rep}
}

func TestThirdSignalExitsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		exited := make(chan int, 1)
		c := lifecycle.New(stopCfg(), lifecycle.WithExit(func(code int) { exited <- code }))
		release := make(chan struct{})
		must(t, c.Register(lifecycle.NewStep(lifecycle.Shutdown, "stuck", func(context.Context) error {
			<-release
			return nil
		})))
		c.Interrupt("signal terminated")
		c.Interrupt("signal terminated") // skips the delay
		time.Sleep(time.Second)
		c.Interrupt("signal terminated")
		select {
		case code := <-exited:
			if code != lifecycle.ExitAborted {
				t.Errorf("exit code %d, want %d", code, lifecycle.ExitAborted)
			}
		default:
			t.Fatal("third signal did not exit")
		}
		close(release)
		<-c.Done()
	})
}

func TestStopIsIdempotentAndConcurrentCallersShareTheReport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := stopCfg()
		cfg.PreStopDelay = 0
		c := lifecycle.New(cfg)
		r := &recorder{t0: time.Now()}
		must(t, c.Register(sleeper(r, lifecycle.Shutdown, "http", time.Second)))
		reports := make(chan *lifecycle.StopReport, 3)
		for range 3 {
			go func() {
				rep, _ := c.Stop(context.Background())
				reports <- rep
			}()
		}
		first, second, third := <-reports, <-reports, <-reports
		if second != first || third != first {
			t.Error("concurrent Stop calls returned different reports")
		}
		if n := strings.Count(strings.Join(r.events, "\n"), "start http"); n != 1 {
			t.Errorf("step ran %d times, want once", n)
		}
		if err := c.Register(sleeper(r, lifecycle.Wait, "late", 0)); err == nil {
			t.Error("Register after the stop began: no error")
		}
	})
}

func TestRegisterRejectsBadSteps(t *testing.T) {
	c := lifecycle.New(stopCfg())
	noop := func(context.Context) error { return nil }
	for _, s := range []lifecycle.Step{
		lifecycle.NewStep(lifecycle.Shutdown, "", noop),
		lifecycle.NewStep(lifecycle.Phase(42), "x", noop),
		{Phase: lifecycle.Wait, Name: "nil"},
	} {
		if err := c.Register(s); err == nil {
			t.Errorf("Register(%+v): no error", s)
		}
	}
}

func TestObserversSeeEveryPhase(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var seen []string
		obs := lifecycle.ObserverFunc(func(e lifecycle.Event) {
			mu.Lock()
			defer mu.Unlock()
			if e.Trigger != lifecycle.TriggerStopCalled || e.Budget != stopCfg().Total || e.Time.IsZero() {
				t.Errorf("event %v: trigger %q, budget %v, time %v", e.Kind, e.Trigger, e.Budget, e.Time)
			}
			switch e.Kind {
			case lifecycle.StopBegan:
				seen = append(seen, "began")
			case lifecycle.PhaseStarted:
				seen = append(seen, "start "+e.Phase.String())
			case lifecycle.PhaseEnded:
				seen = append(seen, "end "+e.PhaseReport.Phase.String())
			case lifecycle.StopEnded:
				seen = append(seen, fmt.Sprintf("stop clean=%v", e.Report.Clean()))
			}
		})
		c := lifecycle.New(stopCfg(), lifecycle.WithObservers(obs))
		_, _ = c.Stop(context.Background())
		want := []string{"began"}
		for _, p := range lifecycle.Phases() {
			want = append(want, "start "+p.String(), "end "+p.String())
		}
		want = append(want, "stop clean=true")
		if !slices.Equal(seen, want) {
			t.Errorf("events %q, want %q", seen, want)
		}
	})
}

func TestForceDeadlineIsPhaseDeadlinePlusGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := stopCfg()
		cfg.PreStopDelay = 0
		c := lifecycle.New(cfg)
		var dl, force time.Time
		start := time.Now()
		must(t, c.Register(lifecycle.NewStep(lifecycle.Shutdown, "probe", func(ctx context.Context) error {
			dl, _ = ctx.Deadline()
			force, _ = lifecycle.ForceDeadline(ctx)
			return nil
		})))
		_, _ = c.Stop(context.Background())
		if got := dl.Sub(start); got != cfg.Shutdown {
			t.Errorf("step deadline %v after start, want %v", got, cfg.Shutdown)
		}
		if got := force.Sub(dl); got != cfg.ForceGrace {
			t.Errorf("force deadline %v after the phase deadline, want %v", got, cfg.ForceGrace)
		}
	})
}

func TestReportStringIsATimeline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := lifecycle.New(stopCfg())
		r := &recorder{t0: time.Now()}
		must(t, c.Register(sleeper(r, lifecycle.Shutdown, "http.public", 310*time.Millisecond)))
		rep, _ := c.Stop(context.Background())
		want := `stop (Stop called): clean in 2.31s of a 10s budget
  +0s       readiness-off  0s       completed
  +0s       prestop-delay  2s       completed
  +2s       shutdown       310ms    completed
  +2.31s    hub-drain      0s       completed
  +2.31s    wait           0s       completed
  +2.31s    final          0s       completed`
		if got := rep.String(); got != want {
			t.Errorf("String():\n%s\nwant:\n%s", got, want)
		}
	})
}

func TestExitCode(t *testing.T) {
	se := &lifecycle.StopError{Report: &lifecycle.StopReport{}}
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, lifecycle.ExitClean},
		{se, lifecycle.ExitForced},
		{fmt.Errorf("fx: %w", se), lifecycle.ExitForced},
		{multierr.Combine(errors.New("db close"), se), lifecycle.ExitForced},
		{errors.New("other"), 1},
	} {
		if got := lifecycle.ExitCode(tc.err); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var errDisk = errors.New("disk full")

// A stop that was not clean returns a StopError through which errors.Is and
// errors.As reach every step's error; in JSON a step's error is its
// message.
func TestStopErrorKeepsStepErrorsAsValues(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := stopCfg()
		cfg.PreStopDelay = 0
		c := lifecycle.New(cfg)
		must(t, c.Register(
			lifecycle.NewStep(lifecycle.Shutdown, "flush", func(context.Context) error { return fmt.Errorf("flush: %w", errDisk) }),
			lifecycle.NewStep(lifecycle.Wait, "boom", func(context.Context) error { panic("boom") }),
		))
		rep, err := c.Stop(context.Background())
		var se *lifecycle.StopError
		if !errors.As(err, &se) || se.Report != rep {
			t.Fatalf("Stop error %v, want a *StopError with the report", err)
		}
		if !errors.Is(err, errDisk) {
			t.Errorf("errors.Is(%v, errDisk) = false: the step's error is lost", err)
		}
		var pe *lifecycle.PanicError
		if !errors.As(err, &pe) || pe.Step != "boom" || pe.Value != "boom" {
			t.Errorf("errors.As PanicError: %+v", pe)
		}
		sd, _ := rep.Phase(lifecycle.Shutdown)
		b, jerr := json.Marshal(sd.Steps[0])
		if jerr != nil || !strings.Contains(string(b), `"Err":"flush: disk full"`) {
			t.Errorf("JSON of a step report: %s %v, want Err as its message", b, jerr)
		}
		ok, _ := json.Marshal(lifecycle.StepReport{Name: "fine", Outcome: lifecycle.StepOK})
		if strings.Contains(string(ok), "Err") {
			t.Errorf("JSON of a clean step report has an Err: %s", ok)
		}
	})
}

// Draining is closed when the shutdown phase begins, not before: during the
// preStop delay streams go on as usual.
func TestDrainingBeginsWithTheShutdownPhase(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := lifecycle.New(stopCfg())
		var atDelay, atShutdown bool
		isClosed := func(ch <-chan struct{}) bool {
			select {
			case <-ch:
				return true
			default:
				return false
			}
		}
		must(t, c.Register(
			lifecycle.NewStep(lifecycle.PreStopDelay, "probe.delay", func(context.Context) error { atDelay = isClosed(c.Draining()); return nil }),
			lifecycle.NewStep(lifecycle.Shutdown, "probe.shutdown", func(context.Context) error { atShutdown = isClosed(c.Draining()); return nil }),
		))
		_, _ = c.Stop(context.Background())
		if atDelay || !atShutdown {
			t.Errorf("Draining closed in the preStop delay: %v, in the shutdown phase: %v; want false, true", atDelay, atShutdown)
		}
	})
}

// SpreadWindow keeps the spread to half of what the phase has left.
func TestSpreadWindowFitsThePhase(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
		defer cancel()
		if got := lifecycle.SpreadWindow(ctx, 10*time.Second); got != 2*time.Second {
			t.Errorf("SpreadWindow(10s) with 4s left = %v, want 2s", got)
		}
		if got := lifecycle.SpreadWindow(ctx, time.Second); got != time.Second {
			t.Errorf("SpreadWindow(1s) with 4s left = %v, want 1s", got)
		}
		if got := lifecycle.SpreadWindow(context.Background(), time.Second); got != time.Second {
			t.Errorf("SpreadWindow(1s) without a deadline = %v, want 1s", got)
		}
	})
}

// A step learns why its context ended: the phase deadline
// (DeadlineExceeded, cause ErrPhaseDeadline) or a second signal (Canceled,
// cause ErrSecondSignal), every time the same.
func TestStepContextSaysWhyItEnded(t *testing.T) {
	for _, signal := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			cfg := stopCfg()
			cfg.PreStopDelay = 0
			c := lifecycle.New(cfg)
			entered := make(chan struct{})
			var err, cause error
			must(t, c.Register(lifecycle.NewStep(lifecycle.Shutdown, "probe", func(ctx context.Context) error {
				close(entered)
				<-ctx.Done()
				err, cause = ctx.Err(), context.Cause(ctx)
				return nil
			})))
			c.Interrupt("signal terminated")
			<-entered
			if signal {
				c.Interrupt("signal terminated")
			}
			<-c.Done()
			wantErr, wantCause := context.DeadlineExceeded, lifecycle.ErrPhaseDeadline
			if signal {
				wantErr, wantCause = context.Canceled, lifecycle.ErrSecondSignal
			}
			if err != wantErr || cause != wantCause {
				t.Errorf("second signal %v: ctx.Err() %v, cause %v; want %v, %v", signal, err, cause, wantErr, wantCause)
			}
		})
	}
}
