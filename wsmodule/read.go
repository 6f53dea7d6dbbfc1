package wsmodule

import (
	"time"
	"unsafe"
)

// readLoop serves the connection's read side until it ends, then cleans
// up; first says it is the connection's first reader, which runs OnConnect.
//
// An idle connection's reader is parked for most of its life, and its stack
// is most of the connection's memory. A goroutine starts with a 2 KiB stack;
// a blocked gorilla read sits too deep in it to stay there reliably, and a
// stack that grew is never given back while the goroutine waits (the runtime
// shrinks only stacks less than a quarter used). So the reader waits for
// data in a shallow call (waitReadable) when gorilla has nothing buffered,
// and if its stack has moved (grown while handling messages), a fresh
// goroutine takes over the wait.
func (c *Conn) readLoop(first bool) {
	var mark byte
	base := uintptr(unsafe.Pointer(&mark))
	if first {
		c.connected()
	}
	for {
		if c.raw != nil && c.br.Buffered() == 0 {
			if uintptr(unsafe.Pointer(&mark)) != base {
				// Still counted in wg by this goroutine: Add is safe.
				c.hub.wg.Add(1)
				go c.readLoop(false)
				c.hub.wg.Done()
				return
			}
			if err := waitReadable(c.raw); err != nil {
				c.end(err)
				return
			}
		}
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			c.end(err)
			return
		}
		c.received(typ, data)
	}
}

// connected runs the hub's OnConnect.
func (c *Conn) connected() {
	if f := c.hub.opts.onConnect; f != nil {
		f(c)
	}
}

// received handles one message.
//
//go:noinline
func (c *Conn) received(typ int, data []byte) {
	if c.hub.cfg.PingPeriod > 0 {
		c.touch()
	}
	if f := c.hub.opts.onMessage; f != nil {
		f(c, MessageType(typ), data)
	}
}

// touch pushes the read deadline: a peer must send something (a pong will
// do) within websocket.pongTimeout. Once the close frame is queued, the
// close handshake sets the deadline instead.
func (c *Conn) touch() {
	if c.closing.Load() {
		return
	}
	_ = c.ws.SetReadDeadline(time.Now().Add(c.hub.cfg.PongTimeout))
}
