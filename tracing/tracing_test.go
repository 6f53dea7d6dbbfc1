package tracing_test

import (
	"context"
	"encoding/xml"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/bgwork"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lameducktest"
	"github.com/lameduck/lameduck/lifecycle"
	"github.com/lameduck/lameduck/tracing"
	"github.com/lameduck/lameduck/wsmodule"
)

var update = flag.Bool("update", false, "write the stop's trace to docs/observability/stop-trace.svg")

// figure is where -update writes the picture of the trace.
const figure = "../docs/observability/stop-trace.svg"

// TestStopTrace stops a real app with a request that drains, a request that
// ignores its context and is cut, two WebSockets and the tasks their ends
// start, and checks the spans the exporter received: one stop span, its
// six phases in order, each step under its phase, an event for the cut
// request, and all of it flushed by the module before the provider's own
// OnStop hook ran. With -update it draws the trace as docs' figure.
func TestStopTrace(t *testing.T) {
	cfg := lameducktest.Config()
	cfg.Stop.PreStopDelay = 200 * time.Millisecond
	cfg.Stop.Shutdown = 600 * time.Millisecond

	exporter := tracetest.NewInMemoryExporter()
	var atShutdown []tracetest.SpanStub // what had been exported when the provider's hook ran
	newProvider := func(lc fx.Lifecycle) trace.TracerProvider {
		// Spans reach the exporter only when flushed: the batch timeout
		// is longer than any test.
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter, sdktrace.WithBatchTimeout(time.Hour)))
		lc.Append(fx.Hook{OnStop: func(ctx context.Context) error {
			atShutdown = exporter.GetSpans()
			return tp.Shutdown(ctx)
		}})
		return tp
	}

	slowIn, stuckIn := make(chan struct{}), make(chan struct{})
	unstick := make(chan struct{})
	t.Cleanup(func() { close(unstick) })
	app := lameducktest.StartWith(t, cfg,
		tracing.Module,
		fx.Provide(newProvider),
		fx.Provide(lameduck.AsRoute(func() httpmodule.Route {
			return httpmodule.Route{Pattern: "GET /slow", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(slowIn)
				select {
				case <-time.After(350 * time.Millisecond): // the work of a slow request
					_, _ = io.WriteString(w, "done\n")
				case <-r.Context().Done():
					http.Error(w, "cancelled", http.StatusServiceUnavailable)
				}
			})}
		})),
		fx.Provide(lameduck.AsRoute(func() httpmodule.Route {
			return httpmodule.Route{Pattern: "GET /stuck", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(stuckIn)
				<-unstick // ignores its context: the shutdown cuts it
			})}
		})),
		lameduck.WebSocketHub("feed", "", "GET /feed", func(pool *bgwork.Pool) []wsmodule.Option {
			return []wsmodule.Option{wsmodule.OnClose(func(c *wsmodule.Conn, err error) {
				_ = pool.Go(context.Background(), "save-session", func(ctx context.Context) error {
					select {
					case <-time.After(100 * time.Millisecond): // the work of saving a session
						return nil
					case <-ctx.Done():
						return ctx.Err()
					}
				})
			})}
		}),
	)

	var wg sync.WaitGroup
	for _, path := range []string{"/slow", "/stuck"} {
		wg.Go(func() {
			resp, err := http.Get(app.URL("public") + path)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	for range 2 {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+app.Addr("public")+"/feed", nil)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer c.Close()
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		})
	}
	<-slowIn
	<-stuckIn
	rep := app.Stop()
	wg.Wait()
	if rep.Clean() {
		t.Fatalf("the stop was clean; the stuck request should have been cut:\n%s", rep)
	}

	// The in-memory exporter forgets its spans when the provider shuts
	// it down: what it holds then is what the module's flush exported.
	spans := atShutdown
	checkTree(t, spans, rep)

	if *update {
		if err := os.MkdirAll(filepath.Dir(figure), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(figure, gantt(spans), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The picture is well-formed XML, and the figure in the docs is too.
	for name, b := range map[string][]byte{"rendered": gantt(spans), figure: readFile(t, figure)} {
		if err := xml.Unmarshal(b, new(struct{})); err != nil {
			t.Errorf("%s: not well-formed SVG: %v", name, err)
		}
	}
}

func readFile(t *testing.T, name string) []byte {
	b, err := os.ReadFile(name)
	if err != nil {
		t.Errorf("%v (write it with go test ./tracing -run TestStopTrace -update)", err)
	}
	return b
}

// checkTree checks the spans of the stop against its report.
func checkTree(t *testing.T, spans tracetest.SpanStubs, rep *lifecycle.StopReport) {
	t.Helper()
	byID := map[trace.SpanID]tracetest.SpanStub{}
	children := map[trace.SpanID][]tracetest.SpanStub{}
	var roots []tracetest.SpanStub
	for _, s := range spans {
		byID[s.SpanContext.SpanID()] = s
	}
	for _, s := range spans {
		if !s.Parent.IsValid() {
			roots = append(roots, s)
			continue
		}
		if _, ok := byID[s.Parent.SpanID()]; !ok {
			t.Errorf("span %q: its parent was not exported", s.Name)
		}
		children[s.Parent.SpanID()] = append(children[s.Parent.SpanID()], s)
	}
	if len(roots) != 1 || roots[0].Name != "lameduck.stop" {
		t.Fatalf("roots %v, want the one lameduck.stop span", names(roots))
	}
	root := roots[0]
	attrs := attrMap(root.Attributes)
	if attrs[tracing.AttrTrigger] != attribute.StringValue(lifecycle.TriggerFxStop) ||
		attrs[tracing.AttrClean] != attribute.BoolValue(false) ||
		attrs[tracing.AttrBudget] != attribute.Float64Value(rep.Budget.Seconds()) {
		t.Errorf("stop span attributes %v", root.Attributes)
	}
	if root.Status.Code != codes.Error {
		t.Errorf("stop span status %v, want an error: the stop was not clean", root.Status)
	}
	if !root.StartTime.Equal(rep.Start) || !root.EndTime.Equal(rep.Start.Add(rep.Duration)) {
		t.Errorf("stop span %v..%v, report %v + %v", root.StartTime, root.EndTime, rep.Start, rep.Duration)
	}

	phases := children[root.SpanContext.SpanID()]
	slices.SortFunc(phases, func(a, b tracetest.SpanStub) int { return a.StartTime.Compare(b.StartTime) })
	var want []string
	for _, p := range lifecycle.Phases() {
		want = append(want, p.String())
	}
	if got := names(phases); !slices.Equal(got, want) {
		t.Fatalf("phases %v, want %v", got, want)
	}
	wantSteps := map[string][]string{
		"readiness-off": {"http.public"}, "prestop-delay": nil, "shutdown": {"http.public"},
		"hub-drain": {"ws.feed"}, "wait": {"bgwork"}, "final": {"http.admin"},
	}
	for i, ph := range phases {
		if i > 0 && ph.StartTime.Before(phases[i-1].EndTime) {
			t.Errorf("phase %s starts before %s ended", ph.Name, phases[i-1].Name)
		}
		if ph.StartTime.Before(root.StartTime) || ph.EndTime.After(root.EndTime) {
			t.Errorf("phase %s is not within the stop's span", ph.Name)
		}
		steps := children[ph.SpanContext.SpanID()]
		got := names(steps)
		slices.Sort(got)
		if !slices.Equal(got, wantSteps[ph.Name]) {
			t.Errorf("phase %s has steps %v, want %v", ph.Name, got, wantSteps[ph.Name])
		}
		for _, st := range steps {
			if !st.StartTime.Equal(ph.StartTime) || st.EndTime.After(ph.EndTime) {
				t.Errorf("step %s/%s: %v..%v, not within its phase %v..%v", ph.Name, st.Name, st.StartTime, st.EndTime, ph.StartTime, ph.EndTime)
			}
		}
		if ph.Name != "shutdown" {
			continue
		}
		if ph.Status.Code != codes.Error || attrMap(ph.Attributes)[tracing.AttrForcedBy] != attribute.StringValue("deadline") {
			t.Errorf("shutdown phase: status %v, attributes %v; want an error, forced by its deadline", ph.Status, ph.Attributes)
		}
		cut := 0
		for _, st := range steps {
			for _, ev := range st.Events {
				a := attrMap(ev.Attributes)
				if ev.Name == tracing.EventCut && a[tracing.AttrCutKind] == attribute.StringValue("request") &&
					a[tracing.AttrCutName] == attribute.StringValue("GET /stuck") {
					cut++
				}
			}
		}
		if cut != 1 {
			t.Errorf("the shutdown's step has %d cut events for GET /stuck, want 1", cut)
		}
	}
}

func names(spans []tracetest.SpanStub) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

func attrMap(kvs []attribute.KeyValue) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}
