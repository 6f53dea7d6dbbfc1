package grpcmodule_test

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lameduck/lameduck/examples/starter/grpcfeed"
	"github.com/lameduck/lameduck/grpcmodule"
	"github.com/lameduck/lameduck/lameducktest"
	"github.com/lameduck/lameduck/lifecycle"
)

// stopAsync begins the stop and returns the channel of its report.
func stopAsync(app *lameducktest.App) <-chan *lifecycle.StopReport {
	done := make(chan *lifecycle.StopReport, 1)
	go func() { done <- app.Stop() }()
	return done
}

// A unary call and a stream in flight when the stop begins finish during
// the shutdown, with every message; the stop is clean and ends when they
// do.
func TestInFlightRPCsFinishDuringTheStop(t *testing.T) {
	hold := newHold(false)
	app := startApp(t, hold, nil)
	cc := dial(t, app.GRPCAddr("public"))
	ctx := t.Context()

	unary := make(chan error, 1)
	go func() { unary <- cc.Invoke(ctx, "/test.Hold/Block", &emptypb.Empty{}, new(emptypb.Empty)) }()
	if got := <-hold.entered; got != "Block" {
		t.Fatalf("entered %q", got)
	}
	st := holdStream(t, ctx, cc, hold)

	stopped := stopAsync(app)
	<-app.Coordinator().Draining() // the shutdown phase began
	select {
	case rep := <-stopped:
		t.Fatalf("the stop ended with two RPCs in flight: %v", rep)
	default:
	}
	close(hold.release)
	if err := <-unary; err != nil {
		t.Errorf("unary call in flight: %v", err)
	}
	last := new(wrapperspb.StringValue)
	if err := st.RecvMsg(last); err != nil || last.GetValue() != "last" {
		t.Errorf("stream in flight: last message %q, %v", last.GetValue(), err)
	}
	if err := st.RecvMsg(last); err != io.EOF {
		t.Errorf("stream in flight ended with %v, want io.EOF (status OK)", err)
	}
	rep := <-stopped
	lameducktest.RequireClean(t, rep)
}

// A Feed stream learns that the drain began and ends with UNAVAILABLE,
// having received every message intact; a stream started on a new
// connection after the shutdown began is refused.
func TestStreamsLearnTheDrain(t *testing.T) {
	app := startApp(t, nil, func(s *grpcmodule.ServerSettings) { s.DrainSpread = 0 })
	cc := dial(t, app.GRPCAddr("public"))
	started := make(chan struct{})
	type result struct {
		n   int
		err error
	}
	res := make(chan result, 1)
	go func() {
		n, err := grpcfeed.CallSubscribe(t.Context(), cc, "n=100000&every=1ms&size=512", func() { close(started) })
		res <- result{n, err}
	}()
	<-started
	rep := app.Stop()
	r := <-res
	if status.Code(r.err) != codes.Unavailable || !strings.Contains(status.Convert(r.err).Message(), "draining") {
		t.Fatalf("stream ended with %v after %d messages; want UNAVAILABLE from the drain", r.err, r.n)
	}
	if r.n == 0 || r.n >= 100000 {
		t.Fatalf("stream got %d messages", r.n)
	}
	lameducktest.RequireClean(t, rep)
}

// At the phase deadline the contexts of the RPCs in flight are cancelled;
// a handler that returns then is not a straggler, but the report says its
// work was cut short.
func TestDeadlineCancelsRPCContexts(t *testing.T) {
	hold := newHold(false)
	cfg := lameducktest.Config()
	cfg.Stop.Shutdown = 300 * time.Millisecond
	app := startAppWith(t, cfg, hold, nil)
	cc := dial(t, app.GRPCAddr("public"))
	unary := make(chan error, 1)
	go func() { unary <- cc.Invoke(t.Context(), "/test.Hold/Block", &emptypb.Empty{}, new(emptypb.Empty)) }()
	<-hold.entered
	rep := app.Stop()
	if err := <-unary; status.Code(err) != codes.Canceled {
		t.Errorf("unary call: %v; want CANCELED", err)
	}
	if rep.Clean() {
		t.Fatalf("the stop cancelled an RPC and says it is clean:\n%v", rep)
	}
	pr, _ := rep.Phase(lifecycle.Shutdown)
	if !strings.Contains(stepErr(pr, "grpc.public"), "cancelled the context of 1 RPC(s)") {
		t.Fatalf("report does not say what was cancelled:\n%v", rep)
	}
	close(hold.release)
}

func stepErr(pr lifecycle.PhaseReport, step string) string {
	for _, s := range pr.Steps {
		if s.Name == step && s.Err != nil {
			return s.Err.Error()
		}
	}
	return ""
}

// A stream handler that ignores its context and a client that connected
// and never sent a byte: the shutdown ends within its cap plus the force
// grace plus 200ms, and the report names the stream (method, peer, age).
// Beside it, a bare grpc-go server with the same two is still stopping:
// GracefulStop waits for the handler, and even Stop waits for the silent
// connection's handshake (120s by default).
func TestStubbornStreamAndSilentClient(t *testing.T) {
	hold := newHold(true)
	cfg := lameducktest.Config()
	cfg.Stop.Shutdown = time.Second
	app := startAppWith(t, cfg, hold, nil)
	cc := dial(t, app.GRPCAddr("public"))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	st := holdStream(t, ctx, cc, hold)
	silent, err := net.Dial("tcp", app.GRPCAddr("public"))
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	// The baseline: a bare grpc-go server, a stubborn stream, a silent
	// client.
	bareHold := newHold(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{}, 2)
	bare := grpc.NewServer()
	bare.RegisterService(&holdDesc, bareHold)
	go func() { _ = bare.Serve(acceptSignal{ln, accepted}) }()
	bareCC := dial(t, ln.Addr().String())
	bareSt := holdStream(t, ctx, bareCC, bareHold)
	<-accepted
	bareSilent, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	<-accepted
	// The server writes its SETTINGS frame and then waits for the client's
	// preface: once a byte of it arrives, the connection is in its handshake.
	if _, err := bareSilent.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	graceful, stopped := make(chan struct{}), make(chan struct{})
	go func() { bare.GracefulStop(); close(graceful) }()
	go func() { bare.Stop(); close(stopped) }()

	rep := app.Stop()
	pr, _ := rep.Phase(lifecycle.Shutdown)
	if limit := cfg.Stop.Shutdown + cfg.Stop.ForceGrace + 200*time.Millisecond; pr.Duration > limit {
		t.Errorf("shutdown took %v; want at most %v", pr.Duration, limit)
	}
	if rep.Clean() || lifecycle.ExitCode(&lifecycle.StopError{Report: rep}) != lifecycle.ExitForced {
		t.Fatalf("a stream was cut off and the report is clean:\n%v", rep)
	}
	var named bool
	for _, s := range rep.Stragglers() {
		if s.Kind == "stream" && s.Name == "/test.Hold/Hold" && strings.Contains(s.Detail, "peer 127.0.0.1:") && s.Age > 0 {
			named = true
		}
	}
	if !named {
		t.Fatalf("the report does not name the stream it cut off:\n%v", rep)
	}
	if err := st.RecvMsg(new(wrapperspb.StringValue)); status.Code(err) != codes.Unavailable {
		t.Errorf("the cut stream ended with %v; want UNAVAILABLE (connection closed)", err)
	}

	select {
	case <-graceful:
		t.Error("bare GracefulStop returned with a stubborn handler running")
	case <-stopped:
		t.Error("bare Stop returned with a connection in its handshake")
	default:
	}
	_ = bareSilent.Close() // Stop can now close the transports
	<-stopped
	if err := bareSt.RecvMsg(new(wrapperspb.StringValue)); err == nil {
		t.Error("bare stream still open after Stop")
	}
	close(bareHold.release)
	<-graceful
	close(hold.release)
}

// Health: Check says NOT_SERVING from the instant the stop begins (during
// the preStop delay, while every RPC is still served); an open Watch gets
// NOT_SERVING at readiness off and ends with UNAVAILABLE when the shutdown
// begins, so it never holds the stop. Beside it, grpc-go's own health
// server sends nothing to its Watch at GracefulStop, which waits for it.
func TestHealthAtTheStop(t *testing.T) {
	cfg := lameducktest.Config()
	cfg.Stop.PreStopDelay = 10 * time.Second // cut short by a second signal
	cfg.Stop.Total = 25 * time.Second
	app := startAppWith(t, cfg, nil, nil)
	cc := dial(t, app.GRPCAddr("public"))
	hc := healthpb.NewHealthClient(cc)
	watch, err := hc.Watch(t.Context(), &healthpb.HealthCheckRequest{Service: grpcfeed.Service})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := watch.Recv(); err != nil || m.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch first: %v, %v; want SERVING", m.GetStatus(), err)
	}

	// Baseline: grpc-go's health server on a bare server.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bare := grpc.NewServer()
	healthpb.RegisterHealthServer(bare, health.NewServer())
	go func() { _ = bare.Serve(ln) }()
	bareCtx, bareCancel := context.WithCancel(t.Context())
	defer bareCancel()
	bareWatch, err := healthpb.NewHealthClient(dial(t, ln.Addr().String())).Watch(bareCtx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := bareWatch.Recv(); err != nil || m.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("bare Watch first: %v, %v", m.GetStatus(), err)
	}
	bareGot := make(chan error, 1)
	go func() { _, err := bareWatch.Recv(); bareGot <- err }()
	graceful := make(chan struct{})
	go func() { bare.GracefulStop(); close(graceful) }()

	app.Interrupt()
	<-app.Stopping()
	resp, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Check once the stop began = %v, %v; want NOT_SERVING", resp.GetStatus(), err)
	}
	if m, err := watch.Recv(); err != nil || m.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Watch at readiness off: %v, %v; want NOT_SERVING", m.GetStatus(), err)
	}
	if err := grpcfeed.CallEcho(t.Context(), cc, []byte("still served")); err != nil {
		t.Fatalf("an RPC during the preStop delay: %v", err)
	}
	app.Interrupt() // skip the rest of the preStop delay
	if _, err := watch.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("Watch at shutdown ended with %v; want UNAVAILABLE", err)
	}
	lameducktest.RequireClean(t, app.Stop())

	select {
	case err := <-bareGot:
		t.Errorf("grpc-go's health Watch got something at GracefulStop: %v", err)
	case <-graceful:
		t.Error("bare GracefulStop returned with a health Watch open")
	default:
	}
	bareCancel()
	<-graceful
	if err := <-bareGot; status.Code(err) != codes.Canceled {
		t.Errorf("bare Watch: %v", err)
	}
}

// acceptSignal signals each connection it accepted.
type acceptSignal struct {
	net.Listener
	accepted chan<- struct{}
}

func (l acceptSignal) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted <- struct{}{}
	}
	return c, err
}
