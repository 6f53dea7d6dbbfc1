package wsmodule

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"

	"github.com/lameduck/lameduck/lifecycle"
)

// MessageType is the type of a data message.
type MessageType int

// Data message types (RFC 6455 section 5.6).
const (
	// TextMessage carries UTF-8 text.
	TextMessage MessageType = websocket.TextMessage
	// BinaryMessage carries bytes.
	BinaryMessage MessageType = websocket.BinaryMessage
)

// Errors returned by [Conn.Send] and [Hub.Broadcast].
var (
	// ErrQueueFull: the connection's outbound queue held websocket.sendQueue
	// messages. The connection is being closed with 1013 (Try Again Later).
	ErrQueueFull = errors.New("wsmodule: send queue full: the peer reads too slowly; the connection is closed with 1013")
	// ErrClosed: the connection is closed or closing (its close frame is
	// queued); nothing more can be sent on it.
	ErrClosed = errors.New("wsmodule: connection closed or closing")
)

// Hub upgrades HTTP requests to WebSocket connections, tracks every
// connection it upgraded, broadcasts to them, and drains them when the
// process stops. Create one with [NewHub]; it is an http.Handler.
type Hub struct {
	name     string
	cfg      Settings
	opts     hubOptions
	upgrader *websocket.Upgrader
	closeMsg []byte // the drain's close frame payload

	mu         sync.RWMutex
	conns      []*Conn // index Conn.idx; upgrades in progress included
	upgrading  int     // upgrades in progress (in conns, not yet upgraded)
	draining   bool
	drainStart chan struct{} // closed when the drain begins
	empty      chan struct{} // closed once draining and no connection is left
	emptied    bool
	stragglers []lifecycle.Straggler
	drained    chan struct{} // closed when Stop has returned

	// wg counts every goroutine the hub started: readers, writers, closers.
	wg sync.WaitGroup

	accepted    atomic.Uint64
	rejected    atomic.Uint64
	overflows   atomic.Uint64
	tooBig      atomic.Uint64
	closedClean atomic.Uint64
	forced      atomic.Uint64
}

// NewHub returns a hub named name (it appears in logs, step names and the
// stop report) configured by cfg. It does nothing until requests reach its
// ServeHTTP.
func NewHub(name string, cfg Settings, opts ...Option) (*Hub, error) {
	o := hubOptions{log: zap.NewNop(), readBuf: DefaultReadBufferSize, writeBuf: DefaultWriteBufferSize}
	for _, opt := range opts {
		opt(&o)
	}
	if err := check(name, cfg, o); err != nil {
		return nil, err
	}
	h := &Hub{
		name:       name,
		cfg:        cfg,
		opts:       o,
		closeMsg:   websocket.FormatCloseMessage(int(cfg.CloseCode), cfg.CloseReason),
		drainStart: make(chan struct{}),
		empty:      make(chan struct{}),
		drained:    make(chan struct{}),
	}
	h.opts.log = o.log.With(zap.String("hub", name))
	h.upgrader = newUpgrader(cfg, o.writeBuf, h.refuse)
	return h, nil
}

// Name returns the hub's name.
func (h *Hub) Name() string { return h.name }

// Step returns the hub's drain as a step of the lifecycle.HubDrain phase,
// named "ws.<name>", for lifecycle.Coordinator.Register.
func (h *Hub) Step() lifecycle.Step {
	return lifecycle.Step{Phase: lifecycle.HubDrain, Name: "ws." + h.name, Stopper: h}
}

// ServeHTTP upgrades the request to a WebSocket connection and tracks it.
// It answers 403 for an origin that is not allowed, 400 for a malformed
// handshake, and 503 once the hub drains. It returns as soon as the
// connection is set up: the hub's own goroutines serve it from then on.
//
// The hub tracks the connection before the handshake's response is written,
// so that every broadcast made once the client has that response reaches
// it, and a drain that begins meanwhile closes it like the others.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := newConn(h, r)
	if !h.track(c) {
		c.cancel()
		h.rejected.Add(1)
		w.Header().Set("Connection", "close")
		w.Header().Set("Retry-After", "0")
		http.Error(w, "wsmodule: hub "+h.name+" is shutting down: reconnect, another instance will take you", http.StatusServiceUnavailable)
		return
	}
	hj := &hijacker{ResponseWriter: w, size: h.opts.readBuf, conn: c}
	ws, err := h.upgrader.Upgrade(hj, r, nil)
	if err != nil {
		// The upgrader has answered the client (see refuse) or the
		// connection broke during the handshake.
		h.forget(c)
		return
	}
	h.attach(c, ws, hj.br)
	go c.readLoop(true)
}

// track adds the record of an upgrade about to begin. It reports false
// once the hub drains: the upgrade must be refused.
func (h *Hub) track(c *Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.draining {
		return false
	}
	h.upgrading++
	c.idx = len(h.conns)
	h.conns = append(h.conns, c)
	return true
}

// attach completes the record of an upgrade that succeeded and counts its
// reader, which the caller starts. A record closed during the handshake
// gets its connection closed: the reader then ends at once.
func (h *Hub) attach(c *Conn, ws *websocket.Conn, br *bufio.Reader) {
	c.setUp(ws, br)
	h.mu.Lock()
	h.upgrading--
	h.wg.Add(1) // the reader
	c.mu.Lock()
	live := c.attachLocked(ws)
	c.mu.Unlock()
	h.mu.Unlock()
	h.accepted.Add(1)
	if !live {
		_ = ws.NetConn().Close()
	}
}

// forget drops the record of an upgrade that failed, with whatever was
// queued for it.
func (h *Hub) forget(c *Conn) {
	c.mu.Lock()
	c.dropLocked()
	release := c.takeReleaseLocked()
	c.mu.Unlock()
	if release != nil {
		release()
	}
	c.cancel()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.upgrading--
	h.removeLocked(c)
}

// refuse answers a failed handshake. It is the upgrader's Error function.
func (h *Hub) refuse(w http.ResponseWriter, r *http.Request, status int, reason error) {
	h.rejected.Add(1)
	w.Header().Set("Sec-Websocket-Version", "13")
	http.Error(w, fmt.Sprintf("%s (hub %s)", reason.Error(), h.name), status)
}

// Draining returns a channel that is closed when the drain begins, from
// which point the hub refuses upgrades.
func (h *Hub) Draining() <-chan struct{} { return h.drainStart }

// Len returns the number of upgraded connections the hub tracks now
// (upgrades in progress are not counted).
func (h *Hub) Len() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.conns) - h.upgrading
}

// Each calls f for every upgraded connection until f returns false. The
// hub's list is locked while Each runs: f must not block (Send does not).
//
// Unlike [Hub.Broadcast], Each does not visit connections whose upgrade is
// still running: a client whose handshake has just completed may be missed.
func (h *Hub) Each(f func(c *Conn) bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, c := range h.conns {
		if c.ws == nil {
			continue
		}
		if !f(c) {
			return
		}
	}
}

// Broadcast queues a message for every connection and returns how many
// accepted it. It never blocks on a peer: a connection whose queue is full
// is closed with 1013 and counted in [Stats].Overflows; closing ones are
// skipped. The frame is encoded once for all connections; data may be
// reused when Broadcast returns.
//
// Every client whose handshake has completed (its Dial has returned, or a
// browser's open event has fired) before Broadcast is called receives the
// message: the hub tracks a connection, and queues for it, from before the
// handshake's response is written. Connections whose upgrade is running
// are counted; they receive the message once the upgrade completes.
func (h *Hub) Broadcast(typ MessageType, data []byte) (int, error) {
	pm, err := websocket.NewPreparedMessage(int(typ), data)
	if err != nil {
		return 0, fmt.Errorf("wsmodule: hub %s: broadcast: %w", h.name, err)
	}
	m := outbound{kind: kindPrepared, pm: pm}
	n := 0
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, c := range h.conns {
		if c.enqueue(m) == nil {
			n++
		}
	}
	return n, nil
}

// remove forgets c once its reader has ended.
func (h *Hub) remove(c *Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(c)
}

// removeLocked forgets c. h.mu is held.
func (h *Hub) removeLocked(c *Conn) {
	last := len(h.conns) - 1
	if c.idx <= last && h.conns[c.idx] == c {
		h.conns[c.idx] = h.conns[last]
		h.conns[c.idx].idx = c.idx
		h.conns[last] = nil
		h.conns = h.conns[:last]
	}
	h.checkEmpty()
}

// checkEmpty closes h.empty when the hub drains and nothing is left. h.mu
// is held.
func (h *Hub) checkEmpty() {
	if h.draining && !h.emptied && len(h.conns) == 0 {
		h.emptied = true
		close(h.empty)
	}
}

// Stats counts what the hub did since it was created.
type Stats struct {
	// Active is the number of connections open now; upgrades in progress
	// are not counted.
	Active int
	// Queued is the number of data messages accepted by Send or Broadcast
	// and not yet written, over every connection, now.
	Queued int
	// Accepted counts completed upgrades.
	Accepted uint64
	// Rejected counts refused handshakes: bad origin, malformed, or
	// arriving while the hub drains.
	Rejected uint64
	// Overflows counts connections closed because their send queue was
	// full.
	Overflows uint64
	// TooBig counts connections closed with 1009 because a message exceeded
	// websocket.readLimit.
	TooBig uint64
	// ClosedClean counts connections that ended with a completed close
	// handshake started by the server (the drain or [Conn.Close]).
	ClosedClean uint64
	// ForceClosed counts connections cut at the drain's deadline, upgrades
	// in progress included.
	ForceClosed uint64
}

// Stats returns the hub's counters. It locks each connection in turn to
// count its queue: it is for metrics and tests, not for a hot path.
func (h *Hub) Stats() Stats {
	return Stats{
		Active:      h.Len(),
		Queued:      h.queued(),
		Accepted:    h.accepted.Load(),
		Rejected:    h.rejected.Load(),
		Overflows:   h.overflows.Load(),
		TooBig:      h.tooBig.Load(),
		ClosedClean: h.closedClean.Load(),
		ForceClosed: h.forced.Load(),
	}
}

// queued counts the data messages waiting in every connection's queue.
func (h *Hub) queued() int {
	n := 0
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, c := range h.conns {
		c.mu.Lock()
		n += c.pending
		c.mu.Unlock()
	}
	return n
}
