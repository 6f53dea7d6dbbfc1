package lameduck

import (
	"context"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lifecycle"
)

// Value groups of the HTTP servers.
const (
	// RouteGroup collects httpmodule.Route values.
	RouteGroup = "lameduck.routes"
	// MiddlewareGroup collects httpmodule.Middleware values.
	MiddlewareGroup = "lameduck.middleware"
)

// AsRoute annotates a constructor that returns an httpmodule.Route so that
// its route is served:
//
//	fx.Provide(lameduck.AsRoute(func(db *DB) httpmodule.Route {
//		return httpmodule.Route{Pattern: "GET /orders/{id}", Handler: ordersHandler(db)}
//	}))
func AsRoute(constructor any) any { return inGroup(constructor, RouteGroup) }

// AsMiddleware annotates a constructor that returns an httpmodule.Middleware
// so that it wraps its server's routes:
//
//	fx.Provide(lameduck.AsMiddleware(func(log *zap.Logger) httpmodule.Middleware {
//		return httpmodule.Middleware{Name: "access-log", Wrap: accessLog(log)}
//	}))
func AsMiddleware(constructor any) any { return inGroup(constructor, MiddlewareGroup) }

// httpModule runs the application's HTTP servers and the admin server from
// the "servers" and "admin" sections, with the routes of RouteGroup and the
// middleware of MiddlewareGroup, and provides *httpmodule.Servers. Every
// server binds its listener in an OnStart hook (the admin server first, so
// that it stops last), so a busy address fails app.Start with an error
// naming the server and the setting to change; a route for an unknown
// server, or two routes whose patterns conflict, fail fx.New.
var httpModule = fx.Module("lameduck.http",
	fx.Provide(newServers),
	fx.Invoke(func(*httpmodule.Servers) {}),
)

type serversParams struct {
	fx.In
	Servers    httpmodule.Settings
	Admin      httpmodule.AdminSettings
	Health     *lifecycle.Health
	Logger     *zap.Logger             `optional:"true"`
	Routes     []httpmodule.Route      `group:"lameduck.routes"`
	Middleware []httpmodule.Middleware `group:"lameduck.middleware"`
	LC         fx.Lifecycle
}

type serversResult struct {
	fx.Out
	Servers *httpmodule.Servers
	Steps   []lifecycle.Step `group:"lameduck.steps,flatten"`
}

func newServers(p serversParams) (serversResult, error) {
	servers, err := httpmodule.NewServers(httpmodule.ServersConfig{
		Servers: p.Servers, Admin: p.Admin, Health: p.Health,
		Routes: p.Routes, Middleware: p.Middleware, Logger: p.Logger,
	})
	if err != nil {
		return serversResult{}, err
	}
	for _, s := range servers.All() {
		p.LC.Append(fx.Hook{
			OnStart: s.Start,
			// The coordinator has stopped the server by now, unless the
			// start failed later on or the stop was cut short: then close
			// what is still open.
			OnStop: func(context.Context) error { return s.Close() },
		})
	}
	return serversResult{Servers: servers, Steps: servers.Steps()}, nil
}
