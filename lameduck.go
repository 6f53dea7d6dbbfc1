// Package lameduck bundles lameduck's Fx modules, so that a service gets
// configured servers, health probes, WebSocket hubs, a task pool and an
// ordered, budgeted stop from one import:
//
//	func main() {
//		lameduck.Run(
//			fx.Provide(httpmodule.AsRoute(newHelloRoute)),
//		)
//	}
//
// The stop runs readiness off -> preStop delay -> server shutdown -> WebSocket
// hub drain -> background-task wait under one time budget; see the lifecycle
// package and docs/architecture.md.
package lameduck

import (
	"context"
	"fmt"
	"os"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/lameduck/lameduck/bgwork"
	"github.com/lameduck/lameduck/config"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lifecycle"
	"github.com/lameduck/lameduck/wsmodule"
)

// Module is every lameduck module with the configuration loaded from the
// process environment (config.Module). Use it with fx.New when you run the
// app yourself; pass fx.StopTimeout(lifecycle.FxStopTimeout(cfg)) too, or the
// budget shrinks to Fx's default 15s stop timeout. [Run] does all of that.
var Module = fx.Options(config.Module, modules)

// WithConfig is every lameduck module with cfg as the configuration, for
// tests and for programs that build their configuration themselves. cfg is
// validated when the app is built.
func WithConfig(cfg config.Config) fx.Option { return fx.Options(config.Supply(cfg), modules) }

// modules are the lameduck modules without a configuration source.
var modules = fx.Options(
	fx.Provide(NewLogger),
	fx.WithLogger(func(l *zap.Logger) fxevent.Logger {
		// Fx's own events (provides, invokes, hooks) are debug detail;
		// its errors are not.
		zl := &fxevent.ZapLogger{Logger: l.Named("fx")}
		zl.UseLogLevel(zapcore.DebugLevel)
		return zl
	}),
	lifecycle.Module,
	httpmodule.Module,
	wsmodule.Module,
	bgwork.Module,
)

// NewLogger builds the zap logger described by cfg: JSON for log collectors
// or console for people, at the configured level.
func NewLogger(cfg config.Log) (*zap.Logger, error) {
	var zc zap.Config
	if cfg.Format == "console" {
		zc = zap.NewDevelopmentConfig()
		zc.Development = false
	} else {
		zc = zap.NewProductionConfig()
		zc.Sampling = nil // a stop report must never be sampled away
	}
	lvl, err := zapcore.ParseLevel(cfg.Level)
	if err != nil {
		return nil, fmt.Errorf("lameduck: log.level: %w", err)
	}
	zc.Level = zap.NewAtomicLevelAt(lvl)
	// Durations as Go writes them ("4.52s", "250ms"): JSON's default, a
	// float of seconds without a unit, reads as anything.
	zc.EncoderConfig.EncodeDuration = zapcore.StringDurationEncoder
	zc.DisableStacktrace = true
	return zc.Build()
}

// Run loads the configuration from the environment, builds the app from
// every lameduck module and opts, runs it until SIGTERM or SIGINT, stops it,
// and exits with the status the stop earned: 0 when clean,
// [lifecycle.ExitForced] when something was cut off, 1 when the
// configuration is invalid or start-up failed. It sets fx.StopTimeout to the
// stop budget plus its margin.
func Run(opts ...fx.Option) {
	os.Exit(run(opts...))
}

func run(opts ...fx.Option) int {
	cfg, err := config.LoadProcess()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return lifecycle.ExitFailed
	}
	app := fx.New(append([]fx.Option{
		fx.StopTimeout(lifecycle.FxStopTimeout(cfg.Stop)),
		WithConfig(cfg),
	}, opts...)...)
	return RunApp(app)
}

// RunApp starts app, waits for a stop signal (or fx.Shutdowner), stops it and
// returns the exit status the stop earned (see [Run]). The app must contain
// lameduck's lifecycle module.
func RunApp(app *fx.App) int {
	startCtx, cancel := context.WithTimeout(context.Background(), app.StartTimeout())
	defer cancel()
	if err := app.Start(startCtx); err != nil {
		fmt.Fprintln(os.Stderr, "lameduck: start failed:", err)
		return lifecycle.ExitFailed
	}
	sig := <-app.Wait()
	stopCtx, cancel := context.WithTimeout(context.Background(), app.StopTimeout())
	defer cancel()
	if code := lifecycle.ExitCode(app.Stop(stopCtx)); code != 0 {
		return code
	}
	return sig.ExitCode
}
