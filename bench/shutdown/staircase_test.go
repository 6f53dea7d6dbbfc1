package shutdown

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lameduck/lameduck/httpmodule"
)

var ends = flag.String("ends", "0ms,50ms,100ms,200ms,300ms,400ms,500ms,600ms,700ms,800ms,900ms,1000ms,1100ms,1200ms,1300ms,1400ms,1500ms",
	"comma-separated times, from the shutdown's start, at which the last request ends")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server is a started server and its stop.
type server struct {
	addr string
	stop func(context.Context) error
}

// start serves h on 127.0.0.1:0: a lameduck server (httpmodule.NewServer)
// or a plain http.Server with the same protocols and timeouts.
func start(tb testing.TB, impl string, h http.Handler) server {
	tb.Helper()
	cfg := httpmodule.DefaultServerSettings("127.0.0.1:0")
	switch impl {
	case "lameduck":
		s := httpmodule.NewServer("bench", cfg, h)
		if err := s.Start(context.Background()); err != nil {
			tb.Fatal(err)
		}
		return server{s.Addr().String(), s.Shutdown}
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
		go func() { _ = srv.Serve(ln); close(served) }()
		return server{ln.Addr().String(), func(ctx context.Context) error {
			err := srv.Shutdown(ctx)
			<-served
			return err
		}}
	}
	tb.Fatalf("unknown server %q", impl)
	return server{}
}

// BenchmarkShutdownStaircase reports, for a request that ends at each time
// of -ends after the shutdown began, when the request ended (end-ms) and
// when the shutdown returned (return-ms), both from the shutdown's start.
// Run it with -benchtime 1x: each line is then one shutdown.
func BenchmarkShutdownStaircase(b *testing.B) {
	for _, s := range strings.Split(*ends, ",") {
		end, err := time.ParseDuration(s)
		if err != nil {
			b.Fatalf("-ends: %v", err)
		}
		for _, impl := range []string{"lameduck", "plain"} {
			b.Run(fmt.Sprintf("end=%s/impl=%s", s, impl), func(b *testing.B) {
				var ended, returned time.Duration
				for range b.N {
					e, r := shutdownAround(b, impl, end)
					ended += e
					returned += r
				}
				n := float64(b.N)
				b.ReportMetric(0, "ns/op")
				b.ReportMetric(ms(ended)/n, "end-ms")
				b.ReportMetric(ms(returned)/n, "return-ms")
				b.ReportMetric(ms(returned-ended)/n, "lag-ms")
			})
		}
	}
}

// shutdownAround starts a server, puts one request in its handler, starts
// the shutdown and lets the handler return end later. It returns when the
// handler returned and when the shutdown did, from the shutdown's start.
func shutdownAround(b *testing.B, impl string, end time.Duration) (ended, returned time.Duration) {
	entered, release, done := make(chan struct{}), make(chan struct{}), make(chan time.Time, 1)
	srv := start(b, impl, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "ok")
		done <- time.Now()
	}))
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	got := make(chan error, 1)
	go func() {
		resp, err := (&http.Client{Transport: tr}).Get("http://" + srv.addr + "/")
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
		got <- err
	}()
	<-entered
	began := time.Now()
	timer := time.AfterFunc(end, func() { close(release) })
	defer timer.Stop()
	if err := srv.stop(context.Background()); err != nil {
		b.Fatal(err)
	}
	returned = time.Since(began)
	if err := <-got; err != nil {
		b.Fatal(err)
	}
	return (<-done).Sub(began), returned
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
