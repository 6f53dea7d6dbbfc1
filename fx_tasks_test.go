package lameduck_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/bgwork"
	"github.com/lameduck/lameduck/lifecycle"
)

// The pool's wait is a step of the wait phase: a task still running when
// the stop begins may finish in it (here it finishes only once the phase
// has begun), the pool refuses tasks after the stop, and the application's
// bgwork.ErrorHandler from the graph sees failed tasks.
func TestPoolWaitsForTasksInTheWaitPhase(t *testing.T) {
	cfg := testConfig(fastStop())
	cfg.Stop.Total, cfg.Stop.Shutdown, cfg.Stop.HubDrain, cfg.Stop.Wait = 10*time.Second, 2*time.Second, time.Second, 5*time.Second
	cfg.Tasks = bgwork.Settings{MaxRunning: 4, WhenFull: bgwork.Fail}

	var pool *bgwork.Pool
	var coord *lifecycle.Coordinator
	failed := make(chan string, 1)
	release := make(chan struct{})
	var mailRunningAtWait bool
	app := newApp(t, cfg,
		fx.Supply(bgwork.ErrorHandler(func(name string, err error) { failed <- name })),
		fx.Provide(lameduck.AsObserver(func(p *bgwork.Pool) lifecycle.Observer {
			return lifecycle.ObserverFunc(func(e lifecycle.Event) {
				if e.Kind == lifecycle.PhaseStarted && e.Phase == lifecycle.Wait {
					for _, s := range p.Stragglers() { // before the deadline: the tasks running now
						mailRunningAtWait = mailRunningAtWait || s.Name == "invoice.mail" && s.Detail == "bgwork: running"
					}
					close(release) // the task finishes only once the wait phase runs
				}
			})
		})),
		fx.Populate(&pool, &coord),
	)
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}

	var finished atomic.Bool
	mailStarted := make(chan struct{})
	if err := pool.Go(context.Background(), "invoice.mail", func(context.Context) error {
		close(mailStarted)
		<-release
		finished.Store(true)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := pool.Go(context.Background(), "invoice.pdf", func(context.Context) error { return errors.New("no template") }); err != nil {
		t.Fatal(err)
	}
	<-mailStarted
	if got := <-failed; got != "invoice.pdf" {
		t.Errorf("the ErrorHandler from the graph saw %v, want invoice.pdf", got)
	}

	if err := app.Stop(context.Background()); err != nil {
		t.Fatalf("app.Stop: %v\n%v", err, coord.Report())
	}
	if !mailRunningAtWait || !finished.Load() {
		t.Errorf("invoice.mail running when the wait phase began: %v, finished: %v; want both", mailRunningAtWait, finished.Load())
	}
	if err := pool.Go(context.Background(), "late", func(context.Context) error { return nil }); !errors.Is(err, bgwork.ErrDraining) {
		t.Errorf("Go after the stop = %v, want ErrDraining", err)
	}
	wait, _ := coord.Report().Phase(lifecycle.Wait)
	if len(wait.Steps) != 1 || wait.Steps[0].Name != "bgwork" || wait.Steps[0].Outcome != lifecycle.StepOK {
		t.Errorf("wait phase steps %+v, want bgwork ok", wait.Steps)
	}
}
