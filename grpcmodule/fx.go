package grpcmodule

import (
	"context"
	"net"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/lameduck/lameduck/config"
	"github.com/lameduck/lameduck/lifecycle"
)

// Value groups of the gRPC servers.
const (
	// ServiceGroup collects [Service] values.
	ServiceGroup = "lameduck.grpc.services"
	// InterceptorGroup collects [Interceptor] values.
	InterceptorGroup = "lameduck.grpc.interceptors"
)

// AddrName names the func(server string) net.Addr that [Module] provides,
// so that test helpers find the gRPC servers' addresses without importing
// this package (and gRPC).
const AddrName = "lameduck.grpc.addr"

// AsService annotates a constructor that returns a [Service] so that its
// service is served:
//
//	fx.Provide(grpcmodule.AsService(func(db *DB) grpcmodule.Service {
//		return grpcmodule.Service{Desc: &pb.Orders_ServiceDesc, Impl: newOrders(db)}
//	}))
func AsService(constructor any) any { return inGroup(constructor, ServiceGroup) }

// AsInterceptor annotates a constructor that returns an [Interceptor] so
// that it wraps its server's RPCs.
func AsInterceptor(constructor any) any { return inGroup(constructor, InterceptorGroup) }

func inGroup(constructor any, group string) any {
	return fx.Annotate(constructor, fx.ResultTags(`group:"`+group+`"`))
}

// Module runs the gRPC servers of the "grpc" section with the services of
// [ServiceGroup] and the interceptors of [InterceptorGroup], and provides
// *[Servers]. It needs lameduck's modules in the app (lameduck.Module or
// lameduck.WithConfig): the servers' steps join the stop, and their health
// service answers from the same *lifecycle.Health as /readyz. Every server
// binds its listener in an OnStart hook, so a busy address fails app.Start
// with an error naming the server and the setting to change.
var Module = ModuleWithDefaults(DefaultSettings)

// ModuleWithDefaults is [Module] with other built-in defaults for the
// "grpc" section: what the file and the LAMEDUCK_GRPC_* variables leave
// unset comes from defaults(environ). A program whose gRPC server should
// not take a fixed port unless configured starts from port 0:
//
//	grpcmodule.ModuleWithDefaults(func([]string) grpcmodule.Settings {
//		return grpcmodule.Settings{"public": grpcmodule.DefaultServerSettings("127.0.0.1:0")}
//	})
func ModuleWithDefaults(defaults func(environ []string) Settings) fx.Option {
	return fx.Module("lameduck.grpc",
		config.Provide("grpc", defaults),
		fx.Provide(newModule),
		fx.Invoke(func(*Servers) {}),
	)
}

// Loopback returns s with every server on 127.0.0.1 port 0, for tests:
//
//	lameducktest.Start(t, grpcmodule.Module, fx.Decorate(grpcmodule.Loopback), ...)
func Loopback(s Settings) Settings {
	out := Settings{}
	for name, srv := range s {
		srv.Addr = "127.0.0.1:0"
		out[name] = srv
	}
	return out
}

type moduleParams struct {
	fx.In
	Settings     Settings
	Health       *lifecycle.Health
	Logger       *zap.Logger   `optional:"true"`
	Services     []Service     `group:"lameduck.grpc.services"`
	Interceptors []Interceptor `group:"lameduck.grpc.interceptors"`
	LC           fx.Lifecycle
}

type moduleResult struct {
	fx.Out
	Servers *Servers
	Addr    func(server string) net.Addr `name:"lameduck.grpc.addr"`
	Steps   []lifecycle.Step             `group:"lameduck.steps,flatten"`
}

func newModule(p moduleParams) (moduleResult, error) {
	servers, err := NewServers(ServersConfig{Settings: p.Settings, Health: p.Health,
		Services: p.Services, Interceptors: p.Interceptors, Logger: p.Logger})
	if err != nil {
		return moduleResult{}, err
	}
	for _, s := range servers.All() {
		p.LC.Append(fx.Hook{
			OnStart: s.Start,
			// The coordinator has stopped the server by now, unless the
			// start failed later on or the stop was cut short.
			OnStop: func(context.Context) error { return s.Close() },
		})
	}
	return moduleResult{Servers: servers, Addr: servers.Addr, Steps: servers.Steps()}, nil
}
