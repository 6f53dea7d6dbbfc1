package httpmodule

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/lameduck/lameduck/config"
	"github.com/lameduck/lameduck/lifecycle"
)

const defaultServerName = config.DefaultServerName

// Module runs the application's HTTP servers and the admin server. It
// needs config.Servers, config.Admin, the *lifecycle.Health of the
// lifecycle module and, optionally, a *zap.Logger; it collects [Route]
// values from [RouteGroup] and [Middleware] values from [MiddlewareGroup],
// provides [*Servers], and registers each server's steps with the stop
// coordinator (see [Server.Steps]).
//
// Every server binds its listener in an OnStart hook, so a busy address
// fails app.Start with an error naming the server and the address; a route
// for an unknown server, or two routes whose patterns conflict, fail
// fx.New.
var Module = fx.Module("lameduck.http",
	fx.Provide(New),
	fx.Invoke(func(*Servers) {}),
)

// Params are what [New] needs from the Fx graph.
type Params struct {
	fx.In

	Servers    config.Servers
	Admin      config.Admin
	Health     *lifecycle.Health
	Logger     *zap.Logger  `optional:"true"`
	Routes     []Route      `group:"lameduck.routes"`
	Middleware []Middleware `group:"lameduck.middleware"`
	Lifecycle  fx.Lifecycle
}

// Result is what [New] gives the Fx graph: the servers, and their steps
// for the stop coordinator.
type Result struct {
	fx.Out

	Servers *Servers
	Steps   []lifecycle.Step `group:"lameduck.steps,flatten"`
}

// New builds the servers from p and appends their start and stop hooks to
// p.Lifecycle: the admin server first, so that it stops last. Use [Module]
// rather than calling it.
func New(p Params) (Result, error) {
	log := p.Logger
	if log == nil {
		log = zap.NewNop()
	}
	log = log.Named("http")
	if _, ok := p.Servers[AdminServer]; ok {
		return Result{}, fmt.Errorf("httpmodule: servers.%s: the name %q is reserved for the admin server (admin.addr); rename the server", AdminServer, AdminServer)
	}
	routes, mws, err := byServer(p)
	if err != nil {
		return Result{}, err
	}

	servers := &Servers{byName: map[string]*Server{}}
	var errs []error
	var steps []lifecycle.Step
	if p.Admin.Enabled {
		mux, err := buildMux(AdminServer, append(adminRoutes(p.Admin, p.Health), routes[AdminServer]...))
		errs = append(errs, err)
		h := wrapMiddleware(mux, mws[AdminServer])
		servers.admin = NewServer(AdminServer, adminServerConfig(p.Admin), h, WithLogger(log), WithRouteNames(mux))
		servers.admin.admin = true
	}
	names := make([]string, 0, len(p.Servers))
	for name := range p.Servers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		mux, err := buildMux(name, routes[name])
		errs = append(errs, err)
		h := wrapMiddleware(mux, mws[name])
		servers.byName[name] = NewServer(name, p.Servers[name], h, WithLogger(log), WithRouteNames(mux))
	}
	if err := errors.Join(errs...); err != nil {
		return Result{}, err
	}

	all := make([]*Server, 0, len(names)+1)
	if servers.admin != nil {
		all = append(all, servers.admin)
	}
	for _, name := range names {
		all = append(all, servers.byName[name])
	}
	for _, s := range all {
		p.Lifecycle.Append(fx.Hook{
			OnStart: s.Start,
			// The coordinator has stopped the server by now, unless the
			// start failed later on or the stop was cut short: then close
			// what is still open.
			OnStop: func(context.Context) error { return s.Close() },
		})
		steps = append(steps, s.Steps()...)
	}
	return Result{Servers: servers, Steps: steps}, nil
}

// byServer sorts routes and middleware by the server they name, and checks
// that the server exists.
func byServer(p Params) (map[string][]Route, map[string][]Middleware, error) {
	known := func(name string) bool {
		_, ok := p.Servers[name]
		return ok || name == AdminServer && p.Admin.Enabled
	}
	var errs []error
	routes := map[string][]Route{}
	for _, r := range p.Routes {
		name := routeServer(r.Server)
		if !known(name) {
			errs = append(errs, fmt.Errorf("httpmodule: route %q of module %s is for server %q, which is not configured (servers: %s); add servers.%s to the config or fix Route.Server",
				r.Pattern, moduleName(r.Module), name, serverList(p), name))
			continue
		}
		routes[name] = append(routes[name], r)
	}
	mws := map[string][]Middleware{}
	for _, m := range p.Middleware {
		name := routeServer(m.Server)
		if m.Wrap == nil {
			errs = append(errs, fmt.Errorf("httpmodule: middleware %q has no Wrap function", m.Name))
			continue
		}
		if name == AllServers {
			for s := range p.Servers {
				mws[s] = append(mws[s], m)
			}
			continue
		}
		if !known(name) {
			errs = append(errs, fmt.Errorf("httpmodule: middleware %q is for server %q, which is not configured (servers: %s)", m.Name, name, serverList(p)))
			continue
		}
		mws[name] = append(mws[name], m)
	}
	return routes, mws, errors.Join(errs...)
}

func serverList(p Params) string {
	names := make([]string, 0, len(p.Servers)+1)
	for n := range p.Servers {
		names = append(names, n)
	}
	slices.Sort(names)
	if p.Admin.Enabled {
		names = append(names, AdminServer)
	}
	return strings.Join(names, ", ")
}
