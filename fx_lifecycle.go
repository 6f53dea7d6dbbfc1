package lameduck

import (
	"context"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/lameduck/lameduck/lifecycle"
)

// Value groups through which modules contribute to the stop.
const (
	// StepGroup collects lifecycle.Step values: what the stop runs.
	StepGroup = "lameduck.steps"
	// ObserverGroup collects lifecycle.Observer values.
	ObserverGroup = "lameduck.observers"
	// ReadinessGroup collects lifecycle.ReadinessCheck values, which
	// /readyz runs.
	ReadinessGroup = "lameduck.readiness"
)

// AsStep annotates a constructor that returns a lifecycle.Step so that its
// result joins the steps of the stop:
//
//	fx.Provide(lameduck.AsStep(newQueueDrain))
func AsStep(constructor any) any { return inGroup(constructor, StepGroup) }

// AsObserver annotates a constructor whose result type is
// lifecycle.Observer so that the coordinator reports to it:
//
//	fx.Provide(lameduck.AsObserver(newStopMetrics))
func AsObserver(constructor any) any { return inGroup(constructor, ObserverGroup) }

// AsReadinessCheck annotates a constructor that returns a
// lifecycle.ReadinessCheck so that /readyz runs it:
//
//	fx.Provide(lameduck.AsReadinessCheck(newDBCheck))
func AsReadinessCheck(constructor any) any { return inGroup(constructor, ReadinessGroup) }

func inGroup(constructor any, group string) any {
	return fx.Annotate(constructor, fx.ResultTags(`group:"`+group+`"`))
}

type signalPolicy struct{ ignore bool }

// IgnoreSignals keeps the coordinator from listening to SIGTERM and SIGINT:
// only app.Stop (or Coordinator.Interrupt) stops the app. For tests, so that
// a Ctrl-C during `go test` reaches the test runner, and for programs that
// handle signals themselves.
var IgnoreSignals = fx.Supply(&signalPolicy{ignore: true})

// lifecycleModule provides the *lifecycle.Coordinator and its
// *lifecycle.Health, and installs the stop:
//
//   - every Step of StepGroup is registered;
//   - the coordinator's OnStop hook is appended from an fx.Invoke that
//     depends on all those steps, so it runs before the OnStop hooks of the
//     resources the steps use (Fx stops in reverse order of start);
//   - its OnStart hook opens the readiness gate, after everything the steps
//     depend on has started;
//   - SIGTERM and SIGINT are counted from start to the end of the stop: the
//     first begins the stop at once (even before Fx calls the OnStop hooks),
//     the second hurries it, the third exits with lifecycle.ExitAborted.
var lifecycleModule = fx.Module("lameduck.lifecycle",
	fx.Provide(newCoordinator),
	fx.Provide(func(c *lifecycle.Coordinator) *lifecycle.Health { return c.Health() }),
	fx.Invoke(installStop),
)

type coordinatorParams struct {
	fx.In
	Stop      lifecycle.Settings
	Logger    *zap.Logger                `optional:"true"`
	Observers []lifecycle.Observer       `group:"lameduck.observers"`
	Checks    []lifecycle.ReadinessCheck `group:"lameduck.readiness"`
	LC        fx.Lifecycle
	Shut      fx.Shutdowner
	Signals   *signalPolicy `optional:"true"`
}

func newCoordinator(p coordinatorParams) *lifecycle.Coordinator {
	// Fx listens for signals only once app.Run or app.Wait is called; a
	// signal that arrives before (during start-up, say) reaches only the
	// coordinator. It tells Fx, so that Fx's runner stops the app and
	// joins the stop.
	opts := []lifecycle.Option{lifecycle.WithObservers(p.Observers...), lifecycle.WithWake(func() { _ = p.Shut.Shutdown() })}
	if p.Logger != nil {
		opts = append(opts, lifecycle.WithLogger(p.Logger.Named("lameduck")))
	}
	c := lifecycle.New(p.Stop, opts...)
	c.Health().AddReadinessCheck(p.Checks...)
	if p.Signals != nil && p.Signals.ignore {
		return c
	}
	// The signal listener's hook is appended when the coordinator is built,
	// before the servers that need it, so it stops after they do: a third
	// signal still exits while later Fx hooks run.
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
	Coordinator *lifecycle.Coordinator
	Steps       []lifecycle.Step `group:"lameduck.steps"`
	LC          fx.Lifecycle
}

func installStop(p installParams) error {
	c := p.Coordinator
	if err := c.Register(p.Steps...); err != nil {
		return err
	}
	p.LC.Append(fx.Hook{
		OnStart: func(context.Context) error {
			c.Started()
			return nil
		},
		OnStop: func(ctx context.Context) error {
			_, err := c.StopAs(ctx, lifecycle.TriggerFxStop)
			return err
		},
	})
	return nil
}
