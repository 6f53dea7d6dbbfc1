package grpcmodule_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/lameduck/lameduck/examples/starter/grpcfeed"
	"github.com/lameduck/lameduck/grpcmodule"
	"github.com/lameduck/lameduck/lameducktest"
	"github.com/lameduck/lameduck/lifecycle"
)

// The health service says NOT_SERVING until the application has started
// (the coordinator's start-up gate), SERVING from then on.
func TestHealthWaitsForStartUp(t *testing.T) {
	coordinator := lifecycle.New(lifecycle.DefaultSettings(nil))
	srv := grpcmodule.NewServer("public", grpcmodule.DefaultServerSettings("127.0.0.1:0"), grpcmodule.WithHealth(coordinator.Health()))
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hc := healthpb.NewHealthClient(dial(t, srv.Addr().String()))
	check := func() healthpb.HealthCheckResponse_ServingStatus {
		resp, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetStatus()
	}
	if st := check(); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("before start-up: %v, want NOT_SERVING", st)
	}
	coordinator.Started()
	if st := check(); st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("after start-up: %v, want SERVING", st)
	}
}

// An open Watch runs the readiness checks again every healthRecheck and
// sends the change.
func TestWatchFollowsReadinessChecks(t *testing.T) {
	app := startApp(t, nil, func(s *grpcmodule.ServerSettings) { s.HealthRecheck = 5 * time.Millisecond })
	var mu sync.Mutex
	var fail error
	app.Coordinator().Health().AddReadinessCheck(lifecycleCheck("db", func() error {
		mu.Lock()
		defer mu.Unlock()
		return fail
	}))
	watch, err := healthpb.NewHealthClient(dial(t, app.GRPCAddr("public"))).Watch(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := func(st healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		m, err := watch.Recv()
		if err != nil || m.GetStatus() != st {
			t.Fatalf("Watch: %v, %v; want %v", m.GetStatus(), err, st)
		}
	}
	want(healthpb.HealthCheckResponse_SERVING)
	mu.Lock()
	fail = errors.New("the database is away")
	mu.Unlock()
	want(healthpb.HealthCheckResponse_NOT_SERVING)
	mu.Lock()
	fail = nil
	mu.Unlock()
	want(healthpb.HealthCheckResponse_SERVING)
	lameducktest.RequireClean(t, app.Stop())
}

// Interceptors run in Order, inside the RPC tracking (they see Draining's
// channel), on the servers they name; one for a server that does not exist
// fails the app's construction with every problem at once.
func TestInterceptors(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	ic := func(name string, order int, server string) func() grpcmodule.Interceptor {
		return func() grpcmodule.Interceptor {
			return grpcmodule.Interceptor{Name: name, Order: order, Server: server,
				Unary: func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
					mu.Lock()
					seen = append(seen, name)
					if grpcmodule.Draining(ctx) == nil {
						seen = append(seen, "untracked")
					}
					mu.Unlock()
					return h(ctx, req)
				}}
		}
	}
	app := startApp(t, nil, nil,
		fx.Provide(grpcmodule.AsInterceptor(ic("second", 2, "")), grpcmodule.AsInterceptor(ic("first", 1, grpcmodule.AllServers))))
	if err := grpcfeed.CallEcho(t.Context(), dial(t, app.GRPCAddr("public")), []byte("x")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := strings.Join(seen, ",")
	mu.Unlock()
	if got != "first,second" {
		t.Fatalf("interceptors ran as %q, want first,second inside the tracking", got)
	}
	lameducktest.RequireClean(t, app.Stop())

	_, err := grpcmodule.NewServers(grpcmodule.ServersConfig{
		Settings: grpcmodule.DefaultSettings(nil),
		Services: []grpcmodule.Service{
			{Server: "other", Desc: &grpcfeed.Desc, Impl: &grpcfeed.Feed{}},
			{Desc: &healthpb.Health_ServiceDesc, Impl: struct{}{}},
		},
		Interceptors: []grpcmodule.Interceptor{{Name: "nothing"}, {Name: "lost", Server: "other", Unary: grpc.UnaryServerInterceptor(nil)}},
	})
	for _, want := range []string{`is for server "other", which is not configured`, "does not implement", `interceptor "nothing" has neither`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewServers error %v; want it to say %q", err, want)
		}
	}
}
