package e2e

import (
	"net"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Scenario 10e: three replicas behind HAProxy (h2 to the backends, the
// health check on /readyz), gRPC clients on HAProxy's address without a
// retry policy, a rolling restart under unary and streaming load. A
// lameduck replica loses no unary call and ends every stream in flight
// with UNAVAILABLE after intact messages; beside it, naivegrpc replicas
// (GracefulStop at SIGTERM, /readyz 200 until exit) in the same run.
func TestGRPCRollingRestartBehindHAProxy(t *testing.T) {
	suite(t, "haproxy")
	b := bins(t)
	if b.ServiceName != "examples/starter" {
		t.Skipf("the gRPC scenarios need examples/starter; the service under test is %s", b.ServiceName)
	}
	naive := buildNaiveGRPC(t, b.Root)
	for _, k := range []kind{lameduckKind(b), {Name: "naive", Bin: naive}} {
		t.Run(k.Name, func(t *testing.T) { grpcBehindHAProxy(t, k) })
	}
}

func grpcBehindHAProxy(t *testing.T, k kind) {
	f := &fleet{kind: k}
	for _, s := range newSlots(t, 3) {
		// HAProxy sends to the slot's port: the gRPC server takes it, the
		// HTTP server another.
		httpAddr := net.JoinHostPort(s.IP, strconv.Itoa(freePort(t, s.IP)))
		r := newReplica(s, k, "LAMEDUCK_GRPC_PUBLIC_ADDR="+s.Addr(), "LAMEDUCK_SERVERS_PUBLIC_ADDR="+httpAddr)
		r.start(t)
		f.replicas = append(f.replicas, r)
	}
	f.lb = startLB(t, f.slots(), lbOptions{H2: true})
	cc, err := grpc.NewClient("passthrough:///"+f.lb.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	load := startGRPCLoad(t, cc, 4, 8)
	until := make(chan struct{})
	stopRoll := time.AfterFunc(scaled(12*time.Second, 6*time.Second), func() { close(until) })
	defer stopRoll.Stop()
	restarts := f.roll(t, until, restartCadence, 3)
	load.finish()
	lbc := f.lbCounts(t)
	t.Logf("%s: %s; %s", k.Name, load, lbc)
	if k.Lameduck && load.failures() > 0 {
		t.Errorf("%d RPCs failed: %s", load.failures(), load)
	}
	if load.calls.Load() == 0 || load.streams.Load() == 0 {
		t.Errorf("no load reached the fleet: %s", load)
	}
	record(t, row{Scenario: "10. gRPC: rolling restart behind HAProxy (h2), no client retries", Replica: k.Name,
		Requests: load.calls.Load() + load.streams.Load(), Unit: "RPCs", Failures: load.failures(), Restarts: restarts,
		MaxStop: f.maxStop(), Notes: load.String() + "; " + lbc.String()})
}
