package wsmodule

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"

	"github.com/lameduck/lameduck/config"
)

// Conn is one WebSocket connection of a [Hub]. Its methods are safe for
// concurrent use. Sending only queues: one writer goroutine, started when
// the queue becomes non-empty and gone when it is empty again, writes the
// queued messages in order.
//
// The hub tracks a connection from the moment its upgrade begins, before the
// handshake's response is written: what is queued for it meanwhile (a
// broadcast, the drain's close frame) is written once the upgrade completes.
// Callbacks and [Hub.Each] only ever see upgraded connections.
type Conn struct {
	hub *Hub
	// ws is nil while the upgrade runs; it is set once, with both hub.mu
	// and mu held, so that it may be read under either.
	ws     *websocket.Conn
	hs     *handshake // while the upgrade runs; guarded by mu
	ctx    context.Context
	cancel context.CancelFunc
	start  time.Time       // when the upgrade began, then when it completed; guarded by mu until then
	idx    int             // index in hub.conns, guarded by hub.mu
	br     *bufio.Reader   // gorilla's read buffer, read by the reader only
	raw    syscall.RawConn // the socket, to wait for data; nil: wait in gorilla
	// closing is set once the close frame is queued: from then on the
	// close handshake bounds the wait for the peer, not keepalive.
	closing atomic.Bool

	mu        sync.Mutex
	state     connState
	writing   bool       // a writer goroutine runs
	queue     []outbound // waiting for the writer
	pending   int        // data messages accepted and not yet written
	ping      *time.Timer
	closeSent bool
	drainSent bool   // the close frame is the drain's: wait for the answer until the drain's deadline
	cut       bool   // the drain's force-close recorded it as a straggler
	release   func() // the drain's parallelism slot, given back once the close frame is out
}

// handshake is what a connection's record holds while its upgrade runs.
type handshake struct {
	remote string   // the request's RemoteAddr
	nc     net.Conn // the connection, once the upgrade took it over
}

type connState uint8

const (
	stateOpen    connState = iota
	stateClosing           // close frame queued: nothing more is accepted
	stateClosed            // ended or failed: nothing more is written
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

// Context returns the connection's context: it carries the values of the
// upgrade request's context and is cancelled when the connection ends.
func (c *Conn) Context() context.Context { return c.ctx }

// Hub returns the hub that upgraded the connection.
func (c *Conn) Hub() *Hub { return c.hub }

// RemoteAddr returns the peer's network address.
func (c *Conn) RemoteAddr() net.Addr { return c.ws.RemoteAddr() }

// Subprotocol returns the subprotocol negotiated in the handshake, or "".
func (c *Conn) Subprotocol() string { return c.ws.Subprotocol() }

// ConnectedAt returns when the upgrade completed.
func (c *Conn) ConnectedAt() time.Time { return c.start }

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

// Close starts a close handshake: the messages queued so far are written,
// then a close frame with code (1000-4999) and reason (at most 123 bytes);
// the connection ends when the peer answers, or after
// websocket.handshakeTimeout. It returns [ErrClosed] if the connection is
// already closing.
func (c *Conn) Close(code int, reason string) error {
	if code < 1000 || code > 4999 || code == websocket.CloseNoStatusReceived || code == websocket.CloseAbnormalClosure || code == websocket.CloseTLSHandshake {
		return fmt.Errorf("wsmodule: Close: code %d cannot be sent: use 1000-4999 except 1005, 1006 and 1015", code)
	}
	if len(reason) > config.MaxCloseReason {
		return fmt.Errorf("wsmodule: Close: the reason is %d bytes; a close frame carries at most %d", len(reason), config.MaxCloseReason)
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
	c.state = stateClosed
	c.queue, c.pending = nil, 0
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

// enqueue adds m to the queue and starts the writer if it is idle.
func (c *Conn) enqueue(m outbound) error {
	c.mu.Lock()
	if c.state != stateOpen {
		c.mu.Unlock()
		return ErrClosed
	}
	if m.kind == kindData || m.kind == kindPrepared {
		if c.pending >= c.hub.cfg.SendQueue {
			c.overflowLocked()
			c.mu.Unlock()
			return ErrQueueFull
		}
		c.pending++
	}
	c.pushLocked(m)
	c.mu.Unlock()
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
	c.state = stateClosed
	c.queue, c.pending = nil, 0
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

// touch pushes the read deadline: a peer must send something (a pong will
// do) within websocket.pongTimeout. Once the close frame is queued, the
// close handshake sets the deadline instead.
func (c *Conn) touch() {
	if c.closing.Load() {
		return
	}
	_ = c.ws.SetReadDeadline(time.Now().Add(c.hub.cfg.PongTimeout))
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
		// Mark the frame sent before writing it: the peer's answer can
		// arrive before WriteControl returns.
		c.mu.Lock()
		c.closeSent = true
		c.mu.Unlock()
		err := c.ws.WriteControl(websocket.CloseMessage, m.data, deadline)
		c.mu.Lock()
		release := c.release
		c.release = nil
		draining := c.drainSent
		c.mu.Unlock()
		if release != nil {
			release()
		}
		if err == nil && !draining && c.hub.cfg.HandshakeTimeout > 0 {
			// Conn.Close: bound the wait for the peer's answer. The
			// drain instead waits to its deadline, then reports who
			// did not answer.
			_ = c.ws.SetReadDeadline(time.Now().Add(c.hub.cfg.HandshakeTimeout))
		}
		return err
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

// fail ends a connection whose write failed: closing the socket ends the
// reader, which cleans up.
func (c *Conn) fail(err error) {
	c.mu.Lock()
	c.state = stateClosed
	c.queue, c.pending = nil, 0
	c.mu.Unlock()
	_ = c.ws.NetConn().Close()
	c.hub.opts.log.Debug("write failed: connection closed", zap.Stringer("remote", c.RemoteAddr()), zap.Error(err))
}

// handleClose answers the peer's close frame. If the server has not sent
// its own close frame, it echoes the peer's code at once; queued messages
// are dropped, the peer does not want them.
func (c *Conn) handleClose(code int, _ string) error {
	c.mu.Lock()
	sent := c.closeSent
	if sent {
		c.hub.closedClean.Add(1)
	}
	c.state = stateClosed
	c.queue, c.pending = nil, 0
	c.mu.Unlock()
	if !sent {
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(min(time.Second, c.hub.cfg.WriteTimeout)))
	}
	return nil
}

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

// end cleans up after the reader ends with err; the reader's goroutine
// ends with it.
func (c *Conn) end(err error) {
	defer c.hub.wg.Done()
	h := c.hub
	if errors.Is(err, websocket.ErrReadLimit) {
		h.tooBig.Add(1)
	}
	c.mu.Lock()
	c.state = stateClosed
	c.queue, c.pending = nil, 0
	release := c.release
	c.release = nil
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
