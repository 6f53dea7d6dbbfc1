package bgwork

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
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lameduck/lameduck/lifecycle"
)

// TestStopNeverLosesAnAdmittedTask races submitters against the start of the
// stop: every Go must either return nil for a task that runs before Stop
// returns, or return ErrDraining for a task that never runs. Run with -race.
func TestStopNeverLosesAnAdmittedTask(t *testing.T) {
	for _, cfg := range []Settings{
		{},                              // no limit
		{MaxRunning: 3, WhenFull: Wait}, // submitters wait for room
		{MaxRunning: 3, WhenFull: Fail},
		{MaxRunning: 3, Queue: 5, WhenFull: Wait}, // tasks queue, then submitters wait
		{MaxRunning: 3, Queue: 5, WhenFull: Fail},
	} {
		for round := range 20 {
			p := newPool(t, cfg)
			var ran, accepted atomic.Int64
			var otherErr atomic.Value
			threshold := int64(1 + 40*round) // vary how much runs when the stop begins
			reached := make(chan struct{})
			task := func(context.Context) error { ran.Add(1); return nil }
			var submitters sync.WaitGroup
			for range 6 {
				submitters.Go(func() {
					for {
						err := p.Go(context.Background(), "race", task)
						switch {
						case err == nil:
							if accepted.Add(1) == threshold {
								close(reached)
							}
						case errors.Is(err, ErrDraining):
							return
						case errors.Is(err, ErrFull):
							runtime.Gosched() // let a worker free a slot
						default:
							otherErr.Store(err)
							return
						}
					}
				})
			}
			<-reached
			if err := p.Stop(context.Background()); err != nil {
				t.Fatal(err)
			}
			ranAtStop := ran.Load()
			submitters.Wait()
			if err := otherErr.Load(); err != nil {
				t.Fatalf("%+v: Go returned %v", cfg, err)
			}
			if got := accepted.Load(); got != ranAtStop || ran.Load() != ranAtStop {
				t.Fatalf("%+v round %d: %d tasks accepted, %d ran before Stop returned, %d in all; want all three equal",
					cfg, round, got, ranAtStop, ran.Load())
			}
			if s := p.Stats(); s.Started != ranAtStop || s.Completed != ranAtStop || s.Running != 0 || s.Queued != 0 || s.Waiting != 0 {
				t.Fatalf("%+v: stats %+v, want %d started and completed", cfg, s, ranAtStop)
			}
		}
	}
}

// TestHandlersSubmitDuringShutdown runs a real HTTP server and a real
// coordinator: 200 requests are in flight when the stop begins; once
// http.Server.Shutdown has closed the listener, each handler submits 50
// tasks and returns. The tasks block until the wait phase begins. Every one
// of the 10,000 must be accepted and complete, and the stop must be clean.
func TestHandlersSubmitDuringShutdown(t *testing.T) {
	const requests, perRequest = 200, 50
	pool := newPool(t, Settings{MaxRunning: 0})
	inShutdown := make(chan struct{}) // closed by Shutdown, after it closed the listener
	waitPhase := make(chan struct{})  // closed when the wait phase begins
	var arrived sync.WaitGroup
	arrived.Add(requests)
	var completed, submitErrs atomic.Int64
	task := func(context.Context) error {
		<-waitPhase
		completed.Add(1)
		return nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		<-inShutdown
		for i := range perRequest {
			if err := pool.Go(r.Context(), fmt.Sprintf("order.audit#%d", i), task); err != nil {
				submitErrs.Add(1)
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		io.WriteString(w, "accepted")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	srv.RegisterOnShutdown(func() { close(inShutdown) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	var runningAtWait int64
	coord := lifecycle.New(lifecycle.Settings{
		Total: 60 * time.Second, Reserve: time.Second, Shutdown: 20 * time.Second,
		HubDrain: time.Second, Wait: 20 * time.Second, ForceGrace: time.Second,
	}, lifecycle.WithObservers(lifecycle.ObserverFunc(func(e lifecycle.Event) {
		if e.Kind == lifecycle.PhaseStarted && e.Phase == lifecycle.Wait {
			runningAtWait = pool.Stats().Running
			close(waitPhase)
		}
	})))
	if err := coord.Register(
		lifecycle.NewStep(lifecycle.Shutdown, "http.test", srv.Shutdown),
		pool.Step(),
	); err != nil {
		t.Fatal(err)
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: requests}}
	defer client.CloseIdleConnections()
	url := "http://" + ln.Addr().String() + "/orders"
	var clients sync.WaitGroup
	statuses := make(chan string, requests)
	for range requests {
		clients.Go(func() {
			resp, err := client.Post(url, "text/plain", nil)
			if err != nil {
				statuses <- err.Error()
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			statuses <- fmt.Sprintf("%d %s", resp.StatusCode, body)
		})
	}
	arrived.Wait() // every request is in a handler

	report, err := coord.Stop(context.Background())
	clients.Wait()
	close(statuses)
	for s := range statuses {
		if s != "200 accepted" {
			t.Errorf("a client got %q, want 200 accepted", s)
		}
	}
	if err != nil {
		t.Fatalf("stop not clean: %v\n%v", err, report)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve = %v", err)
	}
	if n := submitErrs.Load(); n != 0 {
		t.Errorf("%d submissions refused before the wait phase, want none", n)
	}
	if runningAtWait != requests*perRequest {
		t.Errorf("%d tasks running when the wait phase began, want all %d", runningAtWait, requests*perRequest)
	}
	s := pool.Stats()
	if got := completed.Load(); got != requests*perRequest || s.Completed != got || s.Refused != 0 {
		t.Errorf("%d tasks completed, stats %+v; want %d completed, none refused", got, s, requests*perRequest)
	}
	wait, _ := report.Phase(lifecycle.Wait)
	if len(wait.Steps) != 1 || wait.Steps[0].Name != "bgwork" || wait.Steps[0].Outcome != lifecycle.StepOK {
		t.Errorf("wait phase %+v, want the bgwork step ok", wait)
	}
}

// TestHungTaskIsNamedAndTheStopKeepsItsBudget stops a real coordinator while
// one task ignores cancellation and another honours it late.
func TestHungTaskIsNamedAndTheStopKeepsItsBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stopCfg := lifecycle.Settings{
			Total: 10 * time.Second, Reserve: time.Second, Shutdown: 2 * time.Second,
			HubDrain: time.Second, Wait: 3 * time.Second, ForceGrace: 300 * time.Millisecond,
		}
		pool := newPool(t, Settings{})
		coord := lifecycle.New(stopCfg)
		if err := coord.Register(pool.Step()); err != nil {
			t.Fatal(err)
		}
		hung := make(chan struct{})
		pool.Go(context.Background(), "pdf.render", func(context.Context) error { <-hung; return nil })
		pool.Go(context.Background(), "search.reindex", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
		pool.Go(context.Background(), "mail.send", func(context.Context) error { time.Sleep(time.Second); return nil })

		start := time.Now()
		report, err := coord.Stop(context.Background())
		took := time.Since(start)
		if took > stopCfg.Total {
			t.Errorf("the stop took %v, more than its %v budget", took, stopCfg.Total)
		}
		// The wait phase gets its 3s cap, then the force grace.
		if want := 3*time.Second + stopCfg.ForceGrace; took < want-50*time.Millisecond || took > want+stopCfg.Reserve {
			t.Errorf("the stop took %v, want about %v", took, want)
		}
		if err == nil {
			t.Error("stop reported clean with a hung task")
		}
		wait, _ := report.Phase(lifecycle.Wait)
		if wait.Outcome != lifecycle.PhaseForced || len(wait.Steps) != 1 || wait.Steps[0].Outcome != lifecycle.StepForced {
			t.Errorf("wait phase %+v, want forced with the bgwork step forced (returned in its grace, not abandoned)", wait)
		}
		text := report.String()
		for _, want := range []string{
			"cut: task pdf.render (bgwork: still running after its context was cancelled), age 3.28s", // the grace ends 20ms early, so that the step returns before the coordinator abandons it
			"cut: task search.reindex (bgwork: cancelled at the stop deadline, then returned), age 3s",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("report lacks %q:\n%s", want, text)
			}
		}
		if strings.Contains(text, "mail.send") {
			t.Errorf("report names mail.send, which finished in time:\n%s", text)
		}
		close(hung)
	})
}

// TestStragglersWhileAbandoned shows what the coordinator reports for a step
// it abandoned: it calls Stragglers while Stop still runs.
func TestStragglersWhileStopRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := newPool(t, Settings{}, WithForceGrace(time.Hour))
		hung := make(chan struct{})
		pool.Go(context.Background(), "export.csv", func(context.Context) error { <-hung; return nil })
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		stopped := make(chan error)
		go func() { stopped <- pool.Stop(ctx) }()
		time.Sleep(2 * time.Second) // past the deadline, inside the grace
		got := pool.Stragglers()
		if len(got) != 1 || got[0].Name != "export.csv" || got[0].Age != 2*time.Second || got[0].Kind != "task" {
			t.Errorf("Stragglers during the grace = %v, want export.csv, age 2s", got)
		}
		close(hung)
		if err := <-stopped; err == nil {
			t.Error("Stop after a deadline returned nil")
		}
	})
}

// TestStopWithEndedContextOnIdlePool: nothing runs, so nothing is cut, even
// if the stop's context has already ended.
func TestStopWithEndedContextOnIdlePool(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 100 {
		p := newPool(t, Settings{})
		p.Go(context.Background(), "quick", func(context.Context) error { return nil })
		p.Stop(context.Background()) // let it finish
		if err := p.Stop(ctx); err != nil {
			t.Fatalf("Stop of an idle pool with an ended context = %v, want nil", err)
		}
		p2 := newPool(t, Settings{})
		if err := p2.Stop(ctx); err != nil {
			t.Fatalf("Stop of an unused pool with an ended context = %v, want nil", err)
		}
	}
}
