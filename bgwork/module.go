package bgwork

import (
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/lameduck/lameduck/config"
	"github.com/lameduck/lameduck/lifecycle"
)

// Module provides a [*Pool] configured by config.Tasks to an Fx application
// and registers [Pool.Stop] as a step of the wait phase of the stop
// ([lifecycle.StepGroup]), so that it runs after the servers have shut down
// and the WebSocket hubs have drained.
//
// It needs config.Tasks and [lifecycle.Module] (which runs the steps);
// optionally a *zap.Logger and an [ErrorHandler].
var Module = fx.Module("lameduck.bgwork",
	fx.Provide(newFx),
	fx.Provide(lifecycle.AsStep(func(p *Pool) lifecycle.Step { return p.Step() })),
)

type poolParams struct {
	fx.In
	Tasks   config.Tasks
	Logger  *zap.Logger  `optional:"true"`
	OnError ErrorHandler `optional:"true"`
}

func newFx(p poolParams) (*Pool, error) {
	var opts []Option
	if p.Logger != nil {
		opts = append(opts, WithLogger(p.Logger.Named("bgwork")))
	}
	if p.OnError != nil {
		opts = append(opts, WithErrorHandler(p.OnError))
	}
	return New(p.Tasks, opts...)
}
