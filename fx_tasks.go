package lameduck

import (
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/lameduck/lameduck/bgwork"
	"github.com/lameduck/lameduck/lifecycle"
)

// tasksModule provides a *bgwork.Pool configured by the "tasks" section and
// registers its stop as a step of the wait phase, so that it runs after the
// servers have shut down and the WebSocket hubs have drained. An
// application may provide a bgwork.ErrorHandler.
var tasksModule = fx.Module("lameduck.tasks",
	fx.Provide(func(p struct {
		fx.In
		Tasks   bgwork.Settings
		Logger  *zap.Logger         `optional:"true"`
		OnError bgwork.ErrorHandler `optional:"true"`
	}) (*bgwork.Pool, error) {
		var opts []bgwork.Option
		if p.Logger != nil {
			opts = append(opts, bgwork.WithLogger(p.Logger.Named("bgwork")))
		}
		if p.OnError != nil {
			opts = append(opts, bgwork.WithErrorHandler(p.OnError))
		}
		return bgwork.New(p.Tasks, opts...)
	}),
	fx.Provide(AsStep(func(p *bgwork.Pool) lifecycle.Step { return p.Step() })),
)
