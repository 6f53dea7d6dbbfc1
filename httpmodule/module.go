package httpmodule

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/lameduck/lameduck/lifecycle"
)

// ServersConfig is what [NewServers] builds the servers of an application
// from.
type ServersConfig struct {
	// Servers are the application servers' settings, by name.
	Servers Settings
	// Admin configures the admin server.
	Admin AdminSettings
	// Health answers the admin server's /livez and /readyz.
	Health *lifecycle.Health
	// Routes and Middleware are the handlers and wrappers of every server;
	// each names its server (empty: the default server).
	Routes     []Route
	Middleware []Middleware
	// Logger logs what the servers do; nil logs nothing.
	Logger *zap.Logger
}

// NewServers builds the application's servers and the admin server from
// cfg, stopped: start each with [Server.Start] (the admin server first),
// and register [Servers.Steps] with the coordinator. It fails, with every
// problem at once, for a route or middleware that names a server that does
// not exist and for routes whose patterns are invalid or conflict.
func NewServers(cfg ServersConfig) (*Servers, error) {
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	log = log.Named("http")
	if _, ok := cfg.Servers[AdminServer]; ok {
		return nil, fmt.Errorf("httpmodule: servers.%s: the name %q is reserved for the admin server (admin.addr); rename the server", AdminServer, AdminServer)
	}
	routes, mws, err := byServer(cfg)
	if err != nil {
		return nil, err
	}
	servers := &Servers{byName: map[string]*Server{}}
	var errs []error
	if cfg.Admin.Enabled {
		mux, err := buildMux(AdminServer, append(adminRoutes(cfg.Admin, cfg.Health), routes[AdminServer]...))
		errs = append(errs, err)
		h := wrapMiddleware(mux, mws[AdminServer])
		servers.admin = NewServer(AdminServer, DefaultServerSettings(cfg.Admin.Addr), h, WithLogger(log), WithRouteNames(mux))
		servers.admin.admin = true
		servers.admin.addrKey = "admin.addr (LAMEDUCK_ADMIN_ADDR)"
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Servers)) {
		mux, err := buildMux(name, routes[name])
		errs = append(errs, err)
		h := wrapMiddleware(mux, mws[name])
		s := NewServer(name, cfg.Servers[name], h, WithLogger(log), WithRouteNames(mux))
		s.addrKey = fmt.Sprintf("servers.%s.addr (LAMEDUCK_SERVERS_%s_ADDR)", name, strings.ToUpper(name))
		s.settingsKey = "servers." + name
		servers.byName[name] = s
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return servers, nil
}

// byServer sorts routes and middleware by the server they name, and checks
// that the server exists.
func byServer(cfg ServersConfig) (map[string][]Route, map[string][]Middleware, error) {
	known := func(name string) bool {
		_, ok := cfg.Servers[name]
		return ok || name == AdminServer && cfg.Admin.Enabled
	}
	var errs []error
	routes := map[string][]Route{}
	for _, r := range cfg.Routes {
		name := routeServer(r.Server)
		if !known(name) {
			errs = append(errs, fmt.Errorf("httpmodule: route %q of module %s is for server %q, which is not configured (servers: %s); add servers.%s to the config or fix Route.Server",
				r.Pattern, moduleName(r.Module), name, serverList(cfg), name))
			continue
		}
		routes[name] = append(routes[name], r)
	}
	mws := map[string][]Middleware{}
	for _, m := range cfg.Middleware {
		name := routeServer(m.Server)
		if m.Wrap == nil {
			errs = append(errs, fmt.Errorf("httpmodule: middleware %q has no Wrap function", m.Name))
			continue
		}
		if name == AllServers {
			for s := range cfg.Servers {
				mws[s] = append(mws[s], m)
			}
			continue
		}
		if !known(name) {
			errs = append(errs, fmt.Errorf("httpmodule: middleware %q is for server %q, which is not configured (servers: %s)", m.Name, name, serverList(cfg)))
			continue
		}
		mws[name] = append(mws[name], m)
	}
	return routes, mws, errors.Join(errs...)
}

func serverList(cfg ServersConfig) string {
	names := slices.Sorted(maps.Keys(cfg.Servers))
	if cfg.Admin.Enabled {
		names = append(names, AdminServer)
	}
	return strings.Join(names, ", ")
}
