package lameducktest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lifecycle"
)

// Loopback is the address every server of [Config] listens on: the loopback
// interface, port 0, so that the kernel picks a free port and parallel tests
// never clash.
const Loopback = "127.0.0.1:0"

// Config returns the settings [Start] uses: the built-in defaults (as outside
// Kubernetes, whatever the environment says) with every server and the admin
// server on [Loopback], no preStop delay, and a stop budget short enough that
// a test whose stop hangs fails within seconds, yet with room for a loaded
// CI machine to force-close and stop the admin server:
//
//	stop.total 15s = shutdown 3s + hubDrain 3s + wait 3s + reserve 2s (+ 4s to spare)
//	stop.forceGrace 500ms, stop.margin 2s
//
// A server that the test adds should listen on Loopback too:
//
//	cfg := lameducktest.Config()
//	cfg.Servers["internal"] = httpmodule.DefaultServerSettings(lameducktest.Loopback)
func Config() lameduck.Config {
	cfg := lameduck.DefaultConfig(nil)
	for name, s := range cfg.Servers {
		s.Addr = Loopback
		cfg.Servers[name] = s
	}
	cfg.Admin.Addr = Loopback
	cfg.Stop.Total = 15 * time.Second
	cfg.Stop.Reserve = 2 * time.Second
	cfg.Stop.PreStopDelay = 0
	cfg.Stop.Shutdown = 3 * time.Second
	cfg.Stop.HubDrain = 3 * time.Second
	cfg.Stop.Wait = 3 * time.Second
	cfg.Stop.ForceGrace = 500 * time.Millisecond
	cfg.Stop.Margin = 2 * time.Second
	cfg.Stop.GracePeriod = 0
	return cfg
}

// App is a started lameduck application. Its methods are safe for concurrent
// use.
type App struct {
	fx      *fx.App
	cfg     lameduck.Config
	servers *httpmodule.Servers
	coord   *lifecycle.Coordinator
	// grpcAddr finds a gRPC server's address when the app has
	// grpcmodule.Module (under its name grpcmodule.AddrName, so that this
	// package does not import gRPC).
	grpcAddr func(string) net.Addr
	// t is the test that owns the app, nil for an app from New.
	t testing.TB

	stopOnce sync.Once

	mu         sync.Mutex
	interrupts int
	stopCalled bool
	report     *lifecycle.StopReport
	stopErr    error
}

// Start builds an app from every lameduck module with [Config] and opts
// (the modules under test, fx.Populate targets, fx.Decorate replacements),
// and starts it. It fails the test at once if the app cannot be built or
// started.
//
// The app logs through t (zaptest), so its log lines show with the test's
// output when the test fails or runs with -v. When the test ends, t.Cleanup
// stops the app if the test has not, and fails the test if that stop was not
// clean: a test that leaves a request, a WebSocket or a task running finds
// out.
func Start(t testing.TB, opts ...fx.Option) *App {
	t.Helper()
	return StartWith(t, Config(), opts...)
}

// StartWith is [Start] with the settings cfg. Start from [Config] to keep
// every server on loopback port 0.
func StartWith(t testing.TB, cfg lameduck.Config, opts ...fx.Option) *App {
	t.Helper()
	level, err := zapcore.ParseLevel(cfg.Log.Level)
	if err != nil {
		level = zapcore.InfoLevel // Validate reports it when the app is built
	}
	a, err := start(cfg, zaptest.NewLogger(t, zaptest.Level(level)), opts)
	if err != nil {
		t.Fatal(err)
	}
	a.t = t
	t.Cleanup(a.cleanup)
	return a
}

// New builds and starts an app like [StartWith], outside a test: in TestMain
// for an app that a package's tests share, in examples, in tools. The app logs
// as cfg.Log says, to standard error. The caller must call [App.Stop]; where
// a test would fail, the app's methods panic.
func New(cfg lameduck.Config, opts ...fx.Option) (*App, error) {
	return start(cfg, nil, opts)
}

func start(cfg lameduck.Config, logger *zap.Logger, opts []fx.Option) (*App, error) {
	a := &App{cfg: cfg}
	// The test runner owns SIGINT: a Ctrl-C during `go test` must stop
	// the tests, not start a stop of the app. App.Interrupt stands in for
	// the signals.
	all := []fx.Option{lameduck.WithConfig(cfg), lameduck.IgnoreSignals, fx.Populate(&a.servers, &a.coord),
		fx.Invoke(func(p grpcAddrParams) { a.grpcAddr = p.Addr })}
	if logger != nil {
		all = append(all, fx.Decorate(func(*zap.Logger) *zap.Logger { return logger }))
	}
	a.fx = fx.New(append(all, opts...)...)
	if err := a.fx.Err(); err != nil {
		return nil, fmt.Errorf("lameducktest: build the app: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.fx.StartTimeout())
	defer cancel()
	if err := a.fx.Start(ctx); err != nil {
		return nil, fmt.Errorf("lameducktest: start the app: %w", err)
	}
	return a, nil
}

// fatalf fails the owning test, or panics for an app from New.
func (a *App) fatalf(format string, args ...any) {
	if a.t != nil {
		a.t.Helper()
		a.t.Fatalf(format, args...)
	}
	panic(fmt.Sprintf(format, args...))
}

// Addr returns the "host:port" that the server named server listens on:
// a key of httpmodule.Settings ("public" by default), or [httpmodule.AdminServer]
// ("admin") for the admin server with the health probes. It fails the test
// if there is no such server.
func (a *App) Addr(server string) string {
	if a.t != nil {
		a.t.Helper()
	}
	addr := a.servers.Addr(server)
	if addr == nil {
		a.fatalf("lameducktest: no server %q is running; the app has %v and %q", server, a.servers.Names(), httpmodule.AdminServer)
		return ""
	}
	return addr.String()
}

// grpcAddrParams takes grpcmodule's address finder, if the app has it.
type grpcAddrParams struct {
	fx.In
	Addr func(string) net.Addr `name:"lameduck.grpc.addr" optional:"true"`
}

// GRPCAddr returns the "host:port" that the gRPC server named server (a key
// of grpcmodule.Settings, "public" by default) listens on, for
// grpc.NewClient. It fails the test if the app has no grpcmodule.Module or
// no such server.
func (a *App) GRPCAddr(server string) string {
	if a.t != nil {
		a.t.Helper()
	}
	var addr net.Addr
	if a.grpcAddr != nil {
		addr = a.grpcAddr(server)
	}
	if addr == nil {
		a.fatalf("lameducktest: no gRPC server %q is running; add grpcmodule.Module to the app and grpc.%s to its settings", server, server)
		return ""
	}
	return addr.String()
}

// URL returns "http://host:port" for the server named server (see
// [App.Addr]). Append a path: app.URL("public") + "/hello". For a WebSocket,
// use "ws://" + app.Addr("public") + path.
func (a *App) URL(server string) string {
	if a.t != nil {
		a.t.Helper()
	}
	return "http://" + a.Addr(server)
}

// Servers returns the app's HTTP servers.
func (a *App) Servers() *httpmodule.Servers { return a.servers }

// Coordinator returns the app's stop coordinator: its Health, its Stopping
// and Done channels, its Report.
func (a *App) Coordinator() *lifecycle.Coordinator { return a.coord }

// Config returns the settings the app runs with.
func (a *App) Config() lameduck.Config { return a.cfg }

// Interrupt delivers a stop signal the way SIGTERM would, without signalling
// the test process, and returns at once. The first starts the stop (readiness
// turns off at once; call [App.Stop] to wait for the end); the second skips
// what is left of the preStop delay or forces the current phase. A third
// would exit the process, so it fails the test instead.
func (a *App) Interrupt() {
	if a.t != nil {
		a.t.Helper()
	}
	a.mu.Lock()
	a.interrupts++
	n := a.interrupts
	a.mu.Unlock()
	if n > 2 {
		a.fatalf("lameducktest: a third stop signal exits the process with %d; a test can send two", lifecycle.ExitAborted)
		return
	}
	a.coord.Interrupt("signal terminated")
}

// Stopping returns a channel that is closed when the stop begins: when
// readiness has turned off.
func (a *App) Stopping() <-chan struct{} { return a.coord.Stopping() }

// Stop stops the app the way lameduck.Run does when SIGTERM arrives, or
// joins the stop that [App.Interrupt] began, waits for the end and returns
// the stop's report. Calls after the first return the same report.
//
// The report says how the stop sequence went; check it with [RequireClean]
// or [Verify]. Stop fails the test if the stop did not end within
// stop.total + stop.margin, and reports an error of another OnStop hook (a
// database the test provided, say) with t.Error. An app from New returns a
// nil report instead and leaves the error to [App.Err].
func (a *App) Stop() *lifecycle.StopReport {
	if a.t != nil {
		a.t.Helper()
	}
	a.mu.Lock()
	a.stopCalled = true
	a.mu.Unlock()
	rep, err := a.stop()
	if a.t != nil {
		switch {
		case rep == nil:
			a.t.Fatal(err)
		case err != nil:
			a.t.Errorf("lameducktest: stop: %v", err)
		}
	}
	return rep
}

// stop stops the app once and returns the report and the error that the
// report does not cover.
func (a *App) stop() (*lifecycle.StopReport, error) {
	a.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Stop.FxStopTimeout())
		defer cancel()
		err := a.fx.Stop(ctx)
		rep := a.coord.Report()
		var se *lifecycle.StopError
		switch {
		case rep == nil:
			err = fmt.Errorf("lameducktest: the stop did not end within stop.total + stop.margin (%v): %w",
				a.cfg.Stop.FxStopTimeout(), err)
		case errors.As(err, &se):
			err = nil // the report tells
		case err != nil:
			err = fmt.Errorf("lameducktest: stop: %w", err)
		}
		a.mu.Lock()
		a.report, a.stopErr = rep, err
		a.mu.Unlock()
	})
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.report, a.stopErr
}

// Err returns the error of the app's stop that the report does not cover:
// an OnStop hook other than lameduck's failed, or the stop did not end within
// stop.total + stop.margin. It is nil before [App.Stop].
func (a *App) Err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stopErr
}

// cleanup stops the app at the end of the test, unless the test did, and
// checks that the stop was clean.
func (a *App) cleanup() {
	a.t.Helper()
	a.mu.Lock()
	called := a.stopCalled
	a.mu.Unlock()
	rep, err := a.stop()
	switch {
	case called || a.t.Failed():
		// The test has seen the report, or has failed already.
	case err != nil:
		a.t.Errorf("lameducktest: stopping the app at the end of the test: %v", err)
	default:
		if err := Verify(rep); err != nil {
			a.t.Errorf("lameducktest: the app stopped at the end of the test: %v", err)
		}
	}
}
