package lameduck_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lifecycle"
	"github.com/lameduck/lameduck/wsmodule"
)

// A hub that WebSocketHub declares is mounted on its server and drains in
// the hub-drain phase: stopping the app closes the client's connection
// with the configured code and reason.
func TestWebSocketHubMountsAndDrainsOnStop(t *testing.T) {
	cfg := testConfig(fastStop())
	cfg.WebSocket.CloseCode = wsmodule.CloseServiceRestart
	cfg.WebSocket.CloseReason = "restarting"
	var routes []httpmodule.Route
	var steps []lifecycle.Step
	var chat *wsmodule.Hub
	var coord *lifecycle.Coordinator
	var servers *httpmodule.Servers
	type room struct{ greeting string }
	app := fxtest.New(t, appOptions(t, cfg,
		fx.Supply(&room{greeting: "welcome"}),
		lameduck.WebSocketHub("chat", "public", "GET /ws/chat", func(r *room) []wsmodule.Option {
			return []wsmodule.Option{wsmodule.OnConnect(func(c *wsmodule.Conn) { _ = c.SendText(r.greeting) }), wsmodule.OnMessage(echo)}
		}),
		fx.Invoke(fx.Annotate(func(rs []httpmodule.Route, ss []lifecycle.Step, h *wsmodule.Hub, c *lifecycle.Coordinator) {
			routes, steps, chat, coord = rs, ss, h, c
		}, fx.ParamTags(`group:"`+lameduck.RouteGroup+`"`, `group:"`+lameduck.StepGroup+`"`, `name:"chat"`))),
		fx.Populate(&servers),
	)...)
	app.RequireStart()
	if len(routes) != 1 || routes[0].Server != "public" || routes[0].Pattern != "GET /ws/chat" || routes[0].Handler != chat {
		t.Fatalf("routes %+v: want the chat hub at GET /ws/chat on public", routes)
	}
	var drains []lifecycle.Step
	for _, s := range steps {
		if s.Phase == lifecycle.HubDrain {
			drains = append(drains, s)
		}
	}
	if len(drains) != 1 || drains[0].Name != "ws.chat" || drains[0].Stopper != chat {
		t.Fatalf("hub-drain steps %+v: want ws.chat", drains)
	}
	c := dial(t, "ws://"+servers.Addr("public").String()+"/ws/chat", nil)
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
	drain, _ := coord.Report().Phase(lifecycle.HubDrain)
	if len(drain.Steps) != 1 || drain.Steps[0].Name != "ws.chat" || drain.Steps[0].Outcome != lifecycle.StepOK {
		t.Errorf("hub-drain phase steps %+v, want ws.chat ok", drain.Steps)
	}
}

// A hub provided through AsHub gets its drain step and is listed by
// *wsmodule.Hubs.
func TestAsHubGetsDrainStep(t *testing.T) {
	var steps []lifecycle.Step
	var hubs *wsmodule.Hubs
	app := fxtest.New(t, appOptions(t, testConfig(fastStop()),
		fx.Provide(lameduck.AsHub(func(cfg wsmodule.Settings) (*wsmodule.Hub, error) { return wsmodule.NewHub("feed", cfg) })),
		fx.Provide(lameduck.AsHub(func(cfg wsmodule.Settings) (*wsmodule.Hub, error) { return wsmodule.NewHub("alerts", cfg) })),
		fx.Invoke(fx.Annotate(func(ss []lifecycle.Step, hs *wsmodule.Hubs) { steps, hubs = ss, hs },
			fx.ParamTags(`group:"`+lameduck.StepGroup+`"`))),
	)...)
	defer app.RequireStart().RequireStop()
	names := map[string]bool{}
	for _, s := range steps {
		if s.Phase == lifecycle.HubDrain {
			names[s.Name] = true
		}
	}
	if len(names) != 2 || !names["ws.feed"] || !names["ws.alerts"] {
		t.Fatalf("hub-drain steps %v: want ws.feed and ws.alerts", names)
	}
	if all := hubs.All(); len(all) != 2 || all[0].Name() != "alerts" || all[1].Name() != "feed" {
		t.Fatalf("Hubs.All() = %v", all)
	}
	if h, ok := hubs.Get("feed"); !ok || h.Name() != "feed" {
		t.Fatal("Hubs.Get(feed) failed")
	}
}

// The mistakes that would leave a hub without a drain, or two hubs with
// one name, fail fx.New with a clear error.
func TestWebSocketHubMisconfigurationFails(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts fx.Option
		want string
	}{
		{"duplicate names", fx.Options(
			fx.Provide(lameduck.AsHub(func(cfg wsmodule.Settings) (*wsmodule.Hub, error) { return wsmodule.NewHub("x", cfg) })),
			fx.Provide(lameduck.AsHub(func(cfg wsmodule.Settings) (*wsmodule.Hub, error) { return wsmodule.NewHub("x", cfg) })),
		), `wsmodule: two hubs are named "x"`},
		{"duplicate names across WebSocketHub and AsHub", fx.Options(
			lameduck.WebSocketHub("x", "", "/ws", nil),
			fx.Provide(lameduck.AsHub(func(cfg wsmodule.Settings) (*wsmodule.Hub, error) { return wsmodule.NewHub("x", cfg) })),
		), `wsmodule: two hubs are named "x"`},
		{"bad options constructor", lameduck.WebSocketHub("chat", "", "/ws", func() wsmodule.Option { return nil }),
			`lameduck: WebSocketHub("chat"): newOptions is a func() wsmodule.Option; want a function returning []wsmodule.Option or ([]wsmodule.Option, error)`},
		{"no pattern", lameduck.WebSocketHub("chat", "", "", nil), `lameduck: WebSocketHub("chat", "", ""): a hub needs a name and a pattern`},
		{"no name", lameduck.WebSocketHub("", "", "/ws", nil), "a hub needs a name and a pattern"},
		{"options constructor fails", lameduck.WebSocketHub("chat", "", "/ws", func() ([]wsmodule.Option, error) {
			return nil, errors.New("no room service")
		}), "no room service"},
		{"unknown server", lameduck.WebSocketHub("chat", "internal", "/ws", nil), `server "internal"`},
		{"bad settings", fx.Provide(lameduck.AsHub(func(cfg wsmodule.Settings) (*wsmodule.Hub, error) {
			cfg.SendQueue = 0
			return wsmodule.NewHub("q", cfg)
		})), `wsmodule: hub "q": websocket.sendQueue = "0": want an integer from 1 to 1048576`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := newApp(t, testConfig(fastStop()), tc.opts)
			if err := app.Err(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("fx.New error %v: want one mentioning %q", err, tc.want)
			}
		})
	}
}

type userKey struct{}

// A connection's context carries the values that the server's middleware
// put in the upgrade request's context, and ends with the connection.
func TestWebSocketConnContextCarriesTheMiddlewaresValues(t *testing.T) {
	conns := make(chan *wsmodule.Conn, 1)
	var servers *httpmodule.Servers
	app := fxtest.New(t, appOptions(t, testConfig(fastStop()),
		lameduck.WebSocketHub("chat", "", "/ws", func() []wsmodule.Option {
			return []wsmodule.Option{wsmodule.OnConnect(func(c *wsmodule.Conn) { conns <- c })}
		}),
		fx.Provide(lameduck.AsMiddleware(func() httpmodule.Middleware {
			return httpmodule.Middleware{Name: "auth", Wrap: func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, "ada")))
				})
			}}
		})),
		fx.Populate(&servers),
	)...)
	app.RequireStart()
	defer app.RequireStop()
	c := dial(t, "ws://"+servers.Addr("public").String()+"/ws", nil)
	sc := <-conns
	if got := sc.Context().Value(userKey{}); got != "ada" {
		t.Fatalf("context value %v, want ada", got)
	}
	if sc.Context().Err() != nil {
		t.Fatal("context ended while the connection is open")
	}
	_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	select {
	case <-sc.Context().Done():
	case <-time.After(10 * time.Second):
		t.Fatal("context still live 10s after the peer closed")
	}
	if err := sc.SendText("late"); !errors.Is(err, wsmodule.ErrClosed) {
		t.Fatalf("Send after the end = %v, want ErrClosed", err)
	}
}
