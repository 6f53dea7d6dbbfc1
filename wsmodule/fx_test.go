package wsmodule

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/lameduck/lameduck/config"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lifecycle"
)

// serveRoutes serves routes on a plain server, as httpmodule would, and
// returns its address.
func serveRoutes(t *testing.T, routes []httpmodule.Route) string {
	t.Helper()
	mux := http.NewServeMux()
	for _, r := range routes {
		mux.Handle(r.Pattern, r.Handler)
	}
	return listenAndServe(t, mux)
}

// TestDeclareMountsHubAndDrainsOnStop: a hub declared by a module gets a
// route on its server and a drain step; stopping the Fx app drains it
// through the lifecycle coordinator, and the client gets 1001.
func TestDeclareMountsHubAndDrainsOnStop(t *testing.T) {
	cfg := config.Default(nil)
	cfg.WebSocket.CloseCode = config.CloseServiceRestart
	cfg.WebSocket.CloseReason = "restarting"
	var routes []httpmodule.Route
	var steps []lifecycle.Step
	var chat *Hub
	var coord *lifecycle.Coordinator
	type room struct{ greeting string }
	app := fxtest.New(t,
		config.Supply(cfg),
		lifecycle.Module,
		Module,
		fx.Supply(&room{greeting: "welcome"}),
		Declare("chat", "public", "GET /ws/chat", func(r *room) []Option {
			return []Option{OnConnect(func(c *Conn) { _ = c.SendText(r.greeting) }), OnMessage(echo)}
		}),
		fx.Invoke(fx.Annotate(func(rs []httpmodule.Route, ss []lifecycle.Step, h *Hub, c *lifecycle.Coordinator) {
			routes, steps, chat, coord = rs, ss, h, c
		}, fx.ParamTags(`group:"`+httpmodule.RouteGroup+`"`, `group:"`+lifecycle.StepGroup+`"`, `name:"chat"`))),
	)
	app.RequireStart()
	if len(routes) != 1 || routes[0].Server != "public" || routes[0].Pattern != "GET /ws/chat" || routes[0].Handler != chat {
		t.Fatalf("routes %+v: want the chat hub at GET /ws/chat on public", routes)
	}
	if len(steps) != 1 || steps[0].Name != "ws.chat" || steps[0].Phase != lifecycle.HubDrain || steps[0].Stopper != chat {
		t.Fatalf("steps %+v: want ws.chat in the hub-drain phase", steps)
	}
	addr := serveRoutes(t, routes)
	c := dial(t, "ws://"+addr+"/ws/chat", nil)
	_, greeting, err := c.ReadMessage()
	if err != nil || string(greeting) != "welcome" {
		t.Fatalf("greeting %q, %v", greeting, err)
	}
	roundTrip(t, c, "hi")
	ended := make(chan error, 1)
	go func() {
		_, err := readAll(c)
		ended <- err
	}()
	app.RequireStop()
	if code, text := closeCode(<-ended); code != websocket.CloseServiceRestart || text != "restarting" {
		t.Fatalf("client ended with %d %q, want 1012 restarting", code, text)
	}
	if r := coord.Report(); r == nil || !r.Clean() {
		t.Fatalf("stop report: %v", r)
	}
}

// TestAsHubGetsDrainStep: a hub provided through the value group gets its
// drain step from Module and is listed by Hubs.
func TestAsHubGetsDrainStep(t *testing.T) {
	var steps []lifecycle.Step
	var hubs *Hubs
	app := fxtest.New(t,
		fx.Supply(testConfig()),
		Module,
		fx.Provide(AsHub(func(cfg config.WebSocket) (*Hub, error) { return NewHub("feed", cfg) })),
		fx.Provide(AsHub(func(cfg config.WebSocket) (*Hub, error) { return NewHub("alerts", cfg) })),
		fx.Invoke(fx.Annotate(func(ss []lifecycle.Step, hs *Hubs) { steps, hubs = ss, hs },
			fx.ParamTags(`group:"`+lifecycle.StepGroup+`"`))),
	)
	defer app.RequireStart().RequireStop()
	names := map[string]bool{}
	for _, s := range steps {
		if s.Phase != lifecycle.HubDrain {
			t.Fatalf("step %s in phase %s", s.Name, s.Phase)
		}
		names[s.Name] = true
	}
	if len(steps) != 2 || !names["ws.feed"] || !names["ws.alerts"] {
		t.Fatalf("steps %+v: want ws.feed and ws.alerts", steps)
	}
	if all := hubs.All(); len(all) != 2 || all[0].Name() != "alerts" || all[1].Name() != "feed" {
		t.Fatalf("Hubs.All() = %v", all)
	}
	if h, ok := hubs.Get("feed"); !ok || h.Name() != "feed" {
		t.Fatal("Hubs.Get(feed) failed")
	}
}

// TestFxMisconfigurationFails: the mistakes that would leave a hub without
// a drain, or two hubs with one name, fail fx.New with a clear error.
func TestFxMisconfigurationFails(t *testing.T) {
	cases := []struct {
		name string
		opts fx.Option
		want string
	}{
		{"declare without Module", Declare("chat", "", "/ws", nil), "wsmodule.Module is missing"},
		{"duplicate names", fx.Options(Module,
			fx.Provide(AsHub(func(cfg config.WebSocket) (*Hub, error) { return NewHub("x", cfg) })),
			fx.Provide(AsHub(func(cfg config.WebSocket) (*Hub, error) { return NewHub("x", cfg) })),
			fx.Invoke(func(*Hubs) {})), `two hubs are named "x"`},
		{"bad options constructor", fx.Options(Module, Declare("chat", "", "/ws", func() Option { return nil })), "want a function returning []wsmodule.Option"},
		{"no pattern", fx.Options(Module, Declare("chat", "", "", nil)), "needs a name and a pattern"},
		{"bad config", fx.Options(Module, fx.Provide(AsHub(func(cfg config.WebSocket) (*Hub, error) {
			cfg.SendQueue = 0
			return NewHub("q", cfg)
		})), fx.Invoke(func(*Hubs) {})), "websocket.sendQueue is 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app := fx.New(fx.NopLogger, fx.Supply(testConfig()), tc.opts)
			if err := app.Err(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("fx.New error %v: want one mentioning %q", err, tc.want)
			}
		})
	}
}

type ctxKey struct{}

// TestConnContext: a connection's context carries the values of the upgrade
// request's context (set by middleware) and ends with the connection.
func TestConnContext(t *testing.T) {
	conns := make(chan *Conn, 1)
	hub := newTestHub(t, testConfig(), OnConnect(func(c *Conn) { conns <- c }))
	withUser := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hub.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, "ada")))
	})
	addr := serveRoutes(t, []httpmodule.Route{{Pattern: "/ws", Handler: withUser}})
	c := dial(t, "ws://"+addr+"/ws", nil)
	sc := <-conns
	if got := sc.Context().Value(ctxKey{}); got != "ada" {
		t.Fatalf("context value %v, want ada", got)
	}
	if sc.Context().Err() != nil {
		t.Fatal("context ended while the connection is open")
	}
	_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	select {
	case <-sc.Context().Done():
	case <-time.After(10 * time.Second):
		t.Fatal("context still live after the peer closed")
	}
	if err := sc.SendText("late"); err != ErrClosed {
		t.Fatalf("Send after the end = %v, want ErrClosed", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hub.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}
