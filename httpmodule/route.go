package httpmodule

import "net/http"

// Route is one handler on a named server, which Route.Server names. In an
// Fx application, modules contribute routes with lameduck.AsRoute.
type Route struct {
	// Server names the server, a key of the servers' [Settings]. Empty
	// means [DefaultServerName] ("public").
	Server string
	// Pattern is a Go 1.22 ServeMux pattern: "[METHOD ][HOST]/[PATH]", with
	// wildcards such as "GET /items/{id}" or "/static/{path...}".
	Pattern string
	// Handler serves the route.
	Handler http.Handler
	// Module names the module that registered the route, for error
	// messages about conflicting patterns. Optional.
	Module string
}
