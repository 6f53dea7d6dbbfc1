package grpcfeed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// CallEcho sends payload to Echo and checks that the answer is the same
// bytes.
func CallEcho(ctx context.Context, cc grpc.ClientConnInterface, payload []byte, opts ...grpc.CallOption) error {
	out := new(wrapperspb.BytesValue)
	if err := cc.Invoke(ctx, Echo, wrapperspb.Bytes(payload), out, opts...); err != nil {
		return err
	}
	if !bytes.Equal(out.GetValue(), payload) {
		return fmt.Errorf("grpcfeed: Echo answered %d bytes that differ from the %d sent", len(out.GetValue()), len(payload))
	}
	return nil
}

// CallWait calls Wait for d.
func CallWait(ctx context.Context, cc grpc.ClientConnInterface, d time.Duration, opts ...grpc.CallOption) error {
	return cc.Invoke(ctx, Wait, durationpb.New(d), new(emptypb.Empty), opts...)
}

// ErrCorrupt reports a Subscribe message that is not the one expected.
var ErrCorrupt = errors.New("grpcfeed: a message is not the one expected")

// CallSubscribe subscribes with query ("n=100&every=10ms&size=1024"),
// checks every message (its sequence number and bytes, see Payload), and
// returns how many it received and the status the stream ended with (nil
// when the server sent them all). started, if not nil, is called when the
// first message has arrived.
func CallSubscribe(ctx context.Context, cc grpc.ClientConnInterface, query string, started func(), opts ...grpc.CallOption) (int, error) {
	stream, err := cc.NewStream(ctx, &Desc.Streams[0], Subscribe, opts...)
	if err != nil {
		return 0, err
	}
	if err := stream.SendMsg(wrapperspb.String(query)); err != nil {
		return 0, err
	}
	if err := stream.CloseSend(); err != nil {
		return 0, err
	}
	for got := 0; ; got++ {
		msg := new(wrapperspb.BytesValue)
		err := stream.RecvMsg(msg)
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		if v := msg.GetValue(); !bytes.Equal(v, Payload(got, len(v))) {
			return got, fmt.Errorf("%w: message %d of %d bytes", ErrCorrupt, got, len(v))
		}
		if got == 0 && started != nil {
			started()
		}
	}
}
