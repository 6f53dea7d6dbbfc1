package grpcmodule_test

import (
	"context"
	"fmt"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/lameduck/lameduck/examples/starter/grpcfeed"
	"github.com/lameduck/lameduck/grpcmodule"
	"github.com/lameduck/lameduck/lifecycle"
)

// Without Fx: a server registers its steps with a coordinator, which stops
// it in order; its health service answers from the coordinator's Health.
func ExampleNewServer() {
	coordinator := lifecycle.New(lifecycle.DefaultSettings(nil))
	srv := grpcmodule.NewServer("public", grpcmodule.DefaultServerSettings("127.0.0.1:0"),
		grpcmodule.WithHealth(coordinator.Health()))
	srv.RegisterService(&grpcfeed.Desc, &grpcfeed.Feed{})
	if err := srv.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	if err := coordinator.Register(srv.Steps()...); err != nil {
		fmt.Println(err)
		return
	}
	coordinator.Started() // the start-up gate: the health service says SERVING from now on

	cc := dialExample(srv.Addr().String())
	defer cc.Close()
	resp, err := healthpb.NewHealthClient(cc).Check(context.Background(), &healthpb.HealthCheckRequest{})
	fmt.Println(resp.GetStatus(), err)

	report, err := coordinator.Stop(context.Background())
	fmt.Println("clean:", report.Clean(), err)
	// Output:
	// SERVING <nil>
	// clean: true <nil>
}
