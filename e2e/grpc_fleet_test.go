package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/health" // client-side health checking
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	"github.com/lameduck/lameduck/docs/snippets/grpcfeed"
)

// grpcClientConfig is the service config of the fleet's clients: round
// robin over every address, client-side health checking through the
// health service, and gRPC's retry policy on UNAVAILABLE.
const grpcClientConfig = `{
  "loadBalancingConfig": [{"round_robin": {}}],
  "healthCheckConfig": {"serviceName": ""},
  "methodConfig": [{
    "name": [{"service": "lameduck.feed.v1.Feed"}],
    "retryPolicy": {"maxAttempts": 5, "initialBackoff": "0.05s", "maxBackoff": "0.5s",
      "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}
  }]
}`

// Scenario 8c: three starters on three loopback addresses, clients that
// connect to all of them with round robin, client-side health checking and
// the retry policy, and a rolling restart: every replica is stopped with
// SIGTERM and started again, one after the other, under unary and
// streaming load. Every unary call succeeds with its payload intact; every
// stream either completes or ends with UNAVAILABLE after intact messages;
// every stop exits 0. The streams (3s to 6.5s) outlast the preStop delay (1s),
// so that some are in flight when a shutdown begins.
//
// Beside it, the same run with naivegrpc replicas (a bare grpc-go server,
// GracefulStop at SIGTERM): the counts say what that costs.
func TestGRPCRollingRestartClientSideBalancing(t *testing.T) {
	suite(t)
	b := bins(t)
	if b.ServiceName != "examples/starter" {
		t.Skipf("the gRPC scenarios need examples/starter; the service under test is %s", b.ServiceName)
	}
	naive := buildNaiveGRPC(t, b.Root)
	for _, k := range []kind{
		{Name: "lameduck", Bin: b.Service, Lameduck: true, Env: []string{"LAMEDUCK_LOG_FORMAT=json", "LAMEDUCK_STOP_PRE_STOP_DELAY=1s"}},
		{Name: "naive", Bin: naive},
	} {
		t.Run(k.Name, func(t *testing.T) { grpcRollingRestart(t, k) })
	}
}

// buildNaiveGRPC builds e2e/internal/naivegrpc into a directory of the
// test's.
func buildNaiveGRPC(t *testing.T, root string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "naivegrpc")
	cmd := exec.Command("go", "build", "-o", bin, "./e2e/internal/naivegrpc")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./e2e/internal/naivegrpc: %v\n%s", err, out)
	}
	return bin
}

func grpcRollingRestart(t *testing.T, k kind) {
	slots := newSlots(t, 3)
	var replicas []*replica
	var addrs []resolver.Address
	for _, s := range slots {
		addr := net.JoinHostPort(s.IP, strconv.Itoa(freePort(t, s.IP)))
		r := newReplica(s, k, "LAMEDUCK_GRPC_PUBLIC_ADDR="+addr)
		r.start(t)
		replicas = append(replicas, r)
		addrs = append(addrs, resolver.Address{Addr: addr})
	}
	res := manual.NewBuilderWithScheme("fleet")
	res.InitialState(resolver.State{Addresses: addrs})
	cc, err := grpc.NewClient(res.Scheme()+":///starter", grpc.WithResolvers(res),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultServiceConfig(grpcClientConfig))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()

	ctx, cancel := context.WithCancel(t.Context())
	deadline := time.AfterFunc(2*time.Minute, cancel) // bound the load whatever happens
	defer deadline.Stop()
	var (
		calls, callFails, streams, completed, drained, streamFails, msgs atomic.Int64
		mu                                                               sync.Mutex
		firstErr                                                         error
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	const maxCalls = 200000
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			payload := make([]byte, 1024)
			for ctx.Err() == nil && calls.Load() < maxCalls {
				_, _ = rand.Read(payload)
				err := grpcfeed.CallEcho(ctx, cc, payload, grpc.WaitForReady(true))
				if ctx.Err() != nil {
					return
				}
				calls.Add(1)
				if err != nil {
					callFails.Add(1)
					fail(err)
				}
			}
		})
	}
	for i := range 8 {
		// Streams of different lengths (3s to 6.5s) start at different
		// instants, and so land on different replicas.
		want := 600 + 100*i
		query := fmt.Sprintf("n=%d&every=5ms&size=1024", want)
		wg.Go(func() {
			for ctx.Err() == nil && streams.Load() < maxCalls {
				n, err := grpcfeed.CallSubscribe(ctx, cc, query, nil, grpc.WaitForReady(true))
				if ctx.Err() != nil {
					return
				}
				streams.Add(1)
				msgs.Add(int64(n))
				switch {
				case err == nil && n == want:
					completed.Add(1)
				case status.Code(err) == codes.Unavailable:
					drained.Add(1)
				default:
					streamFails.Add(1)
					fail(fmt.Errorf("stream after %d messages: %w", n, err))
				}
			}
		})
	}

	var maxStop time.Duration
	for _, r := range replicas {
		res := r.stop(t, syscall.SIGTERM, 30*time.Second)
		maxStop = max(maxStop, res.Took)
		if res.ExitCode != 0 || k.Lameduck && (res.Report == nil || !res.Report.Clean) {
			t.Errorf("%s: exit %d, report %v; want 0 and clean", res.Replica, res.ExitCode, res.Report)
		}
		r.start(t)
		time.Sleep(restartCadence) // the rolling restart's pace: the clients reconnect to the new incarnation
		t.Logf("restarted %s after %v: %d calls, %d streams so far", r.Name, res.Took, calls.Load(), streams.Load())
	}
	// Load the restarted fleet a moment longer, so that RPCs reach the new
	// incarnations too.
	for target := calls.Load() + 200; calls.Load() < target && ctx.Err() == nil; {
		time.Sleep(10 * time.Millisecond) // the client's progress, polled
	}
	cancel()
	wg.Wait()
	for _, r := range replicas {
		r.stop(t, syscall.SIGTERM, 30*time.Second)
	}

	t.Logf("%d unary calls (%d failed), %d streams: %d completed, %d ended UNAVAILABLE by a drain, %d failed; %d messages checked",
		calls.Load(), callFails.Load(), streams.Load(), completed.Load(), drained.Load(), streamFails.Load(), msgs.Load())
	if k.Lameduck && (callFails.Load() > 0 || streamFails.Load() > 0) {
		t.Errorf("%d unary calls and %d streams failed; first: %v", callFails.Load(), streamFails.Load(), firstErr)
	}
	if k.Lameduck && (calls.Load() == 0 || drained.Load() == 0) {
		t.Errorf("the load did not reach the stops: %d calls, %d streams drained", calls.Load(), drained.Load())
	}
	record(t, row{Scenario: "8. gRPC: rolling restart, client-side round robin + retry policy", Replica: k.Name,
		Requests: calls.Load() + streams.Load(), Unit: "RPCs", Failures: callFails.Load() + streamFails.Load(), Restarts: len(replicas),
		MaxStop: maxStop, Notes: fmt.Sprintf("%d unary (1 KiB, checked), %d streams: %d completed, %d ended UNAVAILABLE by a drain; %d messages checked; first failure: %v",
			calls.Load(), streams.Load(), completed.Load(), drained.Load(), msgs.Load(), firstErr)})
}
