package httpmodule

import "net/http"

// Middleware wraps the routes of an application server, for example to log
// requests, check authentication or add headers. In an Fx application,
// modules contribute middleware with lameduck.AsMiddleware.
type Middleware struct {
	// Server names the server whose routes the middleware wraps: a key of
	// the servers' [Settings], empty for [DefaultServerName] ("public"), or
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
