package grpcmodule_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/fx"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/examples/starter/grpcfeed"
	"github.com/lameduck/lameduck/grpcmodule"
	"github.com/lameduck/lameduck/lameducktest"
	"github.com/lameduck/lameduck/lifecycle"
)

// holdService is a test service whose handlers wait for the test: Block
// (unary) and Hold (server-streaming: one message, the wait, a last
// message). With stubborn set they ignore their context, as a handler
// with a bug does.
type holdService struct {
	entered  chan string
	release  chan struct{}
	stubborn bool
}

func newHold(stubborn bool) *holdService {
	return &holdService{entered: make(chan string, 16), release: make(chan struct{}), stubborn: stubborn}
}

// wait waits for the release, or for ctx unless stubborn.
func (h *holdService) wait(ctx context.Context) error {
	if h.stubborn {
		<-h.release
		return nil
	}
	select {
	case <-h.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var holdDesc = grpc.ServiceDesc{
	ServiceName: "test.Hold",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{MethodName: "Block", Handler: func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
		in := new(emptypb.Empty)
		if err := dec(in); err != nil {
			return nil, err
		}
		call := func(ctx context.Context, _ any) (any, error) {
			h := srv.(*holdService)
			h.entered <- "Block"
			if err := h.wait(ctx); err != nil {
				return nil, err
			}
			return &emptypb.Empty{}, nil
		}
		if ic == nil {
			return call(ctx, in)
		}
		return ic(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/test.Hold/Block"}, call)
	}}},
	Streams: []grpc.StreamDesc{{StreamName: "Hold", ServerStreams: true, Handler: func(srv any, stream grpc.ServerStream) error {
		h := srv.(*holdService)
		if err := stream.RecvMsg(new(emptypb.Empty)); err != nil {
			return err
		}
		if err := stream.SendMsg(wrapperspb.String("first")); err != nil {
			return err
		}
		h.entered <- "Hold"
		if err := h.wait(stream.Context()); err != nil {
			return err
		}
		return stream.SendMsg(wrapperspb.String("last"))
	}}},
}

// startApp starts an app with the gRPC module on loopback, the Feed and
// hold services, and the settings changed by edit.
func startApp(t *testing.T, hold *holdService, edit func(*grpcmodule.ServerSettings), opts ...fx.Option) *lameducktest.App {
	t.Helper()
	cfg := lameducktest.Config()
	cfg.Stop.Shutdown = 2 * time.Second
	return startAppWith(t, cfg, hold, edit, opts...)
}

func startAppWith(t *testing.T, cfg lameduck.Config, hold *holdService, edit func(*grpcmodule.ServerSettings), opts ...fx.Option) *lameducktest.App {
	t.Helper()
	all := []fx.Option{
		grpcmodule.Module,
		fx.Decorate(func(s grpcmodule.Settings) grpcmodule.Settings {
			s = grpcmodule.Loopback(s)
			srv := s[grpcmodule.DefaultServerName]
			if edit != nil {
				edit(&srv)
			}
			s[grpcmodule.DefaultServerName] = srv
			return s
		}),
		fx.Provide(grpcmodule.AsService(func() grpcmodule.Service {
			return grpcmodule.Service{Desc: &grpcfeed.Desc, Impl: &grpcfeed.Feed{}}
		})),
	}
	if hold != nil {
		all = append(all, fx.Provide(grpcmodule.AsService(func() grpcmodule.Service {
			return grpcmodule.Service{Desc: &holdDesc, Impl: hold}
		})))
	}
	return lameducktest.StartWith(t, cfg, append(all, opts...)...)
}

// dial returns a client of addr, closed when the test ends.
func dial(t *testing.T, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// holdStream opens Hold and returns it once the handler has sent its first
// message and waits.
func holdStream(t *testing.T, ctx context.Context, cc *grpc.ClientConn, hold *holdService) grpc.ClientStream {
	t.Helper()
	st, err := cc.NewStream(ctx, &holdDesc.Streams[0], "/test.Hold/Hold")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SendMsg(&emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	first := new(wrapperspb.StringValue)
	if err := st.RecvMsg(first); err != nil || first.GetValue() != "first" {
		t.Fatalf("Hold: first message %q, %v", first.GetValue(), err)
	}
	if got := <-hold.entered; got != "Hold" {
		t.Fatalf("entered %q, want Hold", got)
	}
	return st
}

func lifecycleCheck(name string, f func() error) lifecycle.ReadinessCheck {
	return lifecycle.ReadinessCheck{Name: name, Check: func(context.Context) error { return f() }}
}

func dialExample(addr string) *grpc.ClientConn {
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		panic(err)
	}
	return cc
}

// fxService provides svc through the services' value group.
func fxService(svc grpcmodule.Service) fx.Option {
	return fx.Provide(grpcmodule.AsService(func() grpcmodule.Service { return svc }))
}
