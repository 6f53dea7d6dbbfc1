package grpcmodule_test

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lameduck/lameduck/examples/starter/grpcfeed"
	"github.com/lameduck/lameduck/grpcmodule"
)

// floodDesc is a server-streaming method that sends as many 1 KiB messages
// as the request's value says, as fast as the flow control lets it.
var floodDesc = grpc.ServiceDesc{
	ServiceName: "bench.Flood",
	HandlerType: (*any)(nil),
	Streams: []grpc.StreamDesc{{StreamName: "Flood", ServerStreams: true, Handler: func(_ any, stream grpc.ServerStream) error {
		in := new(wrapperspb.UInt64Value)
		if err := stream.RecvMsg(in); err != nil {
			return err
		}
		msg := wrapperspb.Bytes(bytes.Repeat([]byte{'x'}, 1024))
		for range in.GetValue() {
			if err := stream.SendMsg(msg); err != nil {
				return err
			}
		}
		return nil
	}}},
}

// benchServer starts a lameduck server or a bare grpc-go server with the
// same settings and services, and returns its address and its stop.
func benchServer(b *testing.B, impl string, hold *holdService) (string, func(ctx context.Context)) {
	b.Helper()
	cfg := grpcmodule.DefaultServerSettings("127.0.0.1:0")
	if impl == "lameduck" {
		srv := grpcmodule.NewServer("bench", cfg)
		srv.RegisterService(&grpcfeed.Desc, &grpcfeed.Feed{})
		srv.RegisterService(&floodDesc, struct{}{})
		if hold != nil {
			srv.RegisterService(&holdDesc, hold)
		}
		if err := srv.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		return srv.Addr().String(), func(ctx context.Context) { _ = srv.Shutdown(ctx) }
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	gs := grpc.NewServer(grpc.MaxRecvMsgSize(int(cfg.MaxRecvMsgSize)), grpc.MaxSendMsgSize(int(cfg.MaxSendMsgSize)),
		grpc.MaxConcurrentStreams(uint32(cfg.MaxConcurrentStreams)))
	gs.RegisterService(&grpcfeed.Desc, &grpcfeed.Feed{})
	gs.RegisterService(&floodDesc, struct{}{})
	if hold != nil {
		gs.RegisterService(&holdDesc, hold)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = gs.Serve(ln) }()
	return ln.Addr().String(), func(context.Context) { gs.GracefulStop(); <-served }
}

func benchDial(b *testing.B, addr string) *grpc.ClientConn {
	b.Helper()
	cc := dialExample(addr)
	b.Cleanup(func() { _ = cc.Close() })
	return cc
}

// BenchmarkGRPCUnary: 1 KiB Echo calls from parallel goroutines over one
// connection, through a lameduck server and a bare grpc-go server.
func BenchmarkGRPCUnary(b *testing.B) {
	for _, impl := range []string{"lameduck", "bare"} {
		b.Run("impl="+impl, func(b *testing.B) {
			addr, stop := benchServer(b, impl, nil)
			defer stop(context.Background())
			cc := benchDial(b, addr)
			payload := bytes.Repeat([]byte{'p'}, 1024)
			if err := grpcfeed.CallEcho(context.Background(), cc, payload); err != nil {
				b.Fatal(err)
			}
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := grpcfeed.CallEcho(context.Background(), cc, payload); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rpc/s")
		})
	}
}

// BenchmarkGRPCStream: 1 KiB messages of one server-streaming call, one
// op per message.
func BenchmarkGRPCStream(b *testing.B) {
	for _, impl := range []string{"lameduck", "bare"} {
		b.Run("impl="+impl, func(b *testing.B) {
			addr, stop := benchServer(b, impl, nil)
			defer stop(context.Background())
			cc := benchDial(b, addr)
			b.ResetTimer()
			st, err := cc.NewStream(context.Background(), &floodDesc.Streams[0], "/bench.Flood/Flood")
			if err != nil {
				b.Fatal(err)
			}
			if err := st.SendMsg(wrapperspb.UInt64(uint64(b.N))); err != nil {
				b.Fatal(err)
			}
			_ = st.CloseSend()
			msg := new(wrapperspb.BytesValue)
			for range b.N {
				if err := st.RecvMsg(msg); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
		})
	}
}

// BenchmarkGRPCStopAfterLastRPC: one unary call is in its handler when the
// stop begins and returns 10ms later; measured is the time from the
// handler's return to the return of the stop, for a lameduck server's
// Shutdown and a bare server's GracefulStop.
func BenchmarkGRPCStopAfterLastRPC(b *testing.B) {
	for _, impl := range []string{"lameduck", "plain"} {
		b.Run("impl="+impl, func(b *testing.B) {
			var lag time.Duration
			for range b.N {
				hold := newHold(false)
				addr, stop := benchServer(b, impl, hold)
				cc := dialExample(addr)
				done := make(chan error, 1)
				go func() {
					done <- cc.Invoke(context.Background(), "/test.Hold/Block", &emptypb.Empty{}, new(emptypb.Empty))
				}()
				<-hold.entered
				var released time.Time
				go func() {
					time.Sleep(10 * time.Millisecond) // the RPC's remaining work
					released = time.Now()
					close(hold.release)
				}()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				stop(ctx)
				lag += time.Since(released)
				cancel()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				_ = cc.Close()
			}
			b.ReportMetric(float64(lag.Microseconds())/float64(b.N), "lag-µs")
		})
	}
}
