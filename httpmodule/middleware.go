package httpmodule

import (
	"net/http"

	"go.uber.org/fx"
)

// Middleware wraps the routes of an application server, for example to log
// requests, check authentication or add headers. Modules contribute
// middleware through the value group [MiddlewareGroup] (see
// [AsMiddleware]).
type Middleware struct {
	// Server names the server whose routes the middleware wraps: a key of
	// config.Servers, empty for config.DefaultServerName ("public"), or
	// [AllServers] for every application server (not the admin server).
	Server string
	// Name identifies the middleware in errors.
	Name string
	// Order sorts the middleware of one server: the lowest runs first
	// (outermost). Middleware of equal order run in the order of their
	// names. Value groups have no order of their own, so set it whenever
	// the order matters.
	Order int
	// Wrap returns a handler that does the middleware's work and calls
	// next.
	Wrap func(next http.Handler) http.Handler
}

// AllServers in [Middleware.Server] applies the middleware to every
// application server.
const AllServers = "*"

// MiddlewareGroup is the Fx value group that collects [Middleware] values.
const MiddlewareGroup = "lameduck.middleware"

// AsMiddleware annotates a constructor that returns a [Middleware] so that
// it wraps its server's routes:
//
//	fx.Provide(httpmodule.AsMiddleware(func(log *zap.Logger) httpmodule.Middleware {
//		return httpmodule.Middleware{Name: "access-log", Wrap: accessLog(log)}
//	}))
func AsMiddleware(constructor any) any {
	return fx.Annotate(constructor, fx.ResultTags(`group:"`+MiddlewareGroup+`"`))
}
