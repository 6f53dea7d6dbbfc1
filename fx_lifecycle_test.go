package lameduck_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/lifecycle"
)

// database stands for a resource that handlers and tasks use: it must not
// close while any of them still runs.
type database struct {
	inFlight atomic.Int32 // requests and tasks using it
	closed   atomic.Bool
	closeErr error
}

func (db *database) use() (done func()) {
	db.inFlight.Add(1)
	return func() { db.inFlight.Add(-1) }
}

func newDatabase(lc fx.Lifecycle) *database {
	db := &database{}
	lc.Append(fx.Hook{OnStop: func(context.Context) error {
		if n := db.inFlight.Load(); n != 0 {
			db.closeErr = fmt.Errorf("database closed with %d users still running", n)
			return db.closeErr
		}
		db.closed.Store(true)
		return nil
	}})
	return db
}

// fakeServer stands for an HTTP server whose in-flight request uses the
// database until the shutdown phase runs, and whose handler spawned a task
// that uses it until the wait phase runs: both end only inside the
// coordinator's stop, so the database survives only if it closes after it.
type fakeServer struct {
	request  chan struct{} // closed when the in-flight request ends
	task     chan struct{} // closed when the spawned task ends
	reqDone  func()
	taskDone func()
	finished atomic.Int32
}

func newFakeServer(db *database) *fakeServer {
	return &fakeServer{request: make(chan struct{}), task: make(chan struct{}), reqDone: db.use(), taskDone: db.use()}
}

// observe ends the request when the shutdown phase begins and the task
// when the wait phase begins.
func (s *fakeServer) observe() lifecycle.Observer {
	return lifecycle.ObserverFunc(func(e lifecycle.Event) {
		if e.Kind != lifecycle.PhaseStarted {
			return
		}
		switch e.Phase {
		case lifecycle.Shutdown:
			s.reqDone()
			s.finished.Add(1)
			close(s.request)
		case lifecycle.Wait:
			s.taskDone()
			s.finished.Add(1)
			close(s.task)
		}
	})
}

func (s *fakeServer) steps() []lifecycle.Step {
	wait := func(ch chan struct{}) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			select {
			case <-ch:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return []lifecycle.Step{
		lifecycle.NewStep(lifecycle.Shutdown, "http.fake", wait(s.request)),
		lifecycle.NewStep(lifecycle.Wait, "tasks.fake", wait(s.task)),
	}
}

func TestCoordinatorStopsBeforeTheResourcesItsStepsUse(t *testing.T) {
	var srv *fakeServer
	var db *database
	var coord *lifecycle.Coordinator
	app := fx.New(
		// The resource is provided first, so its OnStart comes first and
		// its OnStop last; modules provided after lameduck's must not
		// change that.
		fx.Provide(newDatabase),
		lameduck.WithConfig(testConfig(fastStop())),
		lameduck.IgnoreSignals,
		fx.Decorate(func(*zap.Logger) *zap.Logger { return zaptest.NewLogger(t) }),
		fx.NopLogger,
		fx.Provide(newFakeServer),
		fx.Provide(fx.Annotate(func(s *fakeServer) []lifecycle.Step { return s.steps() },
			fx.ResultTags(`group:"`+lameduck.StepGroup+`,flatten"`))),
		fx.Provide(lameduck.AsObserver(func(s *fakeServer) lifecycle.Observer { return s.observe() })),
		fx.Populate(&srv, &db, &coord),
	)
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := app.Stop(ctx); err != nil {
		t.Fatalf("app.Stop: %v", err)
	}
	if db.closeErr != nil || !db.closed.Load() {
		t.Fatalf("database: %v (closed=%v)", db.closeErr, db.closed.Load())
	}
	if n := srv.finished.Load(); n != 2 {
		t.Errorf("%d of 2 users of the database finished before it closed", n)
	}
	rep := coord.Report()
	if rep == nil || !rep.Clean() || rep.Trigger != lifecycle.TriggerFxStop {
		t.Errorf("report: %v", rep)
	}
}

// Fx's stop timeout, when it is shorter than the budget, becomes the
// budget: the coordinator returns its report (a StopError for the step it
// had to abandon) before Fx gives up on its OnStop hook.
func TestFxStopTimeoutShorterThanBudgetShrinksIt(t *testing.T) {
	var coord *lifecycle.Coordinator
	app := newApp(t, testConfig(fastStop()),
		fx.Provide(lameduck.AsStep(func() lifecycle.Step {
			return lifecycle.NewStep(lifecycle.Shutdown, "stuck", func(ctx context.Context) error {
				<-ctx.Done()
				return ctx.Err()
			})
		})),
		fx.Populate(&coord),
	)
	ctx := context.Background()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	stopCtx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	err := app.Stop(stopCtx)
	var se *lifecycle.StopError
	if !errors.As(err, &se) || lifecycle.ExitCode(err) != lifecycle.ExitForced {
		t.Errorf("app.Stop error %v, want the coordinator's StopError (Fx's own timeout is another error)", err)
	}
	rep := coord.Report()
	if rep == nil || rep.Budget > time.Second || rep.Budget <= 0 {
		t.Fatalf("report %v, want a budget shrunk under Fx's 1s", rep)
	}
	if sh, _ := rep.Phase(lifecycle.Shutdown); sh.Outcome != lifecycle.PhaseForced {
		t.Errorf("shutdown phase %+v, want it forced at its shrunk deadline", sh)
	}
}

func TestReadinessFollowsStartAndStop(t *testing.T) {
	var coord *lifecycle.Coordinator
	var health *lifecycle.Health
	var dbUp atomic.Bool
	dbUp.Store(true)
	release := make(chan struct{})
	app := newApp(t, testConfig(fastStop()),
		fx.Provide(lameduck.AsReadinessCheck(func() lifecycle.ReadinessCheck {
			return lifecycle.ReadinessCheck{Name: "db", Check: func(context.Context) error {
				if !dbUp.Load() {
					return errors.New("no connection")
				}
				return nil
			}}
		})),
		fx.Provide(lameduck.AsStep(func() lifecycle.Step {
			// Holds the shutdown phase open so readiness can be probed
			// while the stop runs.
			return lifecycle.NewStep(lifecycle.Shutdown, "hold", func(ctx context.Context) error {
				<-release
				return nil
			})
		})),
		fx.Populate(&coord, &health),
	)
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	// The same Health the admin server answers with, on a server that
	// runs before the app starts and after it stopped.
	mux := http.NewServeMux()
	mux.Handle("/readyz", health.Readyz())
	mux.Handle("/livez", health.Livez())
	ts := httptest.NewServer(mux)
	defer ts.Close()

	if code, body := get(t, ts.URL+"/readyz?verbose"); code != 503 || !strings.Contains(body, "[-]started failed") {
		t.Errorf("before start: %d %q, want 503 with the start-up gate failing", code, body)
	}
	if code, _ := get(t, ts.URL+"/livez"); code != 200 {
		t.Errorf("livez before start: %d", code)
	}
	if health.Started() {
		t.Error("Started() before start")
	}
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !health.Started() {
		t.Error("Started() false once started")
	}
	if code, body := get(t, ts.URL+"/readyz?verbose"); code != 200 || body != "[+]started ok\n[+]shutdown ok\n[+]db ok\nreadyz check passed\n" {
		t.Errorf("serving: %d %q", code, body)
	}
	dbUp.Store(false)
	if code, body := get(t, ts.URL+"/readyz"); code != 503 || !strings.Contains(body, "[-]db failed: no connection") {
		t.Errorf("db down: %d %q", code, body)
	}
	dbUp.Store(true)
	stopErr := make(chan error, 1)
	go func() { stopErr <- app.Stop(context.Background()) }()
	<-coord.Stopping()
	if code, body := get(t, ts.URL+"/readyz?verbose"); code != 503 || !strings.Contains(body, "[-]shutdown failed") {
		t.Errorf("stopping: %d %q", code, body)
	}
	if code, body := get(t, ts.URL+"/livez?verbose"); code != 200 || body != "[+]ping ok\nlivez check passed\n" {
		t.Errorf("livez while stopping: %d %q", code, body)
	}
	close(release)
	if err := <-stopErr; err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(ts.URL+"/readyz", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /readyz: %d, want 405", resp.StatusCode)
	}
}

// Fx and the coordinator both receive a SIGTERM. When Fx's path comes
// first (its OnStop hook runs before the coordinator's listener has read the
// signal), the stop still begins with the signal as its trigger, in the
// "stop begins" entry as in the report, and counts it once. It also guards
// what Coordinator.settleSignals relies on: os/signal sends a signal to every
// registered channel before a concurrent signal.Notify returns. If a Go
// release changes that, this test fails in some of its runs.
//
// It signals the test process itself: the app listens for SIGTERM from
// its start to the end of its stop, and fxSignals stands for Fx's own
// receiver.
func TestSignalIsTheTriggerEvenWhenFxBeganTheStopFirst(t *testing.T) {
	for i := range 20 {
		core, logs := observer.New(zap.InfoLevel)
		var coord *lifecycle.Coordinator
		app := fx.New(lameduck.WithConfig(testConfig(fastStop())), fx.NopLogger,
			fx.Decorate(func(*zap.Logger) *zap.Logger { return zap.New(core) }),
			fx.Populate(&coord))
		if err := app.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		fxSignals := make(chan os.Signal, 1)
		signal.Notify(fxSignals, syscall.SIGTERM)
		if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		<-fxSignals
		signal.Stop(fxSignals)
		if err := app.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		begins := logs.FilterMessage("stop begins").All()
		if len(begins) != 1 || begins[0].ContextMap()["trigger"] != "signal terminated" {
			t.Fatalf("run %d: stop begins entries %v, want one with trigger \"signal terminated\"", i, begins)
		}
		if rep := coord.Report(); rep.Trigger != "signal terminated" || rep.Signals != 1 {
			t.Fatalf("run %d: trigger %q with %d signals, want the signal, counted once", i, rep.Trigger, rep.Signals)
		}
	}
}
