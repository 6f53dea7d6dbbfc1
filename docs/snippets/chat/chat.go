// Package chat is a team's module with a WebSocket hub, as docs/wsmodule.md
// shows.
package chat

// snippet:start import
import "github.com/lameduck/lameduck/wsmodule"

// snippet:end import

import (
	"fmt"
	"io"
	"net/http"
	"sync"

	"go.uber.org/fx"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/lifecycle"
)

// Room is a chat room: who is in it.
type Room struct {
	mu    sync.Mutex
	users map[*wsmodule.Conn]string
}

// NewRoom returns an empty room.
func NewRoom() *Room { return &Room{users: map[*wsmodule.Conn]string{}} }

// userKey is where authentication middleware puts the user's name.
type userKey struct{}

// Join adds c, the connection of user, to the room.
func (r *Room) Join(user string, c *wsmodule.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.users[c] = user
}

// Post relays a message to everyone in the room.
func (r *Room) Post(c *wsmodule.Conn, typ wsmodule.MessageType, data []byte) {
	_, _ = c.Hub().Broadcast(typ, data)
}

// Leave removes c.
func (r *Room) Leave(c *wsmodule.Conn, _ error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.users, c)
}

// snippet:start module
var Chat = fx.Module("chat",
	fx.Provide(NewRoom),
	lameduck.WebSocketHub("chat", "public", "GET /ws/chat", func(room *Room) []wsmodule.Option {
		return []wsmodule.Option{
			// Identify the user set by authentication middleware.
			wsmodule.OnConnect(func(c *wsmodule.Conn) {
				user, _ := c.Context().Value(userKey{}).(string)
				room.Join(user, c)
			}),
			wsmodule.OnMessage(room.Post),
			wsmodule.OnClose(room.Leave),
		}
	}),
)

// snippet:end module

// Feed is a hub built and mounted by hand, joined to the drain through the
// value group.
var Feed = fx.Options(
	// snippet:start ashub
	fx.Provide(lameduck.AsHub(func(cfg wsmodule.Settings) (*wsmodule.Hub, error) {
		return wsmodule.NewHub("feed", cfg)
	})),
	// snippet:end ashub
)

// echo builds a hub without Fx.
func echo(cfg wsmodule.Settings, mux *http.ServeMux, coordinator *lifecycle.Coordinator) error {
	// snippet:start plain
	hub, err := wsmodule.NewHub("echo", cfg,
		wsmodule.OnMessage(func(c *wsmodule.Conn, typ wsmodule.MessageType, data []byte) {
			_ = c.Send(typ, data)
		}))
	if err != nil {
		return err
	}
	mux.Handle("GET /ws/echo", hub)
	if err := coordinator.Register(hub.Step()); err != nil { // drains in the hub-drain phase
		return err
	}
	// snippet:end plain
	return nil
}

// snippet:start publish
func publish(hub *wsmodule.Hub) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		n, err := hub.Broadcast(wsmodule.TextMessage, body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "queued for %d connections\n", n)
	}
}

// snippet:end publish
