package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/health" // client-side health checking
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
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

// Scenario 10c: three starters on three loopback addresses, clients that
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

	load := startGRPCLoad(t, cc, 4, 8, grpc.WaitForReady(true))
	var maxStop time.Duration
	for _, r := range replicas {
		res := r.stop(t, syscall.SIGTERM, 30*time.Second)
		maxStop = max(maxStop, res.Took)
		if res.ExitCode != 0 || k.Lameduck && (res.Report == nil || !res.Report.Clean) {
			t.Errorf("%s: exit %d, report %v; want 0 and clean", res.Replica, res.ExitCode, res.Report)
		}
		r.start(t)
		time.Sleep(restartCadence) // the rolling restart's pace: the clients reconnect to the new incarnation
		t.Logf("restarted %s after %v: %d calls, %d streams so far", r.Name, res.Took, load.calls.Load(), load.streams.Load())
	}
	// Load the restarted fleet a moment longer, so that RPCs reach the new
	// incarnations too.
	for target, end := load.calls.Load()+200, time.Now().Add(10*time.Second); load.calls.Load() < target && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond) // the client's progress, polled
	}
	load.finish()
	for _, r := range replicas {
		r.stop(t, syscall.SIGTERM, 30*time.Second)
	}

	t.Logf("%s: %s", k.Name, load)
	if k.Lameduck && load.failures() > 0 {
		t.Errorf("%d RPCs failed: %s", load.failures(), load)
	}
	if k.Lameduck && (load.calls.Load() == 0 || load.drained.Load() == 0) {
		t.Errorf("the load did not reach the stops: %s", load)
	}
	record(t, row{Scenario: "10. gRPC: rolling restart, client-side round robin + retry policy", Replica: k.Name,
		Requests: load.calls.Load() + load.streams.Load(), Unit: "RPCs", Failures: load.failures(), Restarts: len(replicas),
		MaxStop: maxStop, Notes: load.String()})
}
