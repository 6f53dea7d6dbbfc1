// Package feed is the feed team's plug-in module: a WebSocket hub where
// every message a client sends goes to every client, and a route for the
// backend to announce something to all of them. The service's main adds it
// with one line, feed.Module, and knows nothing else of it.
//
//	GET  /feed            WebSocket: a greeting, then every post and announcement
//	POST /feed/announce   body = text: "announcement: <text>" to every client
//
// wsmodule.Declare builds the hub, mounts it on the public server and gives
// it its drain step: when the service stops, each client gets the messages
// queued for it, then close 1001 (Going Away), after the servers have shut
// down and before background tasks are waited for.
package feed

import (
	"fmt"
	"io"
	"net/http"

	"go.uber.org/fx"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/wsmodule"
)

// HubName is the name of the feed's hub in logs, in the stop report
// ("ws.feed") and in the Fx graph (`name:"feed"`).
const HubName = "feed"

// Module is the feed team's module.
var Module = fx.Module("feed",
	lameduck.WebSocketHub(HubName, "", "GET /feed", func() []wsmodule.Option {
		return []wsmodule.Option{wsmodule.OnConnect(greet), wsmodule.OnMessage(post)}
	}),
	fx.Provide(lameduck.AsRoute(announceRoute)),
)

// greet welcomes a new client.
func greet(c *wsmodule.Conn) {
	_ = c.SendText(fmt.Sprintf("welcome: %d online", c.Hub().Len()))
}

// post sends what a client sends to every client, the sender included.
func post(c *wsmodule.Conn, typ wsmodule.MessageType, data []byte) {
	_, _ = c.Hub().Broadcast(typ, data)
}

// hubParams are what announceRoute needs: the hub that Declare named.
type hubParams struct {
	fx.In
	Hub *wsmodule.Hub `name:"feed"`
}

// announceRoute answers POST /feed/announce.
func announceRoute(p hubParams) httpmodule.Route {
	return httpmodule.Route{Module: "feed", Pattern: "POST /feed/announce", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		text, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<10))
		if err != nil || len(text) == 0 {
			http.Error(w, "the body is the announcement: 1 byte to 4 KiB", http.StatusBadRequest)
			return
		}
		n, _ := p.Hub.Broadcast(wsmodule.TextMessage, append([]byte("announcement: "), text...))
		fmt.Fprintf(w, "announced to %d client(s)\n", n)
	})}
}
