package tracing

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/lifecycle"
)

// Module records every stop as spans of the app's trace.TracerProvider (or
// of otel.GetTracerProvider() if the app provides none) and flushes the
// provider after the coordinator's last phase and before the process
// exits, within stop.margin. It needs lameduck's modules in the app.
//
// Provide the provider as a trace.TracerProvider, and shut it down in an
// OnStop hook appended where it is built: it is built before the module's
// observer, so Fx runs that hook after the flush.
//
//	fx.Provide(func(lc fx.Lifecycle) trace.TracerProvider {
//		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter))
//		lc.Append(fx.Hook{OnStop: tp.Shutdown})
//		return tp
//	})
var Module = fx.Module("lameduck.tracing",
	fx.Provide(lameduck.AsObserver(newModule)),
)

type moduleParams struct {
	fx.In
	Provider trace.TracerProvider `optional:"true"`
	Stop     lifecycle.Settings
	LC       fx.Lifecycle
}

// newModule builds the observer and appends its flush. The coordinator
// needs every observer, so this hook is appended before the coordinator's
// and runs after it: after the stop's last span has ended.
func newModule(p moduleParams) lifecycle.Observer {
	tp := p.Provider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	o := New(tp)
	p.LC.Append(fx.Hook{OnStop: func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, p.Stop.Margin)
		defer cancel()
		return o.Flush(ctx)
	}})
	return o
}
