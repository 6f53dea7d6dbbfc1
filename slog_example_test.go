package lameduck_test

import (
	"context"
	"log/slog"
	"os"
	"time"

	"go.uber.org/fx"

	"github.com/lameduck/lameduck"
)

// An application that logs with log/slog: lameduck's lines reach its
// handler, the stop's among them. (This handler keeps only the level, the
// message and a few attributes, so that the output does not vary from run
// to run.)
func ExampleWithSlog() {
	keep := map[string]bool{slog.LevelKey: true, slog.MessageKey: true, "logger": true, "phase": true, "outcome": true, "clean": true}
	h := slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) > 0 || !keep[a.Key] {
			return slog.Attr{}
		}
		return a
	}})
	cfg := lameduck.DefaultConfig(nil)
	public := cfg.Servers["public"]
	public.Addr = "127.0.0.1:0"
	cfg.Servers["public"] = public
	cfg.Admin.Addr = "127.0.0.1:0"
	app := fx.New(lameduck.WithConfig(cfg), lameduck.WithSlog(slog.New(h)))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		panic(err)
	}
	if err := app.Stop(ctx); err != nil {
		panic(err)
	}
	// Output:
	// level=INFO msg="http server listening" logger=http
	// level=INFO msg="http server listening" logger=http
	// level=INFO msg="serving; stop budget set" logger=lameduck
	// level=INFO msg="stop begins" logger=lameduck
	// level=INFO msg="stop phase ended" logger=lameduck phase=readiness-off outcome=completed
	// level=INFO msg="stop phase ended" logger=lameduck phase=prestop-delay outcome=completed
	// level=INFO msg="http server stopped" logger=http
	// level=INFO msg="stop phase ended" logger=lameduck phase=shutdown outcome=completed
	// level=INFO msg="stop phase ended" logger=lameduck phase=hub-drain outcome=completed
	// level=INFO msg="stop phase ended" logger=lameduck phase=wait outcome=completed
	// level=INFO msg="http server stopped" logger=http
	// level=INFO msg="stop phase ended" logger=lameduck phase=final outcome=completed
	// level=INFO msg="stop ended" logger=lameduck clean=true
}
