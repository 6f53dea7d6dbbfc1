package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/fx"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/bgwork"
	"github.com/lameduck/lameduck/config"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lifecycle"
	"github.com/lameduck/lameduck/wsmodule"
)

// CollectorGroup collects prometheus.Collector values that join the
// registry [Module] serves ([AsCollector]).
const CollectorGroup = "lameduck.metrics.collectors"

// AsCollector annotates a constructor that returns a prometheus.Collector
// so that its metrics are served with lameduck's. It is the way in for the
// work in flight of a module this package does not know, such as the RPCs
// of a gRPC server, read at each scrape:
//
//	fx.Provide(metrics.AsCollector(func(s *rpcServer) prometheus.Collector {
//		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
//			Name:        "lameduck_grpc_rpcs_in_flight",
//			Help:        "RPCs in flight on each gRPC server.",
//			ConstLabels: prometheus.Labels{"server": s.Name()},
//		}, func() float64 { return float64(s.InFlight()) })
//	}))
func AsCollector(constructor any) any {
	return fx.Annotate(constructor, fx.ResultTags(`group:"`+CollectorGroup+`"`))
}

// Module serves lameduck's metrics on the admin server, at the path of the
// "metrics" section (/metrics), and makes the coordinator report each stop
// to them. It needs lameduck's modules (lameduck.Module or
// lameduck.WithConfig) in the app. It watches every HTTP server, every
// WebSocket hub and the task pool of the application.
//
// The registry is the app's *prometheus.Registry if it provides one, or a
// new one (with the Go runtime's and the process's metrics, unless
// runtime is false in the section). The *Metrics is provided too.
var Module = fx.Module("lameduck.metrics",
	config.Provide("metrics", DefaultSettings),
	fx.Provide(newModule),
	fx.Provide(lameduck.AsObserver(func(m *Metrics) lifecycle.Observer { return m })),
	fx.Provide(lameduck.AsRoute(newRoute)),
	fx.Invoke(watch),
)

type moduleParams struct {
	fx.In
	Settings   Settings
	Registry   *prometheus.Registry   `optional:"true"`
	Collectors []prometheus.Collector `group:"lameduck.metrics.collectors"`
}

type moduleResult struct {
	fx.Out
	Metrics *Metrics
	// Gatherer is private to the module: the registry it serves.
	Gatherer prometheus.Gatherer `name:"lameduck.metrics.gatherer"`
}

func newModule(p moduleParams) (moduleResult, error) {
	var opts []Option
	if p.Settings.Routes {
		opts = append(opts, WithRoutes())
	}
	m := New(opts...)
	reg := p.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		if p.Settings.Runtime {
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		}
	}
	for _, c := range append([]prometheus.Collector{m}, p.Collectors...) {
		if err := reg.Register(c); err != nil {
			return moduleResult{}, err
		}
	}
	return moduleResult{Metrics: m, Gatherer: reg}, nil
}

type routeParams struct {
	fx.In
	Settings Settings
	Gatherer prometheus.Gatherer `name:"lameduck.metrics.gatherer"`
}

func newRoute(p routeParams) httpmodule.Route {
	return httpmodule.Route{
		Server:  httpmodule.AdminServer,
		Pattern: "GET " + p.Settings.Path,
		Handler: promhttp.HandlerFor(p.Gatherer, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}),
		Module:  "lameduck.metrics",
	}
}

type watchParams struct {
	fx.In
	Metrics     *Metrics
	Servers     *httpmodule.Servers
	Hubs        *wsmodule.Hubs
	Pool        *bgwork.Pool
	Coordinator *lifecycle.Coordinator
}

// watch points the collector at the app's servers, hubs, pool and
// coordinator. The route is built before the servers (they serve it), so
// this is an fx.Invoke of its own.
func watch(p watchParams) {
	p.Metrics.AddServers(p.Servers.All()...)
	p.Metrics.AddHubs(p.Hubs.All()...)
	p.Metrics.AddPools(p.Pool)
	p.Metrics.AddCoordinator(p.Coordinator)
}
