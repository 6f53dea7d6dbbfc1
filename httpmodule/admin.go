package httpmodule

import (
	"net/http"
	"net/http/pprof"

	"github.com/lameduck/lameduck/lifecycle"
)

// AdminServer is the name of the admin server, in [Servers.Server] and in
// [Route.Server] for routes (metrics, debug pages) that belong on the admin
// port. An application server cannot have this name.
const AdminServer = "admin"

// adminRoutes are the admin server's own routes: the health probes and,
// when enabled, pprof.
func adminRoutes(a AdminSettings, h *lifecycle.Health) []Route {
	const module = "lameduck.http.admin"
	routes := []Route{
		{Server: AdminServer, Pattern: "/livez", Handler: h.Livez(), Module: module},
		{Server: AdminServer, Pattern: "/readyz", Handler: h.Readyz(), Module: module},
	}
	if a.Pprof {
		for pattern, handler := range map[string]http.HandlerFunc{
			"/debug/pprof/":        pprof.Index,
			"/debug/pprof/cmdline": pprof.Cmdline,
			"/debug/pprof/profile": pprof.Profile,
			"/debug/pprof/symbol":  pprof.Symbol,
			"/debug/pprof/trace":   pprof.Trace,
		} {
			routes = append(routes, Route{Server: AdminServer, Pattern: pattern, Handler: handler, Module: module})
		}
	}
	return routes
}
