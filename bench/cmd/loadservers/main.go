// Command loadservers serves the same handler from a bare net/http server,
// from a lameduck server (httpmodule.NewServer) and from a lameduck server
// whose metrics are on (metrics.New watching it, its registry scraped every
// 100ms, 150 times as often as a usual 15s scrape interval), with the same
// settings, for the request-path comparison of the benchmark suite: the
// suite runs wrk and h2load against each, in processes of their own.
//
// It prints "bare ADDR", "lameduck ADDR" and "lameduck+metrics ADDR", then
// serves until its standard input closes.
//
//	go run ./cmd/loadservers
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/metrics"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadservers:", err)
		os.Exit(1)
	}
}

// handler is what both servers serve: GET /hello, a small fixed body.
func handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "hello, world\n")
	})
	return mux
}

func run() error {
	cfg := httpmodule.DefaultServerSettings("127.0.0.1:0")
	ld := httpmodule.NewServer("public", cfg, handler())
	if err := ld.Start(context.Background()); err != nil {
		return err
	}
	defer ld.Close()

	withMetrics := httpmodule.NewServer("public", cfg, handler())
	if err := withMetrics.Start(context.Background()); err != nil {
		return err
	}
	defer withMetrics.Close()
	stopScraping := scrape(withMetrics)
	defer stopScraping()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	bare := &http.Server{
		Handler: handler(), Protocols: &protos,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout, IdleTimeout: cfg.IdleTimeout, MaxHeaderBytes: int(cfg.MaxHeaderBytes),
		HTTP2: &http.HTTP2Config{MaxConcurrentStreams: cfg.MaxConcurrentStreams},
	}
	go func() { _ = bare.Serve(ln) }()
	defer bare.Close()

	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(out, "bare %s\nlameduck %s\nlameduck+metrics %s\n", ln.Addr(), ld.Addr(), withMetrics.Addr())
	if err := out.Flush(); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// scrape turns s's metrics on and scrapes them every 100ms, through the
// handler that would serve them, until the returned function is called.
func scrape(s *httpmodule.Server) (stop func()) {
	m := metrics.New(metrics.WithRoutes())
	m.AddServers(s)
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/metrics", nil))
			case <-done:
				return
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}
