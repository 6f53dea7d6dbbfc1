package e2e

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/lameduck/lameduck/examples/starter/grpcfeed"
)

// The versions of grpc-health-probe and grpcurl the suite runs.
const (
	grpcHealthProbe = "github.com/grpc-ecosystem/grpc-health-probe@v0.4.63"
	grpcurlPackage  = "github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4"
)

func init() {
	goInstall["grpc-health-probe"] = grpcHealthProbe
	goInstall["grpcurl"] = grpcurlPackage
}

// startGRPCStarter starts the starter with its gRPC server on the
// replica's loopback address and returns the replica and that address.
func startGRPCStarter(t *testing.T, env ...string) (*replica, string) {
	t.Helper()
	b := bins(t)
	if b.ServiceName != "examples/starter" {
		t.Skipf("the gRPC scenarios need examples/starter; the service under test is %s", b.ServiceName)
	}
	s := newSlots(t, 1)[0]
	addr := net.JoinHostPort(s.IP, strconv.Itoa(freePort(t, s.IP)))
	r := newReplica(s, kind{Name: "lameduck", Bin: b.Service, Lameduck: true},
		append([]string{"LAMEDUCK_GRPC_PUBLIC_ADDR=" + addr, "LAMEDUCK_LOG_FORMAT=json"}, env...)...)
	r.start(t)
	return r, addr
}

// probe runs grpc-health-probe and returns its exit status and output.
func probe(t *testing.T, addr, service string) (int, string) {
	t.Helper()
	out, err := exec.Command("grpc-health-probe", "-addr", addr, "-service", service,
		"-connect-timeout", "2s", "-rpc-timeout", "2s").CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	}
	t.Fatalf("grpc-health-probe: %v", err)
	return 0, ""
}

// Scenario 10a: grpc-health-probe, the Kubernetes gRPC probe, sees SERVING
// while the starter serves and NOT_SERVING (exit status 4) from SIGTERM,
// the instant /readyz turns 503, while RPCs are still served during the
// preStop delay; the stop is clean.
func TestGRPCHealthProbeAtSIGTERM(t *testing.T) {
	suite(t, "grpc-health-probe")
	r, addr := startGRPCStarter(t, "LAMEDUCK_STOP_PRE_STOP_DELAY=3s")
	for _, svc := range []string{"", grpcfeed.Service} {
		if code, out := probe(t, addr, svc); code != 0 || !strings.Contains(out, "SERVING") {
			t.Fatalf("probe %q before the stop: exit %d, %q; want 0, SERVING", svc, code, out)
		}
	}
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()

	start := time.Now()
	r.proc.signal(t, syscall.SIGTERM)
	waitProbe(t, r.proc, "http://"+r.AdminAddr()+"/readyz", 503)
	code, out := probe(t, addr, "")
	if code != 4 || !strings.Contains(out, "NOT_SERVING") {
		t.Fatalf("probe after SIGTERM: exit %d, %q; want 4, NOT_SERVING", code, out)
	}
	if err := grpcfeed.CallEcho(t.Context(), cc, []byte("during the preStop delay")); err != nil {
		t.Fatalf("an RPC during the preStop delay: %v", err)
	}
	if time.Since(start) >= 3*time.Second {
		t.Fatalf("the checks took %v, longer than the preStop delay: rerun on a less loaded machine", time.Since(start))
	}
	exit := r.proc.wait(t, 30*time.Second)
	rep := findStopReport(r.proc.log)
	if exit != 0 || rep == nil || !rep.Clean {
		t.Fatalf("exit %d, report %v; want 0 and a clean report", exit, rep)
	}
	record(t, row{Scenario: "10. gRPC: grpc-health-probe at SIGTERM", Replica: "lameduck", Requests: 3, Unit: "probes",
		MaxStop: r.proc.end.Sub(start), Notes: "SERVING before; NOT_SERVING (exit 4) once /readyz is 503, RPCs still served; exit 0"})
}

// Scenario 10b: RPCs in flight at SIGTERM, against the starter binary with
// grpc-go clients: a unary Wait of 1s completes; Subscribe streams end
// with UNAVAILABLE after intact messages (the drain, spread over 1s);
// the process exits 0 with a clean report.
func TestGRPCInFlightAtSIGTERM(t *testing.T) {
	suite(t)
	r, addr := startGRPCStarter(t, "LAMEDUCK_STOP_PRE_STOP_DELAY=0s")
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	const streams = 20
	type result struct {
		n   int
		err error
	}
	results := make(chan result, streams)
	started := make(chan struct{}, streams)
	for range streams {
		go func() {
			n, err := grpcfeed.CallSubscribe(ctx, cc, "n=1000000&every=2ms&size=1024", func() { started <- struct{}{} })
			results <- result{n, err}
		}()
	}
	for range streams {
		<-started
	}
	unary := make(chan error, 1)
	go func() { unary <- grpcfeed.CallWait(ctx, cc, time.Second) }()
	// The Wait call was sent before this Echo was answered; even if its
	// handler has not begun when SIGTERM arrives, grpc-go's first GOAWAY
	// (stream ID 2^31-1, then a ping) still admits the streams the client
	// sent before it.
	if err := grpcfeed.CallEcho(ctx, cc, []byte("x")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r.proc.signal(t, syscall.SIGTERM)
	var msgs int
	for range streams {
		res := <-results
		msgs += res.n
		if status.Code(res.err) != codes.Unavailable || res.n == 0 {
			t.Errorf("stream: %d messages, %v; want some, then UNAVAILABLE", res.n, res.err)
		}
	}
	if err := <-unary; err != nil {
		t.Errorf("unary Wait in flight at SIGTERM: %v", err)
	}
	exit := r.proc.wait(t, 30*time.Second)
	rep := findStopReport(r.proc.log)
	if exit != 0 || rep == nil || !rep.Clean {
		t.Fatalf("exit %d, report %v; want 0 and a clean report", exit, rep)
	}
	record(t, row{Scenario: "10. gRPC: RPCs in flight at SIGTERM", Replica: "lameduck", Requests: streams + 1, Unit: "RPCs",
		MaxStop: r.proc.end.Sub(start), Notes: strconv.Itoa(msgs) + " stream messages checked; every stream ended UNAVAILABLE (retryable) from the drain; the 1s unary call completed; exit 0"})
}

// Scenario 10d: grpcurl lists the starter's services through reflection,
// describes Feed and calls Echo, with no .proto file.
func TestGRPCReflectionWithGrpcurl(t *testing.T) {
	suite(t, "grpcurl")
	r, addr := startGRPCStarter(t)
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("grpcurl", append([]string{"-plaintext"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("grpcurl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out := run(addr, "list"); !strings.Contains(out, grpcfeed.Service) || !strings.Contains(out, "grpc.health.v1.Health") {
		t.Fatalf("grpcurl list:\n%s", out)
	}
	if out := run(addr, "describe", grpcfeed.Service); !strings.Contains(out, "rpc Subscribe ( .google.protobuf.StringValue ) returns ( stream .google.protobuf.BytesValue )") {
		t.Fatalf("grpcurl describe:\n%s", out)
	}
	// BytesValue in JSON is its base64 string.
	if out := run("-d", `"bGFtZWR1Y2s="`, addr, grpcfeed.Service+"/Echo"); !strings.Contains(out, `"bGFtZWR1Y2s="`) {
		t.Fatalf("grpcurl Echo:\n%s", out)
	}
	res := r.stop(t, syscall.SIGTERM, 30*time.Second)
	if res.ExitCode != 0 || res.Report == nil || !res.Report.Clean {
		t.Fatalf("exit %d, report %v; want 0 and clean", res.ExitCode, res.Report)
	}
}
