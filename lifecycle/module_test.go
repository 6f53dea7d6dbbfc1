package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	"go.uber.org/zap/zaptest/observer"

	"github.com/lameduck/lameduck/config"
	"github.com/lameduck/lameduck/lifecycle"
)

func fastStop() config.Stop {
	return config.Stop{
		Total:      5 * time.Second,
		Reserve:    500 * time.Millisecond,
		Shutdown:   2 * time.Second,
		HubDrain:   time.Second,
		Wait:       time.Second,
		ForceGrace: 100 * time.Millisecond,
		Margin:     time.Second,
	}
}

// database stands for a resource that handlers and tasks use: it must not
// close while any of them still runs.
type database struct {
	inFlight atomic.Int32 // requests and tasks using it
	closed   atomic.Bool
	closeErr error
}

func (db *database) use() (done func(), err error) {
	if db.closed.Load() {
		return nil, errors.New("database used after it closed")
	}
	db.inFlight.Add(1)
	return func() { db.inFlight.Add(-1) }, nil
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

// server stands for an HTTP server whose in-flight request uses the database
// during the shutdown phase, and whose handler spawned a task that the wait
// phase waits for.
type server struct {
	db       *database
	request  chan struct{} // closed when the in-flight request ends
	task     chan struct{} // closed when the spawned task ends
	started  chan struct{}
	finished atomic.Int32
}

func newServer(db *database) *server {
	return &server{db: db, request: make(chan struct{}), task: make(chan struct{}), started: make(chan struct{})}
}

// serve simulates a request in flight when the stop begins, and the task it
// spawns: both use the database for 200ms after the stop began.
func (s *server) serve(stopping <-chan struct{}) {
	reqDone, _ := s.db.use()
	taskDone, _ := s.db.use()
	close(s.started)
	go func() {
		<-stopping
		time.Sleep(200 * time.Millisecond) // the request's own work, not a wait for a signal
		reqDone()
		s.finished.Add(1)
		close(s.request)
		time.Sleep(200 * time.Millisecond)
		taskDone()
		s.finished.Add(1)
		close(s.task)
	}()
}

func steps(s *server) []lifecycle.Step {
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
	var srv *server
	var db *database
	var coord *lifecycle.Coordinator
	app := fx.New(
		fx.NopLogger,
		config.Supply(validConfig(fastStop())),
		// The resource is provided first, so its OnStart comes first and
		// its OnStop last; a module provided after lifecycle.Module must
		// not change that.
		fx.Provide(newDatabase),
		lifecycle.Module,
		fx.Provide(newServer),
		fx.Provide(fx.Annotate(steps, fx.ResultTags(`group:"lameduck.steps,flatten"`))),
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
	srv.serve(coord.Stopping())
	<-srv.started
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
	if rep == nil || !rep.Clean() || rep.Trigger != "fx stop" {
		t.Errorf("report: %v", rep)
	}
}

func TestFxStopTimeoutShorterThanBudgetShrinksIt(t *testing.T) {
	var coord *lifecycle.Coordinator
	app := fx.New(
		fx.NopLogger,
		config.Supply(validConfig(fastStop())),
		lifecycle.Module,
		fx.Provide(lifecycle.AsStep(func() lifecycle.Step {
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
	start := time.Now()
	err := app.Stop(stopCtx)
	if took := time.Since(start); took >= time.Second {
		t.Errorf("stop took %v, past Fx's 1s stop timeout", took)
	}
	if lifecycle.ExitCode(err) != lifecycle.ExitForced {
		t.Errorf("app.Stop error %v, want a StopError", err)
	}
	if b := coord.Report().Budget; b > time.Second {
		t.Errorf("budget %v, want it shrunk under Fx's 1s", b)
	}
}

func validConfig(stop config.Stop) config.Config {
	cfg := config.Default(nil)
	cfg.Stop = stop
	return cfg
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestReadinessFollowsStartAndStop(t *testing.T) {
	var coord *lifecycle.Coordinator
	var health *lifecycle.Health
	dbUp := atomic.Bool{}
	dbUp.Store(true)
	stopped := make(chan struct{})
	app := fx.New(
		fx.NopLogger,
		config.Supply(validConfig(fastStop())),
		lifecycle.Module,
		fx.Provide(lifecycle.AsReadinessCheck(func() lifecycle.ReadinessCheck {
			return lifecycle.ReadinessCheck{Name: "db", Check: func(context.Context) error {
				if !dbUp.Load() {
					return errors.New("no connection")
				}
				return nil
			}}
		})),
		fx.Provide(lifecycle.AsStep(func(c *lifecycle.Coordinator) lifecycle.Step {
			// Holds the shutdown phase open so readiness can be probed
			// while the stop runs.
			return lifecycle.NewStep(lifecycle.Shutdown, "hold", func(ctx context.Context) error {
				<-stopped
				return nil
			})
		})),
		fx.Populate(&coord, &health),
	)
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
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
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
	close(stopped)
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
func TestSignalIsTheTriggerEvenWhenFxBeganTheStopFirst(t *testing.T) {
	for i := range 20 {
		core, logs := observer.New(zap.InfoLevel)
		var coord *lifecycle.Coordinator
		app := fx.New(fx.NopLogger, config.Supply(validConfig(fastStop())), lifecycle.Module,
			fx.Supply(zap.New(core)), fx.Populate(&coord))
		if err := app.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		fxSignals := make(chan os.Signal, 1) // stands for Fx's own signal receiver
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
