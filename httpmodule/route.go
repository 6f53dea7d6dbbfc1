package httpmodule

import (
	"net/http"

	"go.uber.org/fx"
)

// Route is one handler on a named server. Modules contribute routes through
// the value group [RouteGroup] (see [AsRoute]); the server that Route.Server
// names serves them.
type Route struct {
	// Server names the server, a key of config.Servers. Empty means
	// config.DefaultServerName ("public").
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

// RouteGroup is the Fx value group that collects [Route] values.
const RouteGroup = "lameduck.routes"

// AsRoute annotates a constructor that returns a [Route] so that its route
// is served:
//
//	fx.Provide(httpmodule.AsRoute(func(db *DB) httpmodule.Route {
//		return httpmodule.Route{Pattern: "GET /orders/{id}", Handler: ordersHandler(db)}
//	}))
func AsRoute(constructor any) any {
	return fx.Annotate(constructor, fx.ResultTags(`group:"`+RouteGroup+`"`))
}
