// Package baseline holds the plain gorilla/websocket hub that wsmodule's
// benchmarks compare against: a mutex-guarded set of connections that
// broadcasts by writing to each in turn, and drains the way it is commonly
// published, sending close frames one connection after another and polling
// for emptiness every 200ms.
package baseline

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// PollInterval is how often Shutdown checks whether every connection is
// gone.
const PollInterval = 200 * time.Millisecond

// Hub is a mutex-guarded gorilla hub.
type Hub struct {
	// OnMessage, if set, is called for each message received.
	OnMessage func(c *websocket.Conn, data []byte)
	// OnConnect, if set, is called for each new connection.
	OnConnect func(c *websocket.Conn)

	upgrader websocket.Upgrader
	mu       sync.Mutex
	conns    map[*websocket.Conn]struct{}
	wg       sync.WaitGroup
}

// ServeHTTP upgrades and reads the connection on a goroutine of its own.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	h.mu.Lock()
	if h.conns == nil {
		h.conns = map[*websocket.Conn]struct{}{}
	}
	h.conns[c] = struct{}{}
	h.wg.Add(1)
	h.mu.Unlock()
	if h.OnConnect != nil {
		h.OnConnect(c)
	}
	go func() {
		defer h.wg.Done()
		for {
			_, data, err := c.ReadMessage()
			if err != nil {
				break
			}
			if h.OnMessage != nil {
				h.OnMessage(c, data)
			}
		}
		h.mu.Lock()
		delete(h.conns, c)
		h.mu.Unlock()
		c.Close()
	}()
}

// Len returns the number of connections.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// Broadcast writes data to every connection in turn, under the hub's lock.
func (h *Hub) Broadcast(data []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.conns {
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		_ = c.WriteMessage(websocket.TextMessage, data)
	}
}

// Shutdown sends a close frame to each connection in turn, then polls every
// PollInterval until every connection is gone or ctx ends.
func (h *Hub) Shutdown(ctx context.Context) error {
	msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "server going away")
	h.mu.Lock()
	for c := range h.conns {
		_ = c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
	}
	h.mu.Unlock()
	tick := time.NewTicker(PollInterval)
	defer tick.Stop()
	for h.Len() > 0 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	h.wg.Wait()
	return nil
}
