// Package grpcfeed is a small gRPC service written without protoc: its
// service description is hand-written and its messages are protobuf's
// well-known wrapper types, so it needs no generated code. The starter
// serves it, and the tests and the reliability suite call it.
//
//	/lameduck.feed.v1.Feed/Echo       unary: BytesValue -> the same BytesValue
//	/lameduck.feed.v1.Feed/Wait       unary: Duration -> Empty after that long
//	/lameduck.feed.v1.Feed/Subscribe  server-streaming: "n=100&every=10ms&size=1024"
//	                                  -> n BytesValue messages (see Payload)
//
// Subscribe ends early with UNAVAILABLE when the server drains
// (grpcmodule.Draining), which clients retry on another replica.
package grpcfeed

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lameduck/lameduck/grpcmodule"
)

// Method names, for clients.
const (
	Service   = "lameduck.feed.v1.Feed"
	Echo      = "/" + Service + "/Echo"
	Wait      = "/" + Service + "/Wait"
	Subscribe = "/" + Service + "/Subscribe"
)

// snippet:start service
// Feed is the service's implementation; Desc routes its RPCs to it.
type Feed struct{}

// Desc describes the service to grpc-go, as generated code would.
var Desc = grpc.ServiceDesc{
	ServiceName: Service,
	HandlerType: (*any)(nil), // generated code names the service's interface
	Methods: []grpc.MethodDesc{
		{MethodName: "Echo", Handler: unary(Echo, func(f *Feed, ctx context.Context, in *wrapperspb.BytesValue) (any, error) {
			return in, nil
		})},
		{MethodName: "Wait", Handler: unary(Wait, (*Feed).wait)},
	},
	Streams: []grpc.StreamDesc{
		{StreamName: "Subscribe", ServerStreams: true, Handler: func(srv any, stream grpc.ServerStream) error {
			in := new(wrapperspb.StringValue)
			if err := stream.RecvMsg(in); err != nil {
				return err
			}
			return srv.(*Feed).subscribe(in.GetValue(), stream)
		}},
	},
	Metadata: protoFile, // descriptor.go: what reflection describes
}

// wait answers after the duration asked, or UNAVAILABLE if the stop
// cancels it first.
func (f *Feed) wait(ctx context.Context, d *durationpb.Duration) (any, error) {
	t := time.NewTimer(d.AsDuration())
	defer t.Stop()
	select {
	case <-t.C:
		return &emptypb.Empty{}, nil
	case <-ctx.Done():
		return nil, status.Error(codes.Unavailable, "the server is stopping; retry")
	}
}

// subscribe sends the messages asked for, and ends with UNAVAILABLE when
// the server's drain reaches this stream: the client resubscribes on
// another replica, from the message it got last.
func (f *Feed) subscribe(query string, stream grpc.ServerStream) error {
	n, every, size, err := parse(query)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for seq := range n {
		if err := stream.SendMsg(wrapperspb.Bytes(Payload(seq, size))); err != nil {
			return err
		}
		select {
		case <-tick.C:
		case <-grpcmodule.Draining(stream.Context()):
			return status.Errorf(codes.Unavailable, "the server is draining after message %d; resubscribe", seq)
		case <-stream.Context().Done():
			return status.FromContextError(stream.Context().Err()).Err()
		}
	}
	return nil
}

// snippet:end service

// unary adapts a method to grpc-go's unary handler, with the
// interceptors, as generated code does.
func unary[In any](method string, call func(*Feed, context.Context, *In) (any, error)) grpc.MethodHandler {
	return func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
		in := new(In)
		if err := dec(in); err != nil {
			return nil, err
		}
		if ic == nil {
			return call(srv.(*Feed), ctx, in)
		}
		info := &grpc.UnaryServerInfo{Server: srv, FullMethod: method}
		return ic(ctx, in, info, func(ctx context.Context, req any) (any, error) { return call(srv.(*Feed), ctx, req.(*In)) })
	}
}

// parse reads "n=100&every=10ms&size=1024".
func parse(query string) (n int, every time.Duration, size int, err error) {
	q, err := url.ParseQuery(query)
	if err != nil {
		return 0, 0, 0, err
	}
	n, every, size = 10, 10*time.Millisecond, 64
	if v := q.Get("n"); v != "" {
		if n, err = strconv.Atoi(v); err != nil || n < 0 || n > 1_000_000 {
			return 0, 0, 0, fmt.Errorf("n=%q: want a count from 0 to 1000000", v)
		}
	}
	if v := q.Get("every"); v != "" {
		if every, err = time.ParseDuration(v); err != nil || every <= 0 || every > time.Minute {
			return 0, 0, 0, fmt.Errorf("every=%q: want a duration from 1ns to 1m", v)
		}
	}
	if v := q.Get("size"); v != "" {
		if size, err = strconv.Atoi(v); err != nil || size < 8 || size > 1<<20 {
			return 0, 0, 0, fmt.Errorf("size=%q: want a size from 8 to 1048576 bytes", v)
		}
	}
	return n, every, size, nil
}

// Payload returns message seq of a stream of messages of size bytes: the
// sequence number, big-endian, then bytes that depend only on it, so that
// a client checks every message it receives.
func Payload(seq, size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint64(b, uint64(seq))
	x := uint32(seq)*2654435761 + 1
	for i := 8; i < size; i++ {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}
