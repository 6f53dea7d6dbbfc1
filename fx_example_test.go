package lameduck_test

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"go.uber.org/fx"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/wsmodule"
)

// A module contributes a route; the app serves it on the public server and
// stops it through the coordinator.
func ExampleAsRoute() {
	cfg := lameduck.DefaultConfig(nil)
	cfg.Servers = httpmodule.Settings{"public": httpmodule.DefaultServerSettings("127.0.0.1:0")} // port 0: any free port
	cfg.Admin.Addr = "127.0.0.1:0"
	cfg.Log.Level = "error" // the example prints only what the client gets

	var servers *httpmodule.Servers
	app := fx.New(
		lameduck.WithConfig(cfg),
		fx.NopLogger,
		fx.Provide(lameduck.AsRoute(func() httpmodule.Route {
			return httpmodule.Route{
				Pattern: "GET /hello/{name}",
				Module:  "greeter",
				Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					fmt.Fprintf(w, "hello, %s", r.PathValue("name"))
				}),
			}
		})),
		fx.Populate(&servers),
	)
	ctx := context.Background()
	if err := app.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}

	client := &http.Client{Transport: &http.Transport{}}
	resp, err := client.Get("http://" + servers.Addr("public").String() + "/hello/gopher")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(string(body))

	fmt.Println("stop:", app.Stop(ctx))
	client.CloseIdleConnections()
	// Output:
	// hello, gopher
	// stop: <nil>
}

// A module declares a hub on the public server; lameduck's modules serve
// the route and drain the hub when the application stops.
func ExampleWebSocketHub() {
	type Room struct{ hub *wsmodule.Hub }
	chat := fx.Module("chat",
		lameduck.WebSocketHub("chat", "public", "GET /ws/chat", func() []wsmodule.Option {
			return []wsmodule.Option{wsmodule.OnMessage(func(c *wsmodule.Conn, typ wsmodule.MessageType, data []byte) {
				_, _ = c.Hub().Broadcast(typ, data) // everyone in the room hears it
			})}
		}),
		// Other constructors get the hub by its name.
		fx.Provide(fx.Annotate(func(h *wsmodule.Hub) *Room { return &Room{hub: h} }, fx.ParamTags(`name:"chat"`))),
	)
	lameduck.Run(chat) // serves until SIGTERM, then drains the hub in the stop
}
