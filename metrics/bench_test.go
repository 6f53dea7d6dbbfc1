package metrics_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lameduck/lameduck/bgwork"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lifecycle"
	"github.com/lameduck/lameduck/metrics"
	"github.com/lameduck/lameduck/wsmodule"
)

// BenchmarkScrape is the cost of one scrape of lameduck's series (two
// servers, a hub, a pool, a coordinator), the whole of what the metrics add:
// nothing runs on the request path.
func BenchmarkScrape(b *testing.B) {
	m := metrics.New(metrics.WithRoutes())
	for _, name := range []string{"public", "internal"} {
		s := httpmodule.NewServer(name, httpmodule.DefaultServerSettings("127.0.0.1:0"), http.NewServeMux())
		if err := s.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		m.AddServers(s)
	}
	hub, err := wsmodule.NewHub("feed", wsmodule.DefaultSettings(nil))
	if err != nil {
		b.Fatal(err)
	}
	pool, err := bgwork.New(bgwork.DefaultSettings(nil))
	if err != nil {
		b.Fatal(err)
	}
	m.AddHubs(hub)
	m.AddPools(pool)
	m.AddCoordinator(lifecycle.New(lifecycle.DefaultSettings(nil)))
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
