package metrics_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/fx"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/bgwork"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lameducktest"
	"github.com/lameduck/lameduck/lifecycle"
	"github.com/lameduck/lameduck/metrics"
	"github.com/lameduck/lameduck/wsmodule"
)

// scrape is what one scrape of /metrics showed.
type scrape struct {
	phase    int     // lameduck_stop_phase
	ready    int     // lameduck_ready
	requests int     // lameduck_http_requests_in_flight{server="public"}
	conns    int     // lameduck_http_open_connections{server="public"}, every protocol
	ws       int     // lameduck_websocket_connections{hub="feed"}
	tasks    int     // lameduck_tasks_running + lameduck_tasks_queued
	ended    [6]bool // lameduck_stop_phase_duration_seconds_count{phase} > 0, by phase
	used     float64 // lameduck_stop_budget_used_ratio
}

func (s scrape) String() string {
	return fmt.Sprintf("phase %d ready %d requests %d conns %d ws %d tasks %d ended %v used %.2f",
		s.phase, s.ready, s.requests, s.conns, s.ws, s.tasks, s.ended, s.used)
}

// parse reads a scrape's families.
func parse(t *testing.T, body io.Reader) (scrape, map[string]*dto.MetricFamily) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(body)
	if err != nil {
		t.Errorf("parse /metrics: %v", err)
		return scrape{}, nil
	}
	value := func(name string, labels map[string]string) (sum float64) {
		f := fams[name]
		if f == nil {
			t.Errorf("/metrics has no %s", name)
			return 0
		}
	metrics:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue metrics
				}
			}
			switch {
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Histogram != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
		return sum
	}
	s := scrape{
		phase:    int(value("lameduck_stop_phase", nil)),
		ready:    int(value("lameduck_ready", nil)),
		requests: int(value("lameduck_http_requests_in_flight", map[string]string{"server": "public"})),
		conns:    int(value("lameduck_http_open_connections", map[string]string{"server": "public"})),
		ws:       int(value("lameduck_websocket_connections", map[string]string{"hub": "feed"})),
		tasks:    int(value("lameduck_tasks_running", nil) + value("lameduck_tasks_queued", nil)),
		used:     value("lameduck_stop_budget_used_ratio", nil),
	}
	for _, p := range lifecycle.Phases() {
		s.ended[p] = value("lameduck_stop_phase_duration_seconds", map[string]string{"phase": p.String()}) > 0
	}
	return s, fams
}

// A scraper polls /metrics every 50ms, the way Prometheus would with a
// short interval, until the admin server stops answering.
type scraper struct {
	t      *testing.T
	url    string
	mu     sync.Mutex
	seen   []scrape
	notify func(scrape)
	done   chan struct{}
}

func (s *scraper) run() {
	defer close(s.done)
	client := &http.Client{Timeout: 5 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	// Bounded: 30s of scrapes at most.
	for range 600 {
		resp, err := client.Get(s.url)
		if err != nil {
			s.mu.Lock()
			defer s.mu.Unlock()
			// The admin server stops in the final phase: a scrape may fail
			// once the last one saw the wait phase, never before.
			if len(s.seen) == 0 || s.seen[len(s.seen)-1].phase < int(lifecycle.Wait)+1 {
				s.t.Errorf("scrape before the final phase: %v", err)
			}
			return
		}
		sc, _ := parse(s.t, resp.Body)
		resp.Body.Close()
		s.mu.Lock()
		s.seen = append(s.seen, sc)
		s.mu.Unlock()
		s.notify(sc)
		<-tick.C
	}
	s.t.Error("the scraper gave up after 600 scrapes")
}

// TestScrapesFollowTheDrain stops a real app with long polls, WebSockets
// and tasks in flight while a scraper polls /metrics every 50ms, and checks
// on the order of what the scrapes saw: the gauges go down to zero in phase
// order (requests in shutdown, WebSockets in hub-drain, tasks in wait), they
// move during the drain instead of freezing, and each phase's series appear
// in the scrapes that follow it, all before the admin server stops.
func TestScrapesFollowTheDrain(t *testing.T) {
	const polls, sockets = 3, 3
	cfg := lameducktest.Config()
	// The delay bounds the wait of the "scraped-serving" step below for a
	// scrape that sees the work in flight; scrapes come every 50ms.
	cfg.Stop.PreStopDelay = 2 * time.Second
	reg := prometheus.NewRegistry()

	entered := make(chan struct{}, polls)
	servingSeen := make(chan struct{}) // a scrape in the preStop delay saw everything in flight
	tasksSeen := make(chan struct{})   // a scrape in the wait phase saw the tasks
	tasksZero := make(chan struct{})   // ... and then saw them gone
	var atFinal []*dto.MetricFamily    // the registry when the final phase began
	app := lameducktest.StartWith(t, cfg,
		metrics.Module,
		fx.Supply(reg),
		// A long poll that answers when the server begins to drain, as a
		// streaming handler should (lifecycle.Coordinator.Draining).
		fx.Provide(lameduck.AsRoute(func(c *lifecycle.Coordinator) httpmodule.Route {
			return httpmodule.Route{Pattern: "GET /watch", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				entered <- struct{}{}
				<-c.Draining()
				_, _ = io.WriteString(w, "reconnect\n")
			})}
		})),
		// Each WebSocket's end starts a task (saving the session), which
		// lasts until a scrape in the wait phase has seen it.
		lameduck.WebSocketHub("feed", "", "GET /feed", func(pool *bgwork.Pool) []wsmodule.Option {
			return []wsmodule.Option{wsmodule.OnClose(func(c *wsmodule.Conn, err error) {
				if err := pool.Go(context.Background(), "save-session", func(ctx context.Context) error {
					select {
					case <-tasksSeen:
						return nil
					case <-ctx.Done():
						return ctx.Err()
					}
				}); err != nil {
					t.Errorf("save-session refused: %v", err)
				}
			})}
		}),
		// The preStop delay lasts until a scrape has seen the requests,
		// connections and WebSockets in flight after readiness turned off
		// (an event, not a delay long enough for a loaded machine).
		fx.Provide(lameduck.AsStep(func() lifecycle.Step {
			return lifecycle.NewStep(lifecycle.PreStopDelay, "scraped-serving", func(ctx context.Context) error {
				select {
				case <-servingSeen:
					return nil
				case <-ctx.Done():
					return fmt.Errorf("no scrape saw the work in flight: %w", ctx.Err())
				}
			})
		})),
		// The wait phase lasts until a scrape has seen the tasks end, so
		// that the last scrapes show the drain complete.
		fx.Provide(lameduck.AsStep(func() lifecycle.Step {
			return lifecycle.NewStep(lifecycle.Wait, "scraped", func(ctx context.Context) error {
				select {
				case <-tasksZero:
					return nil
				case <-ctx.Done():
					return fmt.Errorf("no scrape saw the tasks end: %w", ctx.Err())
				}
			})
		})),
		fx.Provide(lameduck.AsStep(func() lifecycle.Step {
			return lifecycle.NewStep(lifecycle.Final, "registry", func(context.Context) error {
				fams, err := reg.Gather()
				atFinal = fams
				return err
			})
		})),
	)

	s := &scraper{t: t, url: app.URL(httpmodule.AdminServer) + "/metrics", done: make(chan struct{})}
	var servingOnce, seenOnce, zeroOnce sync.Once
	s.notify = func(sc scrape) {
		if sc.phase == int(lifecycle.PreStopDelay)+1 && sc.requests == polls && sc.ws == sockets && sc.conns > 0 {
			servingOnce.Do(func() { close(servingSeen) })
		}
		if sc.phase == int(lifecycle.Wait)+1 && sc.tasks > 0 {
			seenOnce.Do(func() { close(tasksSeen) })
		}
		if sc.phase == int(lifecycle.Wait)+1 && sc.tasks == 0 {
			select {
			case <-tasksSeen:
				zeroOnce.Do(func() { close(tasksZero) })
			default:
			}
		}
	}
	go s.run()

	pollDone := make(chan error, polls)
	for range polls {
		go func() {
			resp, err := http.Get(app.URL("public") + "/watch")
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			pollDone <- err
		}()
	}
	wsDone := make(chan error, sockets)
	for range sockets {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+app.Addr("public")+"/feed", nil)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			defer c.Close()
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					if websocket.IsCloseError(err, websocket.CloseGoingAway) {
						err = nil
					}
					wsDone <- err
					return
				}
			}
		}()
	}
	for range polls {
		<-entered
	}

	rep := app.Stop()
	lameducktest.RequireClean(t, rep)
	for range polls {
		if err := <-pollDone; err != nil {
			t.Errorf("long poll: %v", err)
		}
	}
	for range sockets {
		if err := <-wsDone; err != nil {
			t.Errorf("WebSocket: %v", err)
		}
	}
	<-s.done

	seen := s.seen
	for _, sc := range seen {
		t.Log(sc)
	}
	checkOrder(t, seen, polls, sockets)

	// The stop's summary was in the registry when the final phase began.
	var sc scrape
	var b strings.Builder
	for _, f := range atFinal {
		_, _ = expfmt.MetricFamilyToText(&b, f)
	}
	sc, fams := parse(t, strings.NewReader(b.String()))
	if sc.phase != int(lifecycle.Final)+1 {
		t.Errorf("lameduck_stop_phase at the final phase = %d, want %d", sc.phase, int(lifecycle.Final)+1)
	}
	if got := counter(fams, "lameduck_stops_total", map[string]string{"trigger": lifecycle.TriggerFxStop, "outcome": "clean"}); got != 1 {
		t.Errorf(`lameduck_stops_total{trigger="fx stop",outcome="clean"} at the final phase = %v, want 1`, got)
	}
}

// checkOrder checks what the scrapes saw.
func checkOrder(t *testing.T, seen []scrape, polls, sockets int) {
	t.Helper()
	if len(seen) == 0 {
		t.Fatal("no scrape")
	}
	last := seen[len(seen)-1]
	// The phase only moves forward, and the last scrape was in the wait
	// phase or later: the scrapes saw the whole drain.
	for i := 1; i < len(seen); i++ {
		if seen[i].phase < seen[i-1].phase {
			t.Errorf("scrape %d: phase %d after %d", i, seen[i].phase, seen[i-1].phase)
		}
	}
	if last.phase < int(lifecycle.Wait)+1 {
		t.Errorf("the last scrape was in phase %d, want the wait phase (%d) or later", last.phase, int(lifecycle.Wait)+1)
	}
	// Each gauge was seen non-zero during the stop (it did not freeze at
	// its value before the stop, nor fall to zero at once), and zero in
	// every scrape after the phase that drains it.
	for _, g := range []struct {
		name    string
		get     func(scrape) int
		full    int // the value while serving; 0: any non-zero
		drained lifecycle.Phase
	}{
		{"requests in flight", func(s scrape) int { return s.requests }, polls, lifecycle.Shutdown},
		{"open connections", func(s scrape) int { return s.conns }, 0, lifecycle.Shutdown},
		{"WebSocket connections", func(s scrape) int { return s.ws }, sockets, lifecycle.HubDrain},
		{"tasks", func(s scrape) int { return s.tasks }, 0, lifecycle.Wait},
	} {
		sawDuring := false
		for i, sc := range seen {
			v := g.get(sc)
			switch {
			case sc.phase >= 1 && sc.phase <= int(g.drained)+1 && v > 0 && (g.full == 0 || v == g.full):
				sawDuring = true
			case sc.phase > int(g.drained)+1 && v != 0:
				t.Errorf("scrape %d: %s = %d in phase %d, after the %s phase that drains them", i, g.name, v, sc.phase, g.drained)
			}
		}
		if !sawDuring {
			t.Errorf("no scrape during the stop saw %s at its value before the drain", g.name)
		}
		if v := g.get(last); v != 0 {
			t.Errorf("the last scrape saw %s = %d, want 0", g.name, v)
		}
	}
	// Readiness is 1 before the stop and 0 once it began: it turns off at
	// the stop's first instant, so a scrape may see it off a moment before
	// the phase gauge moves, never on during a phase.
	if seen[0].ready != 1 {
		t.Errorf("the first scrape, before the stop: lameduck_ready %d", seen[0].ready)
	}
	for i, sc := range seen {
		if sc.phase > 0 && sc.ready != 0 {
			t.Errorf("scrape %d: lameduck_ready %d in phase %d", i, sc.ready, sc.phase)
		}
		if i > 0 && sc.ready > seen[i-1].ready {
			t.Errorf("scrape %d: lameduck_ready back on", i)
		}
	}
	// A phase's duration appears in the scrapes after it ended, and never
	// before it ran; the budget used grows.
	for p := lifecycle.ReadinessOff; p < lifecycle.Wait; p++ {
		first := -1
		for i, sc := range seen {
			if sc.ended[p] && first < 0 {
				first = i
			}
			if sc.ended[p] && sc.phase <= int(p)+1 {
				t.Errorf("scrape %d: the %s phase's duration in phase %d", i, p, sc.phase)
			}
			if first >= 0 && !sc.ended[p] {
				t.Errorf("scrape %d: the %s phase's duration vanished", i, p)
			}
		}
		if first < 0 {
			t.Errorf("no scrape saw the %s phase's duration", p)
		}
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].used < seen[i-1].used {
			t.Errorf("scrape %d: budget used fell from %.3f to %.3f", i, seen[i-1].used, seen[i].used)
		}
	}
	if last.used <= 0 || last.used >= 1 {
		t.Errorf("the last scrape's budget used = %v, want in (0, 1)", last.used)
	}
}

// counter returns the value of the series of family name with labels.
func counter(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
	for _, m := range f.GetMetric() {
		ok := true
		for _, l := range m.GetLabel() {
			if v, want := labels[l.GetName()]; want && v != l.GetValue() {
				ok = false
			}
		}
		if ok {
			return m.GetCounter().GetValue()
		}
	}
	return -1
}
