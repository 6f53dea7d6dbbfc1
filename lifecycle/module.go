package lifecycle

import (
	"context"
	"os"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/lameduck/lameduck/config"
)

// Module provides the [*Coordinator] and its [*Health] to the Fx graph and
// installs the stop:
//
//   - every [Step] in the value group [StepGroup] is registered;
//   - the coordinator's OnStop hook is appended from an fx.Invoke that
//     depends on all those steps, so it runs before the OnStop hooks of the
//     resources the steps use (Fx stops in reverse order of start);
//   - its OnStart hook opens the readiness gate, after everything the steps
//     depend on has started;
//   - SIGTERM and SIGINT are counted from start to the end of the stop: the
//     first begins the stop at once (even before Fx calls the OnStop hooks),
//     the second hurries it, the third exits with [ExitAborted].
//
// It needs a config.Stop and, optionally, a *zap.Logger, [Observer] values in
// [ObserverGroup] and [ReadinessCheck] values in [ReadinessGroup].
var Module = fx.Module("lameduck.lifecycle",
	fx.Provide(newFx),
	fx.Provide(func(c *Coordinator) *Health { return c.Health() }),
	fx.Invoke(install),
)

type coordinatorParams struct {
	fx.In
	Stop      config.Stop
	Logger    *zap.Logger      `optional:"true"`
	Observers []Observer       `group:"lameduck.observers"`
	Checks    []ReadinessCheck `group:"lameduck.readiness"`
	LC        fx.Lifecycle
	Shut      fx.Shutdowner
	Signals   *signalPolicy `optional:"true"`
}

type signalPolicy struct{ ignore bool }

// IgnoreSignals keeps the coordinator from listening to SIGTERM and SIGINT:
// only app.Stop (or [Coordinator.Interrupt]) stops the app. For tests, so that
// a Ctrl-C during `go test` reaches the test runner, and for programs that
// handle signals themselves.
var IgnoreSignals = fx.Supply(&signalPolicy{ignore: true})

func newFx(p coordinatorParams) *Coordinator {
	opts := []Option{WithObservers(p.Observers...)}
	if p.Logger != nil {
		opts = append(opts, WithLogger(p.Logger.Named("lameduck")))
	}
	c := New(p.Stop, opts...)
	// Fx listens for signals only once app.Run or app.Wait is called; a
	// signal that arrives before (during start-up, say) reaches only us.
	// Tell Fx, so that its runner stops the app and joins our stop.
	c.wake = func() { _ = p.Shut.Shutdown() }
	c.Health().AddReadinessCheck(p.Checks...)
	// The signal listener's hook is appended when the coordinator is built,
	// before the servers that need it, so it stops after they do: a third
	// signal still exits while later Fx hooks run.
	if p.Signals != nil && p.Signals.ignore {
		return c
	}
	var stopListening func()
	p.LC.Append(fx.Hook{
		OnStart: func(context.Context) error {
			stopListening = c.ListenSignals()
			return nil
		},
		OnStop: func(context.Context) error {
			stopListening()
			return nil
		},
	})
	return c
}

type installParams struct {
	fx.In
	Coordinator *Coordinator
	Steps       []Step `group:"lameduck.steps"`
	LC          fx.Lifecycle
}

func install(p installParams) error {
	if err := p.Coordinator.Register(p.Steps...); err != nil {
		return err
	}
	c := p.Coordinator
	p.LC.Append(fx.Hook{
		OnStart: func(context.Context) error {
			c.Health().MarkStarted()
			// The preStop delay's default depends on where we run: say
			// which, so that a surprising 0 or 5s explains itself.
			c.log.Info("serving; stop budget set",
				zap.Duration("total", c.cfg.Total), zap.Duration("preStopDelay", c.cfg.PreStopDelay),
				zap.Bool("kubernetes", os.Getenv("KUBERNETES_SERVICE_HOST") != ""),
				zap.Duration("shutdown", c.cfg.Shutdown), zap.Duration("hubDrain", c.cfg.HubDrain),
				zap.Duration("wait", c.cfg.Wait), zap.Duration("reserve", c.cfg.Reserve))
			return nil
		},
		OnStop: func(ctx context.Context) error {
			c.settleSignals() // a SIGTERM that woke Fx is ours to name
			c.begin(ctx, TriggerFxStop)
			_, err := c.Stop(ctx)
			return err
		},
	})
	return nil
}

// FxStopTimeout returns the fx.StopTimeout that fits the stop settings: the
// budget plus the margin for the OnStop hooks that run after the
// coordinator's.
func FxStopTimeout(cfg config.Stop) time.Duration { return cfg.Total + cfg.Margin }
