package wsmodule

import (
	"bytes"
	"errors"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
)

type outboundKind uint8

const (
	kindData outboundKind = iota
	kindPrepared
	kindPing
	kindClose
)

// outbound is one queued frame.
type outbound struct {
	kind outboundKind
	typ  MessageType
	data []byte // kindData: the message; kindClose: the close payload
	pm   *websocket.PreparedMessage
}

// Send queues a copy of data as one message. It never blocks: it returns
// [ErrClosed] when the connection is closed or closing, and [ErrQueueFull]
// when websocket.sendQueue messages are already waiting; the connection is
// then closed with 1013 (Try Again Later), since a peer that far behind
// would only fall further behind. A nil error means the message is queued,
// not that the peer received it.
func (c *Conn) Send(typ MessageType, data []byte) error {
	if typ != TextMessage && typ != BinaryMessage {
		return errors.New("wsmodule: Send: message type must be TextMessage or BinaryMessage")
	}
	return c.enqueue(outbound{kind: kindData, typ: typ, data: bytes.Clone(data)})
}

// SendText queues s as one text message; see [Conn.Send].
func (c *Conn) SendText(s string) error {
	return c.enqueue(outbound{kind: kindData, typ: TextMessage, data: []byte(s)})
}

// SendPrepared queues a message encoded once for many connections; see
// [Conn.Send].
func (c *Conn) SendPrepared(pm *websocket.PreparedMessage) error {
	return c.enqueue(outbound{kind: kindPrepared, pm: pm})
}

// enqueue adds m to the queue and starts the writer if it is idle.
func (c *Conn) enqueue(m outbound) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateOpen {
		return ErrClosed
	}
	if m.kind == kindData || m.kind == kindPrepared {
		if c.pending >= c.hub.cfg.SendQueue {
			c.overflowLocked()
			return ErrQueueFull
		}
		c.pending++
	}
	c.pushLocked(m)
	return nil
}

// pushLocked queues m and starts the writer if needed. c.mu is held.
func (c *Conn) pushLocked(m outbound) {
	if c.queue == nil {
		c.queue = make([]outbound, 0, 4)
	}
	c.queue = append(c.queue, m)
	c.startWriterLocked()
}

// startWriterLocked starts the writer if something is queued and none runs.
// Until the upgrade completes, the queue waits: attachLocked starts the
// writer then. c.mu is held and the connection is upgraded and live, so its
// reader holds the hub's WaitGroup above zero.
func (c *Conn) startWriterLocked() {
	if c.writing || c.ws == nil || len(c.queue) == 0 {
		return
	}
	c.writing = true
	c.hub.wg.Add(1)
	go c.writeLoop()
}

// overflowLocked closes a connection whose queue is full: the queue is
// dropped, and a goroutine sends close 1013 (if the peer takes it within a
// second) and closes the socket. c.mu is held.
func (c *Conn) overflowLocked() {
	c.dropLocked()
	c.hub.overflows.Add(1)
	if c.ws == nil {
		// The upgrade is running: it closes the connection once it
		// completes (see attachLocked).
		return
	}
	c.hub.wg.Add(1)
	go func() {
		defer c.hub.wg.Done()
		msg := websocket.FormatCloseMessage(websocket.CloseTryAgainLater, "send queue full")
		_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(min(time.Second, c.hub.cfg.WriteTimeout)))
		_ = c.ws.NetConn().Close()
		c.hub.opts.log.Debug("send queue full: connection closed with 1013", zap.Stringer("remote", c.RemoteAddr()))
	}()
}

// pingDue runs on a timer every websocket.pingPeriod and queues a ping.
func (c *Conn) pingDue() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateOpen {
		return
	}
	c.pushLocked(outbound{kind: kindPing})
	c.ping.Reset(c.hub.cfg.PingPeriod)
}

// writeLoop writes the queue until it is empty, then ends.
func (c *Conn) writeLoop() {
	defer c.hub.wg.Done()
	for {
		c.mu.Lock()
		if c.state == stateClosed || len(c.queue) == 0 {
			c.writing = false
			c.queue = nil
			c.mu.Unlock()
			return
		}
		batch := c.queue
		c.queue = nil
		c.mu.Unlock()
		for i := range batch {
			err := c.write(&batch[i])
			batch[i] = outbound{}
			if err != nil {
				c.fail(err)
				break
			}
		}
	}
}

// write writes one frame.
func (c *Conn) write(m *outbound) error {
	deadline := time.Now().Add(c.hub.cfg.WriteTimeout)
	switch m.kind {
	case kindPing:
		return c.ws.WriteControl(websocket.PingMessage, nil, deadline)
	case kindClose:
		return c.writeClose(m.data, deadline)
	}
	_ = c.ws.SetWriteDeadline(deadline)
	var err error
	if m.kind == kindPrepared {
		err = c.ws.WritePreparedMessage(m.pm)
	} else {
		err = c.ws.WriteMessage(int(m.typ), m.data)
	}
	c.mu.Lock()
	if c.pending > 0 {
		c.pending--
	}
	c.mu.Unlock()
	return err
}

// writeClose writes the close frame with payload, gives back the drain's
// slot, and, for [Conn.Close], bounds the wait for the peer's answer.
func (c *Conn) writeClose(payload []byte, deadline time.Time) error {
	// Mark the frame sent before writing it: the peer's answer can arrive
	// before WriteControl returns.
	c.mu.Lock()
	c.closeSent = true
	c.mu.Unlock()
	err := c.ws.WriteControl(websocket.CloseMessage, payload, deadline)
	c.mu.Lock()
	release := c.takeReleaseLocked()
	draining := c.drainSent
	c.mu.Unlock()
	if release != nil {
		release()
	}
	if err == nil && !draining && c.hub.cfg.HandshakeTimeout > 0 {
		// Conn.Close: bound the wait for the peer's answer. The drain
		// instead waits to its deadline, then reports who did not answer.
		_ = c.ws.SetReadDeadline(time.Now().Add(c.hub.cfg.HandshakeTimeout))
	}
	return err
}

// fail ends a connection whose write failed: closing the socket ends the
// reader, which cleans up.
func (c *Conn) fail(err error) {
	c.mu.Lock()
	c.dropLocked()
	c.mu.Unlock()
	_ = c.ws.NetConn().Close()
	c.hub.opts.log.Debug("write failed: connection closed", zap.Stringer("remote", c.RemoteAddr()), zap.Error(err))
}
