package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lameduck/lameduck/examples/starter/grpcfeed"
)

// grpcLoad is unary and streaming load on a client connection: callers
// goroutines calling Echo with 1 KiB of random bytes (the answer compared),
// and streamers goroutines subscribing to streams of 3s to 6.5s, every
// message checked. A stream that ends with UNAVAILABLE after intact
// messages was drained, not failed: its client resumes elsewhere.
type grpcLoad struct {
	cancel context.CancelFunc
	stop   *time.Timer
	wg     sync.WaitGroup

	calls, callFails, streams, completed, drained, streamFails, msgs atomic.Int64

	mu       sync.Mutex
	firstErr error
}

// grpcMaxRPCs bounds the load of each kind, whatever the time.
const grpcMaxRPCs = 500000

func startGRPCLoad(t *testing.T, cc *grpc.ClientConn, callers, streamers int, opts ...grpc.CallOption) *grpcLoad {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	l := &grpcLoad{cancel: cancel, stop: time.AfterFunc(3*time.Minute, cancel)} // bound the load whatever happens
	for range callers {
		l.wg.Go(func() {
			payload := make([]byte, 1024)
			for ctx.Err() == nil && l.calls.Load() < grpcMaxRPCs {
				_, _ = rand.Read(payload)
				err := grpcfeed.CallEcho(ctx, cc, payload, opts...)
				if ctx.Err() != nil {
					return
				}
				l.calls.Add(1)
				if err != nil {
					l.callFails.Add(1)
					l.fail(err)
				}
			}
		})
	}
	for i := range streamers {
		// Streams of different lengths start at different instants, and so
		// land on different replicas.
		want := 600 + 100*(i%8)
		query := fmt.Sprintf("n=%d&every=5ms&size=1024", want)
		l.wg.Go(func() {
			for ctx.Err() == nil && l.streams.Load() < grpcMaxRPCs {
				n, err := grpcfeed.CallSubscribe(ctx, cc, query, nil, opts...)
				if ctx.Err() != nil {
					return
				}
				l.streams.Add(1)
				l.msgs.Add(int64(n))
				switch {
				case err == nil && n == want:
					l.completed.Add(1)
				case status.Code(err) == codes.Unavailable && n > 0:
					l.drained.Add(1)
				default:
					l.streamFails.Add(1)
					l.fail(fmt.Errorf("stream after %d messages: %w", n, err))
				}
			}
		})
	}
	return l
}

func (l *grpcLoad) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.firstErr == nil {
		l.firstErr = err
	}
}

// finish ends the load and waits for its goroutines.
func (l *grpcLoad) finish() {
	l.cancel()
	l.stop.Stop()
	l.wg.Wait()
}

func (l *grpcLoad) failures() int64 { return l.callFails.Load() + l.streamFails.Load() }

func (l *grpcLoad) String() string {
	l.mu.Lock()
	first := l.firstErr
	l.mu.Unlock()
	s := fmt.Sprintf("%d unary (1 KiB, checked), %d failed; %d streams: %d completed, %d ended UNAVAILABLE by a drain, %d failed; %d messages checked",
		l.calls.Load(), l.callFails.Load(), l.streams.Load(), l.completed.Load(), l.drained.Load(), l.streamFails.Load(), l.msgs.Load())
	if first != nil {
		s += fmt.Sprintf("; first failure: %v", first)
	}
	return s
}
