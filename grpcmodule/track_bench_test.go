package grpcmodule

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"
)

// BenchmarkTracking: the whole per-RPC cost of the stop's tracking (the
// first unary interceptor: a cancellable context, the call in the map, its
// drain channel) against calling the handler directly, serial and with
// every core contending.
func BenchmarkTracking(b *testing.B) {
	ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4242}})
	ctx, cancel := context.WithCancel(ctx) // grpc-go's stream contexts are cancellable
	defer cancel()
	info := &grpc.UnaryServerInfo{FullMethod: "/bench.S/M"}
	handler := func(ctx context.Context, req any) (any, error) { return req, nil }
	tr := newTracker()
	for _, impl := range []string{"lameduck", "bare"} {
		call := func() {
			if impl == "bare" {
				_, _ = handler(ctx, nil)
				return
			}
			_, _ = tr.unary(ctx, nil, info, handler)
		}
		b.Run("impl="+impl+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				call()
			}
		})
		b.Run("impl="+impl+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					call()
				}
			})
		})
	}
}
