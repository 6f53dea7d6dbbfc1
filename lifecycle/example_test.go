package lifecycle_test

import (
	"context"
	"fmt"
	"time"

	"github.com/lameduck/lameduck/lifecycle"
)

// A coordinator without Fx: register what to stop, one step per piece of
// work and phase, then stop (here by a call; a service would call
// ListenSignals and let SIGTERM begin it).
func Example() {
	cfg := lifecycle.DefaultSettings(nil)
	cfg.PreStopDelay = 0
	c := lifecycle.New(cfg)

	queue := make(chan string, 2)
	queue <- "audit entry 1"
	queue <- "audit entry 2"
	close(queue)
	err := c.Register(lifecycle.NewStep(lifecycle.Wait, "audit.flush", func(ctx context.Context) error {
		for entry := range queue {
			select {
			case <-ctx.Done(): // the wait phase's deadline: say what was left
				return fmt.Errorf("audit: %d entries not written: %w", len(queue)+1, ctx.Err())
			default:
				fmt.Println("wrote", entry)
			}
		}
		return nil
	}))
	if err != nil {
		panic(err)
	}

	rep, err := c.Stop(context.Background())
	fmt.Println("clean:", rep.Clean(), "error:", err, "exit status:", lifecycle.ExitCode(err))
	for _, p := range rep.Phases {
		fmt.Println(p.Phase, p.Outcome)
	}
	// Output:
	// wrote audit entry 1
	// wrote audit entry 2
	// clean: true error: <nil> exit status: 0
	// readiness-off completed
	// prestop-delay completed
	// shutdown completed
	// hub-drain completed
	// wait completed
	// final completed
}

// A step that cannot finish before its phase's deadline: it is told by its
// context, closes what is left by CloseBy, and the report names what it cut.
func ExampleCloseBy() {
	cfg := lifecycle.DefaultSettings(nil)
	cfg.PreStopDelay, cfg.Shutdown = 0, 50*time.Millisecond
	c := lifecycle.New(cfg)
	_ = c.Register(lifecycle.NewStep(lifecycle.Shutdown, "export", func(ctx context.Context) error {
		<-ctx.Done() // the export would take minutes
		force := time.NewTimer(time.Until(lifecycle.CloseBy(ctx)))
		defer force.Stop()
		<-force.C // time to flush, then close what is left
		return fmt.Errorf("export: cut at the deadline: %w", ctx.Err())
	}))
	rep, err := c.Stop(context.Background())
	sd, _ := rep.Phase(lifecycle.Shutdown)
	fmt.Println(sd.Outcome, sd.ForcedBy, sd.Steps[0].Outcome, lifecycle.ExitCode(err))
	// Output:
	// forced deadline forced 3
}
