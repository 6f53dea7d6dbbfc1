package lameducktest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/bgwork"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lameducktest"
	"github.com/lameduck/lameduck/lifecycle"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// TestStartServesOnLoopbackPortZero: every server, the admin server
// included, listens on 127.0.0.1 on a port of its own; routes and probes
// answer; the stop is clean and its report is returned again on a second
// Stop.
func TestStartServesOnLoopbackPortZero(t *testing.T) {
	t.Parallel()
	cfg := lameducktest.Config()
	cfg.Servers["internal"] = httpmodule.DefaultServerSettings(lameducktest.Loopback)
	app := lameducktest.StartWith(t, cfg,
		fx.Provide(lameduck.AsRoute(hello)),
		fx.Provide(lameduck.AsRoute(func() httpmodule.Route {
			return httpmodule.Route{Server: "internal", Pattern: "GET /internal", Handler: http.HandlerFunc(
				func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "inside") })}
		})),
	)
	ports := map[string]bool{}
	for _, name := range []string{"public", "internal", httpmodule.AdminServer} {
		host, port, err := net.SplitHostPort(app.Addr(name))
		if err != nil || host != "127.0.0.1" || port == "0" || ports[port] {
			t.Fatalf("server %s listens on %q: want 127.0.0.1 and a port of its own", name, app.Addr(name))
		}
		ports[port] = true
	}
	if code, body := get(t, app.URL("public")+"/hello"); code != 200 || body != "hello" {
		t.Fatalf("GET /hello: %d %q", code, body)
	}
	if code, body := get(t, app.URL("internal")+"/internal"); code != 200 || body != "inside" {
		t.Fatalf("GET /internal on the internal server: %d %q", code, body)
	}
	if code, _ := get(t, app.URL("admin")+"/readyz"); code != 200 {
		t.Fatalf("GET /readyz before the stop: %d, want 200", code)
	}
	rep := app.Stop()
	lameducktest.RequireClean(t, rep)
	if rep.Trigger != "fx stop" {
		t.Errorf("trigger %q, want %q", rep.Trigger, "fx stop")
	}
	if again := app.Stop(); again != rep {
		t.Errorf("a second Stop returned another report")
	}
	if app.Err() != nil {
		t.Errorf("Err: %v", app.Err())
	}
	if _, err := http.Get(app.URL("admin") + "/livez"); err == nil {
		t.Errorf("the admin server still answers after the stop")
	}
}

// TestInterruptKeepsServingTheRequestInFlight: after Interrupt, readiness
// is off at once, the request in flight finishes with 200, a background task
// that it started is waited for, and the report names the signal.
func TestInterruptKeepsServingTheRequestInFlight(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	var taskDone sync.WaitGroup
	taskDone.Add(1)
	var finished bool
	slow := func(pool *bgwork.Pool) httpmodule.Route {
		return httpmodule.Route{Pattern: "GET /slow", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			<-release
			err := pool.Go(r.Context(), "audit", func(ctx context.Context) error {
				defer taskDone.Done()
				select {
				case <-time.After(100 * time.Millisecond):
					finished = true
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
			if err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			fmt.Fprint(w, "done")
		})}
	}
	app := lameducktest.Start(t, fx.Provide(lameduck.AsRoute(slow)))
	status := make(chan int, 1)
	go func() {
		resp, err := http.Get(app.URL("public") + "/slow")
		if err != nil {
			status <- 0
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	<-entered
	app.Interrupt()
	<-app.Stopping()
	if code, _ := get(t, app.URL("admin")+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz once the stop began: %d, want 503", code)
	}
	close(release)
	if code := <-status; code != 200 {
		t.Errorf("GET /slow in flight during the stop: %d, want 200", code)
	}
	rep := app.Stop()
	lameducktest.RequireClean(t, rep)
	taskDone.Wait()
	if !finished {
		t.Errorf("the task started during the shutdown phase was not waited for")
	}
	if rep.Trigger != "signal terminated" || rep.Signals != 1 {
		t.Errorf("trigger %q with %d signals, want \"signal terminated\" and 1", rep.Trigger, rep.Signals)
	}
}

// TestPopulateGivesTheTestTheAppsValues: fx.Populate among the options gets
// the app's values, here the task pool.
func TestPopulateGivesTheTestTheAppsValues(t *testing.T) {
	t.Parallel()
	var pool *bgwork.Pool
	app := lameducktest.Start(t, fx.Populate(&pool))
	ran := make(chan struct{})
	if err := pool.Go(context.Background(), "probe", func(context.Context) error { close(ran); return nil }); err != nil {
		t.Fatal(err)
	}
	<-ran
	lameducktest.RequireClean(t, app.Stop())
	if got := pool.Stats(); got.Completed != 1 {
		t.Errorf("pool stats %+v, want 1 completed", got)
	}
}

// recorder is a testing.TB that records failures instead of failing the
// test that runs it, to test what lameducktest reports.
type recorder struct {
	testing.TB // nil: methods not overridden here are never called
	t          *testing.T

	mu       sync.Mutex
	errors   []string
	fatal    bool
	cleanups []func()
}

func newRecorder(t *testing.T) *recorder { return &recorder{t: t} }

func (r *recorder) Helper()                 {}
func (r *recorder) Name() string            { return r.t.Name() }
func (r *recorder) Logf(f string, a ...any) { r.t.Logf(f, a...) }
func (r *recorder) Log(a ...any)            { r.t.Log(a...) }
func (r *recorder) Cleanup(f func())        { r.mu.Lock(); r.cleanups = append(r.cleanups, f); r.mu.Unlock() }
func (r *recorder) Fail()                   { r.Errorf("Fail called") }
func (r *recorder) Error(a ...any)          { r.Errorf("%s", fmt.Sprint(a...)) }
func (r *recorder) Fatal(a ...any)          { r.Fatalf("%s", fmt.Sprint(a...)) }
func (r *recorder) FailNow()                { r.Fatalf("FailNow called") }
func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.errors) > 0
}
func (r *recorder) Errorf(f string, a ...any) {
	r.mu.Lock()
	r.errors = append(r.errors, fmt.Sprintf(f, a...))
	r.mu.Unlock()
}
func (r *recorder) Fatalf(f string, a ...any) {
	r.Errorf(f, a...)
	r.mu.Lock()
	r.fatal = true
	r.mu.Unlock()
	runtime.Goexit()
}

// run runs f as a test body on its own goroutine, as the testing package
// does, then the cleanups, and returns what was reported.
func (r *recorder) run(f func(tb testing.TB)) string {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		cleanup := make(chan struct{})
		go func() {
			defer close(cleanup)
			r.cleanups[i]()
		}()
		<-cleanup
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.errors, "\n")
}

// TestStartFailsTheTestOnABadConfig: a configuration problem fails the test
// at once, naming the key.
func TestStartFailsTheTestOnABadConfig(t *testing.T) {
	t.Parallel()
	r := newRecorder(t)
	got := r.run(func(tb testing.TB) {
		cfg := lameducktest.Config()
		cfg.Stop.Total = 0
		lameducktest.StartWith(tb, cfg)
		tb.Errorf("StartWith returned")
	})
	if !r.fatal || !strings.Contains(got, "stop.total") || strings.Contains(got, "StartWith returned") {
		t.Fatalf("reported %q: want a fatal error naming stop.total", got)
	}
}

// TestAddrFailsTheTestForAnUnknownServer: asking for a server the app does
// not have fails the test and lists the servers it has.
func TestAddrFailsTheTestForAnUnknownServer(t *testing.T) {
	t.Parallel()
	r := newRecorder(t)
	got := r.run(func(tb testing.TB) {
		app := lameducktest.Start(tb)
		app.Addr("pubilc")
	})
	if !r.fatal || !strings.Contains(got, `"pubilc"`) || !strings.Contains(got, "[public]") {
		t.Fatalf("reported %q: want a fatal error naming the server and the ones there are", got)
	}
}

// TestCleanupFailsATestThatLeavesARequestRunning: a test that ends with a
// request still in flight, whose handler ignores its context, is failed by
// the stop in t.Cleanup, which names the request.
func TestCleanupFailsATestThatLeavesARequestRunning(t *testing.T) {
	t.Parallel()
	entered, release, returned := make(chan struct{}), make(chan struct{}), make(chan struct{})
	stuck := func() httpmodule.Route {
		return httpmodule.Route{Pattern: "GET /stuck", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer close(returned)
			close(entered)
			<-release
		})}
	}
	clientDone := make(chan struct{})
	r := newRecorder(t)
	got := r.run(func(tb testing.TB) {
		cfg := lameducktest.Config()
		cfg.Stop.Shutdown = 100 * time.Millisecond
		app := lameducktest.StartWith(tb, cfg, fx.Provide(lameduck.AsRoute(stuck)))
		go func() {
			defer close(clientDone)
			if resp, err := http.Get(app.URL("public") + "/stuck"); err == nil {
				resp.Body.Close()
			}
		}()
		<-entered
	})
	close(release)
	<-returned
	<-clientDone
	if r.fatal || !strings.Contains(got, "at the end of the test") || !strings.Contains(got, "request GET /stuck") {
		t.Fatalf("reported %q: want an error from the cleanup naming the request GET /stuck", got)
	}
}

// TestThirdInterruptFailsTheTest: a third stop signal would exit the test
// binary, so Interrupt refuses it.
func TestThirdInterruptFailsTheTest(t *testing.T) {
	t.Parallel()
	r := newRecorder(t)
	got := r.run(func(tb testing.TB) {
		app := lameducktest.Start(tb)
		app.Interrupt()
		app.Interrupt()
		app.Interrupt()
	})
	if !r.fatal || !strings.Contains(got, "third stop signal") {
		t.Fatalf("reported %q: want a fatal error about the third signal", got)
	}
}

// TestVerifyNamesEveryProblem: Verify accepts a clean report and lists
// each problem of a bad one: phases missing, out of order or overlapping,
// over budget, forced, failed steps, stragglers.
func TestVerifyNamesEveryProblem(t *testing.T) {
	t.Parallel()
	clean := func() *lifecycle.StopReport {
		rep := &lifecycle.StopReport{Trigger: "test", Budget: 10 * time.Second, Duration: 2 * time.Second}
		at := time.Duration(0)
		for _, p := range lifecycle.Phases() {
			rep.Phases = append(rep.Phases, lifecycle.PhaseReport{Phase: p, Start: at, Duration: 300 * time.Millisecond,
				Outcome: lifecycle.PhaseCompleted, Steps: []lifecycle.StepReport{{Name: "step." + p.String(), Outcome: lifecycle.StepOK}}})
			at += 300 * time.Millisecond
		}
		return rep
	}
	if err := lameducktest.Verify(clean()); err != nil {
		t.Fatalf("a clean report: %v", err)
	}
	for _, tc := range []struct {
		name  string
		spoil func(r *lifecycle.StopReport)
		want  []string
	}{
		{"no report", nil, []string{"no stop report"}},
		{"a phase missing", func(r *lifecycle.StopReport) { r.Phases = r.Phases[:5] }, []string{"5 phases ran, want 6"}},
		{"phases swapped", func(r *lifecycle.StopReport) {
			r.Phases[2].Phase, r.Phases[3].Phase = r.Phases[3].Phase, r.Phases[2].Phase
		}, []string{"phase 3 is hub-drain, want shutdown", "phase 4 is shutdown, want hub-drain"}},
		{"phases overlap", func(r *lifecycle.StopReport) { r.Phases[4].Start -= time.Millisecond }, []string{"wait started at +1.199s, before hub-drain ended at +1.2s"}},
		{"over budget", func(r *lifecycle.StopReport) { r.Duration = 11 * time.Second }, []string{"took 11s, more than its budget of 10s"}},
		{"forced with a straggler", func(r *lifecycle.StopReport) {
			r.Phases[3].Outcome, r.Phases[3].Allotted = lifecycle.PhaseForced, 5*time.Second
			r.Phases[3].Steps[0] = lifecycle.StepReport{Name: "ws.feed", Outcome: lifecycle.StepForced, Err: errors.New("1 connection force-closed"),
				Stragglers: []lifecycle.Straggler{{Kind: "websocket", Name: "feed", Detail: "remote 10.0.0.7:51234", Age: time.Minute}}}
		}, []string{"step ws.feed (hub-drain) forced: 1 connection force-closed",
			"step ws.feed (hub-drain) cut off websocket feed"}},
		{"a step failed", func(r *lifecycle.StopReport) {
			r.Phases[4].Steps[0].Outcome, r.Phases[4].Steps[0].Err = lifecycle.StepFailed, errors.New("boom")
		}, []string{"step step.wait (wait) failed: boom"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rep *lifecycle.StopReport
			if tc.spoil != nil {
				rep = clean()
				tc.spoil(rep)
			}
			err := lameducktest.Verify(rep)
			if err == nil {
				t.Fatal("Verify accepted the report")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}
