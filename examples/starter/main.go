// Command starter is the lameduck service template: copy this directory to
// start a service.
//
//	go run ./examples/starter
//
// It serves, on the public server (:8080, HTTP/1 and h2c):
//
//	GET  /hello            200 and a greeting
//	GET  /slow?d=2s        waits d, then 200; 503 if the stop cancels it first
//	GET  /poll?after=N     long-poll: the next published message (after message N)
//	GET  /ws               WebSocket: echoes what it receives, relays what is published
//	POST /publish          body = message: to every /ws client and /poll waiter
//	POST /jobs?d=1s&n=1    202, and n background tasks of d that log when done
//	GET  /download?size=N&seed=S
//	                       N bytes that depend only on S, with a Content-Digest
//	GET  /events           Server-Sent Events: a tick every 20ms; "bye" at the drain
//
// and /livez, /readyz and /metrics (Prometheus) on the admin server
// (:9090), and a gRPC server with a small service and grpc.health.v1
// (grpc.go). SIGTERM or Ctrl-C
// stops it in order within the stop budget and prints the report.
//
// Settings come from the built-in defaults, the YAML file named by
// LAMEDUCK_CONFIG (see starter.yaml) and LAMEDUCK_* variables:
//
//	LAMEDUCK_SERVERS_PUBLIC_ADDR=127.0.0.1:0 LAMEDUCK_ADMIN_ADDR=127.0.0.1:0 go run ./examples/starter
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lifecycle"
	"github.com/lameduck/lameduck/metrics"
	"github.com/lameduck/lameduck/wsmodule"
)

func main() {
	lameduck.Run(
		service,
		grpcService,
		fx.Provide(lameduck.AsObserver(reportPrinter)),
		fx.Invoke(logAddresses),
	)
}

// service is what the service does: its routes, hub, steps. lameduck.Run
// adds the configuration and every lameduck module; the tests start the
// same options with lameducktest.
var service = fx.Options(
	// /metrics on the admin server: what the service is draining right now
	// and how each stop went (docs/observability.md).
	metrics.Module,
	// /ws: a hub named "chat" on the public server. lameduck drains it
	// after the servers have shut down: queued messages, then close 1001.
	lameduck.WebSocketHub("chat", "", "GET /ws", func() []wsmodule.Option {
		return []wsmodule.Option{wsmodule.OnMessage(echo)}
	}),
	// The board passes published messages to /poll waiters and the hub. Its
	// step ends the long-polls when the servers shut down.
	fx.Provide(newBoard, lameduck.AsStep((*board).step)),
	fx.Provide(
		lameduck.AsRoute(helloRoute),
		lameduck.AsRoute(slowRoute),
		lameduck.AsRoute(jobsRoute),
		lameduck.AsRoute(downloadRoute),
		lameduck.AsRoute(eventsRoute),
		lameduck.AsRoute((*board).pollRoute),
		lameduck.AsRoute((*board).publishRoute),
	),
)

// echo sends every message a /ws client sends back to it.
func echo(c *wsmodule.Conn, typ wsmodule.MessageType, data []byte) {
	_ = c.Send(typ, data) // fails only if the connection is closing
}

// reportPrinter prints the stop report's timeline to standard error when
// the stop ends; the structured report is logged as well.
func reportPrinter() lifecycle.Observer {
	return lifecycle.ObserverFunc(func(e lifecycle.Event) {
		if e.Kind == lifecycle.StopEnded {
			fmt.Fprintln(os.Stderr, e.Report)
		}
	})
}

// logAddresses logs where the servers listen once they have started: with
// port 0 in the configuration, this is where the chosen ports show.
func logAddresses(lc fx.Lifecycle, servers *httpmodule.Servers, log *zap.Logger) {
	lc.Append(fx.StartHook(func() {
		fields := []zap.Field{}
		for _, name := range append(servers.Names(), httpmodule.AdminServer) {
			if addr := servers.Addr(name); addr != nil {
				scheme := "http://"
				if servers.Server(name).TLS() {
					scheme = "https://"
				}
				fields = append(fields, zap.String(name, scheme+dialable(addr)))
			}
		}
		log.Info("starter ready", fields...)
	}))
}

// dialable turns a wildcard listen address into one a client can use:
// "[::]:8080" becomes "localhost:8080".
func dialable(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// helloRoute answers GET /hello.
func helloRoute() httpmodule.Route {
	return httpmodule.Route{Pattern: "GET /hello", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from lameduck over %s\n", r.Proto)
	})}
}
