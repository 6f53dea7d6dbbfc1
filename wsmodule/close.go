package wsmodule

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/gorilla/websocket"
)

// Close starts a close handshake: the messages queued so far are written,
// then a close frame with code (1000-4999) and reason (at most 123 bytes);
// the connection ends when the peer answers, or after
// websocket.handshakeTimeout. It returns [ErrClosed] if the connection is
// already closing.
func (c *Conn) Close(code int, reason string) error {
	if code < 1000 || code > 4999 || code == websocket.CloseNoStatusReceived || code == websocket.CloseAbnormalClosure || code == websocket.CloseTLSHandshake {
		return fmt.Errorf("wsmodule: Close: code %d cannot be sent: use 1000-4999 except 1005, 1006 and 1015", code)
	}
	if len(reason) > MaxCloseReason {
		return fmt.Errorf("wsmodule: Close: the reason is %d bytes; a close frame carries at most %d", len(reason), MaxCloseReason)
	}
	if !c.beginClose(websocket.FormatCloseMessage(code, reason), false, nil) {
		return ErrClosed
	}
	return nil
}

// CloseNow ends the connection at once, without a close frame: what is
// queued is lost.
func (c *Conn) CloseNow() error {
	c.mu.Lock()
	c.dropLocked()
	var nc net.Conn
	if c.ws != nil {
		nc = c.ws.NetConn()
	} else {
		// The upgrade is running: cut the connection it took over; if
		// it has not yet, it fails once it does (see tookOver), or
		// closes what it upgraded (see attachLocked).
		nc = c.hs.nc
	}
	c.mu.Unlock()
	if nc == nil {
		return nil
	}
	return nc.Close()
}

// beginClose queues a close frame with payload behind the queued messages.
// drain says the hub's drain sends it. release, if not nil, is called once
// the frame is written or the connection ended. It reports false if the
// connection was not open.
func (c *Conn) beginClose(payload []byte, drain bool, release func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateOpen {
		if release != nil {
			release()
		}
		return false
	}
	c.state = stateClosing
	c.closing.Store(true)
	c.drainSent = drain
	c.release = release
	c.pushLocked(outbound{kind: kindClose, data: payload})
	return true
}

// handleClose answers the peer's close frame; it is gorilla's close
// handler, called on the reader. If the server has not sent its own close
// frame, it echoes the peer's code at once; queued messages are dropped,
// the peer does not want them.
func (c *Conn) handleClose(code int, _ string) error {
	c.mu.Lock()
	sent := c.closeSent
	if sent {
		c.hub.closedClean.Add(1)
	}
	c.dropLocked()
	c.mu.Unlock()
	if !sent {
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(min(time.Second, c.hub.cfg.WriteTimeout)))
	}
	return nil
}

// dropLocked marks c closed and drops what is queued: nothing more is
// accepted or written. c.mu is held.
func (c *Conn) dropLocked() {
	c.state = stateClosed
	c.queue, c.pending = nil, 0
}

// takeReleaseLocked returns the drain's release function, if any, and
// forgets it, so that it is called once. c.mu is held.
func (c *Conn) takeReleaseLocked() func() {
	release := c.release
	c.release = nil
	return release
}

// end cleans up after the reader ends with err: the socket is closed, the
// context cancelled, OnClose called and the hub forgets c. The reader's
// goroutine ends with it.
func (c *Conn) end(err error) {
	defer c.hub.wg.Done()
	h := c.hub
	if errors.Is(err, websocket.ErrReadLimit) {
		h.tooBig.Add(1)
	}
	c.mu.Lock()
	c.dropLocked()
	release := c.takeReleaseLocked()
	if c.ping != nil {
		c.ping.Stop()
	}
	c.mu.Unlock()
	if release != nil {
		release()
	}
	_ = c.ws.NetConn().Close()
	c.cancel()
	if h.opts.onClose != nil {
		h.opts.onClose(c, err)
	}
	h.remove(c)
}
