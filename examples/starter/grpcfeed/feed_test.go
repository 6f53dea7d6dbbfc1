package grpcfeed_test

import (
	"testing"

	"go.uber.org/fx"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/lameduck/lameduck/examples/starter/grpcfeed"
	"github.com/lameduck/lameduck/grpcmodule"
	"github.com/lameduck/lameduck/lameducktest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestModule(t *testing.T) {
	app := lameducktest.Start(t, grpcfeed.Module, fx.Decorate(grpcmodule.Loopback))
	cc, err := grpc.NewClient("passthrough:///"+app.GRPCAddr("public"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if n, err := grpcfeed.CallSubscribe(t.Context(), cc, "n=3&every=1ms&size=100", nil); n != 3 || err != nil {
		t.Fatalf("Subscribe: %d, %v; want 3 messages", n, err)
	}
	if err := grpcfeed.CallWait(t.Context(), cc, 0); err != nil {
		t.Fatal(err)
	}
	lameducktest.RequireClean(t, app.Stop())
}
