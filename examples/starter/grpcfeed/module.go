package grpcfeed

import (
	"go.uber.org/fx"

	"github.com/lameduck/lameduck/grpcmodule"
)

// snippet:start module
// Module serves Feed on the gRPC server "public" (grpc.public.addr, :9000
// by default), beside the health service; with lameduck.Run or
// lameduck.Module, its stop is a part of the application's.
var Module = fx.Options(
	grpcmodule.Module,
	fx.Provide(grpcmodule.AsService(func() grpcmodule.Service {
		return grpcmodule.Service{Desc: &Desc, Impl: &Feed{}}
	})),
)

// snippet:end module
