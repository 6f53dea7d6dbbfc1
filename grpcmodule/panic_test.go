package grpcmodule_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/grpcmodule"
	"github.com/lameduck/lameduck/lameducktest"
	"github.com/lameduck/lameduck/lifecycle"
)

var panicDesc = grpc.ServiceDesc{
	ServiceName: "test.Panic",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{MethodName: "Now", Handler: func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
		if err := dec(new(emptypb.Empty)); err != nil {
			return nil, err
		}
		return ic(ctx, nil, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/test.Panic/Now"}, func(context.Context, any) (any, error) {
			panic("a bug")
		})
	}}},
}

// A handler's panic answers INTERNAL instead of ending the process; one
// after readiness off makes the stop unclean and is named.
func TestHandlerPanic(t *testing.T) {
	cfg := lameducktest.Config()
	cfg.Stop.PreStopDelay = 10 * time.Second // cut short by a second signal
	cfg.Stop.Total = 25 * time.Second
	// The preStop delay starts once every readiness-off step has run, the
	// server's among them: a panic from then on is one after readiness off.
	delaying := make(chan struct{})
	var once sync.Once
	observe := lifecycle.ObserverFunc(func(e lifecycle.Event) {
		if e.Kind == lifecycle.PhaseStarted && e.Phase == lifecycle.PreStopDelay {
			once.Do(func() { close(delaying) })
		}
	})
	app := startAppWith(t, cfg, nil, nil, fxService(grpcmodule.Service{Desc: &panicDesc, Impl: struct{}{}}),
		fx.Provide(lameduck.AsObserver(func() lifecycle.Observer { return observe })))
	cc := dial(t, app.GRPCAddr("public"))
	call := func() error { return cc.Invoke(t.Context(), "/test.Panic/Now", &emptypb.Empty{}, new(emptypb.Empty)) }
	if err := call(); status.Code(err) != codes.Internal {
		t.Fatalf("a panicking handler: %v; want INTERNAL", err)
	}
	if err := call(); status.Code(err) != codes.Internal {
		t.Fatalf("the server after a panic: %v; want it still serving", err)
	}
	app.Interrupt()
	<-delaying
	if err := call(); status.Code(err) != codes.Internal {
		t.Fatalf("a panic in the preStop delay: %v; want INTERNAL", err)
	}
	app.Interrupt() // skip the rest of the delay
	rep := app.Stop()
	if rep.Clean() {
		t.Fatalf("a handler panicked during the stop and the report is clean:\n%v", rep)
	}
	var named int
	for _, s := range rep.Stragglers() {
		if s.Name == "/test.Panic/Now" && strings.Contains(s.Detail, "the handler panicked: a bug") {
			named++
		}
	}
	if named != 1 {
		t.Fatalf("the report names %d panics, want the 1 after readiness off:\n%v", named, rep)
	}
}
