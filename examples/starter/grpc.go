package main

import (
	"go.uber.org/fx"

	"github.com/lameduck/lameduck/examples/starter/grpcfeed"
	"github.com/lameduck/lameduck/grpcmodule"
)

// grpcService is the starter's gRPC server "public" with the Feed service
// (examples/starter/grpcfeed: unary Echo and Wait, server-streaming
// Subscribe), the health service and reflection. It listens on a free
// loopback port unless LAMEDUCK_GRPC_PUBLIC_ADDR (or grpc.public.addr in
// the file) says otherwise, so that copies of the starter that tests and
// benchmarks run side by side never clash; the address is logged as "grpc
// server listening". In a pod, set LAMEDUCK_GRPC_PUBLIC_ADDR=:9000.
var grpcService = fx.Options(
	grpcmodule.ModuleWithDefaults(func([]string) grpcmodule.Settings {
		s := grpcmodule.DefaultServerSettings("127.0.0.1:0")
		s.Reflection = true
		return grpcmodule.Settings{grpcmodule.DefaultServerName: s}
	}),
	fx.Provide(grpcmodule.AsService(func() grpcmodule.Service {
		return grpcmodule.Service{Desc: &grpcfeed.Desc, Impl: &grpcfeed.Feed{}}
	})),
)
