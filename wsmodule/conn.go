package wsmodule

import (
	"bufio"
	"context"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
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

type connState uint8

const (
	stateOpen    connState = iota
	stateClosing           // close frame queued: nothing more is accepted
	stateClosed            // ended or failed: nothing more is written
)

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

// age is how long c has been connected.
func (c *Conn) age(now time.Time) time.Duration { return now.Sub(c.start) }
