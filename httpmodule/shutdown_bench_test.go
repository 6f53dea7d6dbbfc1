package httpmodule

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// stopper is what the shutdown benchmarks stop: a lameduck Server or a
// plain http.Server with the same handler and settings.
type benchServer struct {
	addr string
	stop func(context.Context) error
}

func startBenchServer(tb testing.TB, impl string, h http.Handler) benchServer {
	tb.Helper()
	cfg := testServerConfig()
	switch impl {
	case "lameduck":
		s := NewServer("bench", cfg, h)
		if err := s.Start(context.Background()); err != nil {
			tb.Fatal(err)
		}
		return benchServer{s.Addr().String(), s.Shutdown}
	case "plain":
		ln, err := net.Listen("tcp", cfg.Addr)
		if err != nil {
			tb.Fatal(err)
		}
		var protos http.Protocols
		protos.SetHTTP1(true)
		protos.SetUnencryptedHTTP2(true)
		srv := &http.Server{Handler: h, Protocols: &protos, ReadHeaderTimeout: cfg.ReadHeaderTimeout,
			IdleTimeout: cfg.IdleTimeout, MaxHeaderBytes: int(cfg.MaxHeaderBytes)}
		served := make(chan struct{})
		go func() { srv.Serve(ln); close(served) }()
		return benchServer{ln.Addr().String(), func(ctx context.Context) error {
			err := srv.Shutdown(ctx)
			<-served
			return err
		}}
	}
	panic(impl)
}

var impls = []string{"lameduck", "plain"}

// BenchmarkShutdownAfterLastRequest measures how long after the end of the
// last request the shutdown returns, when that request ends at 10ms, 300ms
// or 1.1s into the shutdown. Plain Shutdown polls with a backoff up to
// 500ms; lameduck's returns when the request and its connection end.
// Metric lag-µs: from the handler's return to Shutdown's return.
func BenchmarkShutdownAfterLastRequest(b *testing.B) {
	for _, end := range []time.Duration{10 * time.Millisecond, 300 * time.Millisecond, 1100 * time.Millisecond} {
		for _, impl := range impls {
			b.Run("end="+end.String()+"/impl="+impl, func(b *testing.B) {
				var lag time.Duration
				for b.Loop() {
					lag += shutdownLag(b, impl, end)
				}
				b.ReportMetric(float64(lag.Microseconds())/float64(b.N), "lag-µs")
			})
		}
	}
}

func shutdownLag(b *testing.B, impl string, end time.Duration) time.Duration {
	entered, release := make(chan struct{}), make(chan struct{})
	var endedAt atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "ok")
		endedAt.Store(time.Now().UnixNano())
	})
	srv := startBenchServer(b, impl, h)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	got := make(chan error, 1)
	go func() {
		resp, err := (&http.Client{Transport: tr}).Get("http://" + srv.addr + "/")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		got <- err
	}()
	<-entered
	timer := time.AfterFunc(end, func() { close(release) })
	defer timer.Stop()
	if err := srv.stop(context.Background()); err != nil {
		b.Fatal(err)
	}
	stoppedAt := time.Now()
	if err := <-got; err != nil {
		b.Fatal(err)
	}
	return stoppedAt.Sub(time.Unix(0, endedAt.Load()))
}

// BenchmarkShutdownIdle measures a shutdown with only idle connections:
// HTTP/1 keep-alives (held by a client in a second process) or h2c
// connections (Go's HTTP/2 clients, one connection each).
func BenchmarkShutdownIdle(b *testing.B) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	for _, tc := range []struct {
		proto string
		conns int
	}{{"http1", 10000}, {"h2c", 100}} {
		for _, impl := range impls {
			b.Run("proto="+tc.proto+"/conns="+itoa(tc.conns)+"/impl="+impl, func(b *testing.B) {
				var total time.Duration
				for b.Loop() {
					b.StopTimer()
					srv := startBenchServer(b, impl, ok)
					var release func()
					if tc.proto == "http1" {
						release = idleClients(b, srv.addr, tc.conns)
					} else {
						release = idleH2CClients(b, srv.addr, tc.conns)
					}
					b.StartTimer()
					start := time.Now()
					if err := srv.stop(context.Background()); err != nil {
						b.Fatal(err)
					}
					total += time.Since(start)
					b.StopTimer()
					release()
					b.StartTimer()
				}
				b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "shutdown-ms")
			})
		}
	}
}

// idleH2CClients opens n h2c connections to addr with Go's HTTP/2 client,
// one request each, and leaves them idle.
func idleH2CClients(tb testing.TB, addr string, n int) (release func()) {
	var trs []*http.Transport
	for range n {
		var protos http.Protocols
		protos.SetUnencryptedHTTP2(true)
		tr := &http.Transport{Protocols: &protos}
		trs = append(trs, tr)
		resp, err := (&http.Client{Transport: tr}).Get("http://" + addr + "/")
		if err != nil {
			tb.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return func() {
		for _, tr := range trs {
			tr.CloseIdleConnections()
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
