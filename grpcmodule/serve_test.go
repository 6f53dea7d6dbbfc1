package grpcmodule_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/lameduck/lameduck/examples/starter/grpcfeed"
	"github.com/lameduck/lameduck/grpcmodule"
	"github.com/lameduck/lameduck/lameducktest"
	"github.com/lameduck/lameduck/setting"
)

// The module serves the registered services with the health service, and
// stops cleanly when nothing is in flight.
func TestServesServicesAndHealth(t *testing.T) {
	app := startApp(t, nil, nil)
	cc := dial(t, app.GRPCAddr(grpcmodule.DefaultServerName))
	ctx := t.Context()

	payload := bytes.Repeat([]byte("lameduck"), 8<<10) // 64 KiB
	if err := grpcfeed.CallEcho(ctx, cc, payload); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(grpcfeed.Payload(3, 1024))
	if sum == sha256.Sum256(grpcfeed.Payload(4, 1024)) {
		t.Fatal("payloads of different messages must differ")
	}
	n, err := grpcfeed.CallSubscribe(ctx, cc, "n=20&every=1ms&size=1024", nil)
	if err != nil || n != 20 {
		t.Fatalf("Subscribe: %d messages, %v; want 20, nil", n, err)
	}

	hc := healthpb.NewHealthClient(cc)
	for _, svc := range []string{"", grpcfeed.Service, "grpc.health.v1.Health"} {
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("Check(%q) = %v, %v; want SERVING", svc, resp.GetStatus(), err)
		}
	}
	if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "no.Such"}); status.Code(err) != codes.NotFound {
		t.Errorf("Check(no.Such): %v; want NotFound", err)
	}
	list, err := hc.List(ctx, &healthpb.HealthListRequest{})
	if err != nil || len(list.GetStatuses()) != 3 {
		t.Errorf("List = %v, %v; want 3 services", list.GetStatuses(), err)
	}
	lameducktest.RequireClean(t, app.Stop())
}

// A readiness check that fails makes the health service say NOT_SERVING,
// as /readyz does.
func TestHealthFollowsReadinessChecks(t *testing.T) {
	app := startApp(t, nil, nil)
	var fail atomic.Pointer[error]
	away := errors.New("the database is away")
	fail.Store(&away)
	app.Coordinator().Health().AddReadinessCheck(lifecycleCheck("db", func() error { return *fail.Load() }))
	hc := healthpb.NewHealthClient(dial(t, app.GRPCAddr("public")))
	resp, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Check with a failing readiness check = %v, %v; want NOT_SERVING", resp.GetStatus(), err)
	}
	var ok error
	fail.Store(&ok)
	resp, err = hc.Check(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check once the check passes = %v, %v; want SERVING", resp.GetStatus(), err)
	}
	lameducktest.RequireClean(t, app.Stop())
}

func TestSettingsReportEveryProblem(t *testing.T) {
	s := grpcmodule.DefaultSettings(nil)
	bad := s["public"]
	bad.Addr = "9000"
	bad.MaxRecvMsgSize = 0
	bad.CertFile = "cert.pem"
	s["public"] = bad
	s["Other"] = grpcmodule.DefaultServerSettings(":1")
	twin := grpcmodule.DefaultServerSettings(":9001")
	s["a"], s["b"] = twin, twin
	problems, ok := setting.Problems(s.Validate())
	if !ok {
		t.Fatal("invalid settings validated")
	}
	want := map[string]bool{"Other": true, "b.addr": true, "public.addr": true, "public.maxRecvMsgSize": true, "public.certFile": true}
	for _, p := range problems {
		if !want[p.Key] {
			t.Errorf("unexpected problem %v", p)
		}
		delete(want, p.Key)
	}
	for k := range want {
		t.Errorf("no problem reported for %s", k)
	}
	if err := grpcmodule.DefaultSettings(nil).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
