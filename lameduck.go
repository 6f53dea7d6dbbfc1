// Package lameduck is the Fx application of lameduck's modules: one import
// gives a service configured HTTP servers, health probes, WebSocket hubs, a
// task pool and an ordered, budgeted stop:
//
//	func main() {
//		lameduck.Run(
//			fx.Provide(lameduck.AsRoute(newHelloRoute)),
//		)
//	}
//
// The stop runs readiness off -> preStop delay -> server shutdown -> WebSocket
// hub drain -> background-task wait -> final under one time budget; see the
// lifecycle package and docs/architecture.md.
//
// The modules themselves (lifecycle, httpmodule, wsmodule, bgwork) are plain
// Go and need neither Fx nor this package; this package wires them into Fx:
// their settings are loaded together from the configuration file and the
// LAMEDUCK_* variables ([Module], [LoadConfig]), modules contribute to them
// through value groups ([AsRoute], [AsMiddleware], [AsStep], [AsObserver],
// [AsReadinessCheck], [WebSocketHub], [AsHub]), and each server, hub and pool
// registers its steps with the coordinator, whose OnStop hook runs before
// the hooks of everything they use.
package lameduck

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

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
// process environment: the defaults, the YAML file named by LAMEDUCK_CONFIG
// and the LAMEDUCK_* variables, every section of every module in the app at
// once (a bad configuration fails fx.New with every problem). Use it with
// fx.New when you run the app yourself; pass
// fx.StopTimeout(settings.FxStopTimeout()) too, or the budget shrinks to
// Fx's default 15s stop timeout. [Run] does all of that.
var Module = fx.Options(
	fx.Provide(func() config.Environment { return os.Environ() }),
	config.Module,
	config.Provide("stop", lifecycle.DefaultSettings),
	config.Provide("servers", httpmodule.DefaultSettings),
	config.Provide("admin", httpmodule.DefaultAdminSettings),
	config.Provide("websocket", wsmodule.DefaultSettings),
	config.Provide("tasks", bgwork.DefaultSettings),
	config.Provide("log", DefaultLogSettings),
	fx.Provide(composeConfig),
	modules,
)

// WithConfig is every lameduck module with cfg as the configuration, for
// tests and for programs that build their configuration themselves. cfg is
// validated first. Sections of other modules in the app (added with
// config.Provide) keep their defaults.
func WithConfig(cfg Config) fx.Option {
	if err := cfg.Validate(); err != nil {
		return fx.Error(err)
	}
	return fx.Options(
		fx.Supply(config.Environment(nil), cfg, cfg.Stop, cfg.Servers, cfg.Admin, cfg.WebSocket, cfg.Tasks, cfg.Log),
		config.Module,
		modules,
	)
}

type sectionsParams struct {
	fx.In
	Stop      lifecycle.Settings
	Servers   httpmodule.Settings
	Admin     httpmodule.AdminSettings
	WebSocket wsmodule.Settings
	Tasks     bgwork.Settings
	Log       LogSettings
}

// composeConfig provides the whole Config of the loaded sections.
func composeConfig(p sectionsParams) Config {
	return Config{Stop: p.Stop, Servers: p.Servers, Admin: p.Admin, WebSocket: p.WebSocket, Tasks: p.Tasks, Log: p.Log}
}

// modules are the lameduck modules without a configuration source.
var modules = fx.Options(
	fx.Provide(NewLogger),
	// Fx's own events (provides, invokes, hooks) are debug detail, and its
	// errors reach the caller anyway: app.Err, app.Start and app.Stop
	// return them, and Run prints them. A logger that depended on the
	// configuration would make Fx replay every event to the console when
	// the configuration is bad. To see Fx's events, pass LogFxEvents (or
	// fx.WithLogger) after lameduck's options.
	fx.WithLogger(func() fxevent.Logger { return fxevent.NopLogger }),
	lifecycleModule,
	httpModule,
	wsModule,
	tasksModule,
)

// NewLogger builds the zap logger described by cfg: JSON for log collectors
// or console for people, at the configured level.
func NewLogger(cfg LogSettings) (*zap.Logger, error) {
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

// Run builds the app from every lameduck module ([Module], configuration
// from the environment) and opts, runs it until SIGTERM or SIGINT (or
// fx.Shutdowner), stops it, and exits with the status the stop earned: 0
// when clean, [lifecycle.ExitForced] when something was cut off,
// [lifecycle.ExitFailed] when the configuration is invalid or start-up
// failed. The stop is given its budget plus its margin.
func Run(opts ...fx.Option) {
	os.Exit(run(opts...))
}

func run(opts ...fx.Option) int {
	var stop lifecycle.Settings
	app := fx.New(append([]fx.Option{Module, fx.Populate(&stop)}, opts...)...)
	if err := app.Err(); err != nil {
		printStartError(err)
		return lifecycle.ExitFailed
	}
	return runApp(app, stop.FxStopTimeout())
}

// printStartError prints why the app could not be built: a configuration
// error alone, without Fx's account of where it surfaced.
func printStartError(err error) {
	var ce *config.Error
	if errors.As(err, &ce) {
		fmt.Fprintln(os.Stderr, ce)
		return
	}
	fmt.Fprintln(os.Stderr, "lameduck: start failed:", err)
}

// RunApp starts app, waits for a stop signal (or fx.Shutdowner), stops it
// within app.StopTimeout() and returns the exit status the stop earned (see
// [Run]). The app must contain lameduck's modules.
func RunApp(app *fx.App) int {
	if err := app.Err(); err != nil {
		printStartError(err)
		return lifecycle.ExitFailed
	}
	return runApp(app, app.StopTimeout())
}

func runApp(app *fx.App, stopTimeout time.Duration) int {
	startCtx, cancel := context.WithTimeout(context.Background(), app.StartTimeout())
	defer cancel()
	if err := app.Start(startCtx); err != nil {
		printStartError(err)
		return lifecycle.ExitFailed
	}
	sig := <-app.Wait()
	stopCtx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if code := lifecycle.ExitCode(app.Stop(stopCtx)); code != 0 {
		return code
	}
	return sig.ExitCode
}
