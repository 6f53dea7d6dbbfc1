package wsmodule

import (
	"time"
)

// readLoop is the connection's reader: it runs OnConnect (when first is
// set), then reads messages and hands each to OnMessage until the
// connection ends, then cleans up (see end). The hub's WaitGroup counts it.
//
// An idle connection's reader waits for most of its life, and its stack is
// the largest part of what an idle connection costs. A read blocked inside
// gorilla sits right at the limit of the 2 KiB stack a goroutine starts
// with (a few bytes more of stack frames and it does not fit), and the
// runtime gives a grown stack back only in halves, and only while less
// than a quarter of it is in use: a reader that loops on ReadMessage keeps
// the 4 KiB its stack grew to in the first callback that needed more than
// 2 KiB (encoding JSON does), and an idle connection then costs 7.2 KiB
// instead of 5.2 KiB (bench/ws, 10,000 connections). Hence, on a plain
// socket (c.raw set), whenever gorilla has nothing buffered:
//
//   - the reader waits for data in waitReadable, a readiness wait through
//     syscall.RawConn that fits in 2 KiB with room to spare;
//   - a reader that has run a callback, which may have grown its stack,
//     first hands the wait to a fresh goroutine and ends: one goroutine
//     start per burst of messages.
//
// Control frames are read inside gorilla's ReadMessage, which goes on to
// wait there for the next message: after a pong, a reader waits inside
// gorilla until its peer's next message, and may hold 4 KiB meanwhile.
//
// The stack sizes depend on the Go runtime, not on a documented API:
// TestIdleReaderStack in bench/ws fails when a Go release changes them.
func (c *Conn) readLoop(first bool) {
	ran := first && c.connected()
	for {
		if c.raw != nil && c.br.Buffered() == 0 {
			if ran {
				// This goroutine is still counted: Add is safe.
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
		ran = true
	}
}

// connected runs the hub's OnConnect and reports whether there was one.
func (c *Conn) connected() bool {
	f := c.hub.opts.onConnect
	if f != nil {
		f(c)
	}
	return f != nil
}

// received handles one message.
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
