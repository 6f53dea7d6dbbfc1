package metrics_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/fx"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lameducktest"
	"github.com/lameduck/lameduck/lifecycle"
	"github.com/lameduck/lameduck/metrics"
)

// printSeries prints the lines of an exposition that begin with one of
// prefixes.
func printSeries(r io.Reader, prefixes ...string) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		for _, p := range prefixes {
			if strings.HasPrefix(sc.Text(), p) {
				fmt.Println(sc.Text())
			}
		}
	}
}

// With Fx: metrics.Module serves /metrics on the admin server and counts
// every stop.
func ExampleModule() {
	cfg := lameducktest.Config()
	cfg.Log.Level = "error"
	app, err := lameducktest.New(cfg, metrics.Module,
		fx.Provide(lameduck.AsRoute(func() httpmodule.Route {
			return httpmodule.Route{Pattern: "GET /hello", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, "hello\n")
			})}
		})),
	)
	if err != nil {
		panic(err)
	}
	resp, err := http.Get(app.URL(httpmodule.AdminServer) + "/metrics")
	if err != nil {
		panic(err)
	}
	printSeries(resp.Body, "lameduck_ready", "lameduck_stop_phase ", `lameduck_http_requests_in_flight{server="public"}`)
	resp.Body.Close()
	app.Stop()
	// Output:
	// lameduck_http_requests_in_flight{server="public"} 0
	// lameduck_ready 1
	// lameduck_stop_phase 0
}

// Without Fx: tell the collector what to watch, register it, serve the
// registry, and make it an observer of the coordinator.
func ExampleNew() {
	server := httpmodule.NewServer("public", httpmodule.DefaultServerSettings("127.0.0.1:0"), http.NotFoundHandler())
	if err := server.Start(context.Background()); err != nil {
		panic(err)
	}
	m := metrics.New()
	cfg := lifecycle.DefaultSettings(nil)
	cfg.PreStopDelay = 0
	c := lifecycle.New(cfg, lifecycle.WithObservers(m))
	if err := c.Register(server.Steps()...); err != nil {
		panic(err)
	}
	m.AddServers(server)
	m.AddCoordinator(c)
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	handler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})

	if _, err := c.Stop(context.Background()); err != nil {
		panic(err)
	}
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	printSeries(rec.Body, "lameduck_stop_phase ", "lameduck_stops_total{outcome=\"clean\",trigger=\"Stop called\"}",
		`lameduck_stop_phase_duration_seconds_count{phase="shutdown"}`)
	// Output:
	// lameduck_stop_phase 7
	// lameduck_stop_phase_duration_seconds_count{phase="shutdown"} 1
	// lameduck_stops_total{outcome="clean",trigger="Stop called"} 1
}
