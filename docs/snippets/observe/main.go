// Command observe is a service with metrics, traces and slog, as
// docs/observability.md shows.
package main

import (
	"log/slog"
	"net/http"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/metrics"
	"github.com/lameduck/lameduck/tracing"
)

// newHelloRoute answers GET /hello.
func newHelloRoute() httpmodule.Route {
	return httpmodule.Route{Pattern: "GET /hello", Handler: http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello\n")) })}
}

// newExporter stands for the service's span exporter: otlptracegrpc.New
// or otlptracehttp.New for a collector.
func newExporter() sdktrace.SpanExporter { return tracetest.NewNoopExporter() }

// options are the service: its route, and what it observes. The tests
// start the same options, with lameducktest's logger.
var options = fx.Options(
	metrics.Module,
	tracing.Module,
	fx.Provide(newExporter, newTracerProvider),
	fx.Provide(lameduck.AsRoute(newHelloRoute)),
)

// snippet:start main
func main() {
	lameduck.Run(
		metrics.Module,
		tracing.Module,
		fx.Provide(newExporter, newTracerProvider), // a trace.TracerProvider: see Traces below
		lameduck.WithSlog(slog.Default()),
		fx.Provide(lameduck.AsRoute(newHelloRoute)),
	)
}

// snippet:end main

// snippet:start provider
func newTracerProvider(lc fx.Lifecycle, exporter sdktrace.SpanExporter) trace.TracerProvider {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter))
	lc.Append(fx.Hook{OnStop: tp.Shutdown}) // runs after tracing.Module's flush
	return tp
}

// snippet:end provider
