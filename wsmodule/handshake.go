package wsmodule

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

// handshake is what a connection's record holds while its upgrade runs.
type handshake struct {
	remote string   // the request's RemoteAddr
	nc     net.Conn // the connection, once the upgrade took it over
}

// newConn returns the record of the connection that r asks for, before its
// upgrade.
func newConn(h *Hub, r *http.Request) *Conn {
	// The request's context ends when ServeHTTP returns; keep its values
	// (set by middleware: user, trace) but not its cancellation.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	return &Conn{hub: h, ctx: ctx, cancel: cancel, start: time.Now(), hs: &handshake{remote: r.RemoteAddr}}
}

// tookOver records the connection that the upgrade took over, so that the
// drain's force-close can cut the handshake. It reports false if the record
// was closed already: the upgrade must then fail.
func (c *Conn) tookOver(nc net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateClosed {
		return false
	}
	c.hs.nc = nc
	return true
}

// setUp prepares the upgraded ws for c, before c.attachLocked publishes it:
// read limit and handlers, and the socket to wait on when the reader uses br.
func (c *Conn) setUp(ws *websocket.Conn, br *bufio.Reader) {
	h := c.hub
	ws.SetReadLimit(int64(h.cfg.ReadLimit))
	ws.SetCloseHandler(c.handleClose)
	if h.cfg.PingPeriod > 0 {
		ws.SetPongHandler(func(string) error { c.touch(); return nil })
		pingHandler := ws.PingHandler()
		ws.SetPingHandler(func(data string) error { c.touch(); return pingHandler(data) })
	}
	if br != nil {
		// Read only by the reader, which starts after attachLocked.
		c.br, c.raw = br, rawConn(ws.NetConn())
	}
}

// attachLocked completes the record with its upgraded connection: keepalive
// starts, and the writer starts for what was queued during the handshake,
// in order. It reports false if the record was closed meanwhile (the
// drain's force-close, a full queue): the caller then closes ws. hub.mu and
// c.mu are held.
func (c *Conn) attachLocked(ws *websocket.Conn) bool {
	c.ws, c.hs, c.start = ws, nil, time.Now()
	switch c.state {
	case stateClosed:
		return false
	case stateOpen:
		if c.hub.cfg.PingPeriod > 0 {
			c.touch()
			c.ping = time.AfterFunc(c.hub.cfg.PingPeriod, c.pingDue)
		}
	}
	c.startWriterLocked()
	return true
}
