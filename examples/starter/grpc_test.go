package main

import (
	"slices"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/lameduck/lameduck/examples/starter/grpcfeed"
	"github.com/lameduck/lameduck/lameducktest"
)

// The starter's gRPC server serves Feed, the health service and
// reflection; a Subscribe stream in flight at the stop ends with
// UNAVAILABLE, every message intact, and the stop is clean.
func TestStarterGRPC(t *testing.T) {
	app := lameducktest.Start(t, service, grpcService)
	cc, err := grpc.NewClient("passthrough:///"+app.GRPCAddr("public"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx := t.Context()
	if err := grpcfeed.CallEcho(ctx, cc, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{Service: grpcfeed.Service}); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v, %v", resp.GetStatus(), err)
	}
	refl, err := reflectionpb.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := refl.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := refl.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if !slices.Contains(names, grpcfeed.Service) || !slices.Contains(names, "grpc.health.v1.Health") {
		t.Fatalf("reflection lists %v", names)
	}
	if err := refl.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{
		FileContainingSymbol: grpcfeed.Service}}); err != nil {
		t.Fatal(err)
	}
	if resp, err := refl.Recv(); err != nil || len(resp.GetFileDescriptorResponse().GetFileDescriptorProto()) == 0 {
		t.Fatalf("reflection cannot describe %s: %v, %v", grpcfeed.Service, resp.GetErrorResponse(), err)
	}
	_ = refl.CloseSend()
	if _, err := refl.Recv(); err == nil {
		t.Fatal("reflection stream still open after CloseSend")
	}

	started := make(chan struct{})
	type result struct {
		n   int
		err error
	}
	res := make(chan result, 1)
	go func() {
		n, err := grpcfeed.CallSubscribe(ctx, cc, "n=100000&every=1ms&size=256", func() { close(started) })
		res <- result{n, err}
	}()
	<-started
	rep := app.Stop()
	if r := <-res; status.Code(r.err) != codes.Unavailable || r.n == 0 {
		t.Fatalf("Subscribe at the stop: %d messages, %v; want some, then UNAVAILABLE", r.n, r.err)
	}
	lameducktest.RequireClean(t, rep)
}
