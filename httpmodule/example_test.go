package httpmodule_test

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"go.uber.org/fx"

	"github.com/lameduck/lameduck/config"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lifecycle"
)

// A module contributes a route; the app serves it on the public server and
// stops it through the coordinator.
func Example() {
	cfg := config.Default(nil)
	cfg.Servers = config.Servers{"public": config.DefaultServer("127.0.0.1:0")} // port 0: any free port
	cfg.Admin.Addr = "127.0.0.1:0"

	var servers *httpmodule.Servers
	app := fx.New(
		fx.NopLogger,
		config.Supply(cfg),
		lifecycle.Module,
		httpmodule.Module,
		fx.Provide(httpmodule.AsRoute(func() httpmodule.Route {
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

// Without Fx: a server registers its steps with a coordinator, which stops
// it in order.
func ExampleNewServer() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "pong") })
	srv := httpmodule.NewServer("public", config.DefaultServer("127.0.0.1:0"), mux)
	if err := srv.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}

	stop := config.Default(nil).Stop
	coordinator := lifecycle.New(stop)
	if err := coordinator.Register(srv.Steps()...); err != nil {
		fmt.Println(err)
		return
	}
	report, err := coordinator.Stop(context.Background())
	fmt.Println("clean:", report.Clean(), err)
	// Output:
	// clean: true <nil>
}
