package httpmodule

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// listener counts and tracks the connections it accepts, and caps them at
// maxConns (like golang.org/x/net/netutil.LimitListener, but the wrapped
// connection keeps CloseWrite, which the early close of idle HTTP/2
// connections needs).
type listener struct {
	net.Listener
	run *serverRun

	sem       chan struct{} // nil: no cap
	closeOnce sync.Once
	closed    chan struct{}
}

func newListener(ln net.Listener, run *serverRun, maxConns int) *listener {
	l := &listener{Listener: ln, run: run, closed: make(chan struct{})}
	if maxConns > 0 {
		l.sem = make(chan struct{}, maxConns)
	}
	return l
}

// Accept waits for a free connection slot (when capped) and the next
// connection, and wraps it.
func (l *listener) Accept() (net.Conn, error) {
	if l.sem != nil {
		select {
		case l.sem <- struct{}{}:
		case <-l.closed:
			return nil, net.ErrClosed
		}
	}
	c, err := l.Listener.Accept()
	if err != nil {
		if l.sem != nil {
			<-l.sem
		}
		return nil, err
	}
	return l.run.track(c, l.sem), nil
}

// Close closes the listener; Accept calls waiting for a slot return.
func (l *listener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.closed) })
	l.run.wakeStop()
	return err
}

func (l *listener) isClosed() bool {
	select {
	case <-l.closed:
		return true
	default:
		return false
	}
}

// Protocol detection, by the first bytes the client sends.
const (
	protoUnknown int32 = iota
	protoHTTP1
	protoH2
)

// conn is a connection the server accepted. It tells the server's stop
// when it closes, finds out whether it carries HTTP/1 or HTTP/2, and for
// HTTP/2 closes early once idle after a GOAWAY.
type conn struct {
	net.Conn
	run         *serverRun
	sem         chan struct{}
	releaseOnce sync.Once
	accepted    time.Time

	state atomic.Int32 // http.ConnState as last reported
	proto atomic.Int32
	// prefaceSeen counts the bytes of the HTTP/2 client preface matched so
	// far; only the reading goroutine touches it.
	prefaceSeen int
	// halfClosed is set once we sent FIN after a GOAWAY: later writes are
	// discarded.
	halfClosed atomic.Bool

	mu         sync.Mutex
	h2         h2streams
	peerDone   bool // the peer closed its side (we read EOF)
	closeAsked bool // the server closed the connection
	hijacked   bool
	closed     bool
	graceTimer *time.Timer
}

// Read reads from the connection, and on HTTP/2 connections follows the
// frames the client sends.
func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	switch c.proto.Load() {
	case protoHTTP1:
	case protoUnknown:
		if n > 0 {
			if c.run.h2c {
				c.detect(p[:n])
			} else {
				c.proto.Store(protoHTTP1)
			}
		}
	case protoH2:
		if n > 0 || err == io.EOF {
			c.mu.Lock()
			c.h2.read(p[:n])
			if err == io.EOF {
				c.peerDone = true
			}
			c.mu.Unlock()
		}
	}
	return n, err
}

// detect matches the first bytes against the HTTP/2 preface.
func (c *conn) detect(p []byte) {
	want := clientPreface[c.prefaceSeen:]
	n := min(len(p), len(want))
	if string(p[:n]) != want[:n] {
		c.proto.Store(protoHTTP1)
		return
	}
	c.prefaceSeen += n
	if c.prefaceSeen < len(clientPreface) {
		return
	}
	c.mu.Lock()
	c.h2.read(p[n:])
	c.mu.Unlock()
	c.proto.Store(protoH2)
}

// Write writes to the connection; on HTTP/2 connections it follows the
// frames the server sends and half-closes once the connection is drained.
// After the half-close, writes are discarded: the peer has been told that
// nothing more comes.
func (c *conn) Write(p []byte) (int, error) {
	if c.proto.Load() != protoH2 {
		return c.Conn.Write(p)
	}
	if c.halfClosed.Load() {
		return len(p), nil
	}
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	hadGoAway := c.h2.goAway
	c.h2.wrote(p[:n])
	newGoAway := c.h2.goAway && !hadGoAway
	closeNow := c.checkDrainedLocked()
	c.mu.Unlock()
	if newGoAway && c.run.s.onGoAway != nil {
		c.run.s.onGoAway()
	}
	if closeNow {
		_ = c.closeNow()
	}
	return n, err
}

// ReadFrom lets HTTP/1 responses use sendfile and splice, as they do on a
// bare *net.TCPConn.
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok && c.proto.Load() == protoHTTP1 {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{c}, r)
}

type writerOnly struct{ io.Writer }

// CloseWrite shuts down the writing side, if the connection has one.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// NetConn returns the underlying connection, such as a *net.TCPConn, for
// code that needs it after a hijack (socket options).
func (c *conn) NetConn() net.Conn { return c.Conn }

// setState records the state that net/http reports.
func (c *conn) setState(s http.ConnState) {
	c.state.Store(int32(s))
	if c.proto.Load() != protoH2 {
		return
	}
	switch s {
	case http.StateIdle:
		c.mu.Lock()
		closeNow := c.checkDrainedLocked()
		c.mu.Unlock()
		if closeNow {
			_ = c.closeNow()
		}
	case http.StateActive:
		// An HTTP/2 connection that reaches net/http's HTTP/2 server
		// after the stop's GOAWAY sweep would never get a GOAWAY, and
		// would hold the stop until the phase deadline
		// (golang/go#81153): ask for another sweep.
		if c.run.stopping.Load() {
			c.mu.Lock()
			swept := c.h2.goAway
			c.mu.Unlock()
			if !swept {
				select {
				case c.run.resweep <- struct{}{}:
				default:
				}
			}
		}
	}
}

// checkDrainedLocked half-closes an HTTP/2 connection that the server has
// sent a graceful GOAWAY on and that has no stream left, and arranges to
// close it after the peer closes or the grace ends. It reports whether the
// connection should be closed at once (the peer is gone already). c.mu is
// held.
func (c *conn) checkDrainedLocked() (closeNow bool) {
	if c.halfClosed.Load() || c.closed || c.hijacked || !c.h2.drained() ||
		http.ConnState(c.state.Load()) != http.StateIdle {
		return false
	}
	c.halfClosed.Store(true)
	if c.peerDone || c.run.h2IdleGrace <= 0 {
		return true
	}
	if err := c.CloseWrite(); err != nil {
		return true
	}
	c.graceTimer = time.AfterFunc(c.run.h2IdleGrace, c.forceClose)
	return false
}

// hijack hands the connection over to a handler: the server no longer
// tracks it.
func (c *conn) hijack() {
	c.mu.Lock()
	c.hijacked = true
	c.mu.Unlock()
	c.run.untrack(c)
}

// Close closes the connection. On a half-closed HTTP/2 connection whose
// peer has not closed yet, the socket stays open and is drained until the
// peer closes or the grace ends, so that data the peer sent meanwhile does
// not make the kernel answer with a reset.
func (c *conn) Close() error {
	c.mu.Lock()
	if c.hijacked {
		c.mu.Unlock()
		return c.closeSocket()
	}
	if c.closed || c.closeAsked {
		c.mu.Unlock()
		return nil
	}
	c.closeAsked = true
	linger := c.halfClosed.Load() && !c.peerDone && !c.run.forcing.Load()
	c.mu.Unlock()
	if linger {
		c.run.drains.Add(1)
		go c.drain()
		return nil
	}
	return c.closeNow()
}

// drain reads and discards until the peer closes or the socket is closed
// at the end of the grace.
func (c *conn) drain() {
	defer c.run.drains.Done()
	var buf [512]byte
	for {
		if _, err := c.Conn.Read(buf[:]); err != nil {
			break
		}
	}
	_ = c.closeNow()
}

// forceClose closes the connection now, whatever its state.
func (c *conn) forceClose() { _ = c.closeNow() }

// closeNow closes the socket once and tells the server's stop.
func (c *conn) closeNow() error {
	c.mu.Lock()
	if c.closed || c.hijacked {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	if c.graceTimer != nil {
		c.graceTimer.Stop()
	}
	c.mu.Unlock()
	err := c.closeSocket()
	c.run.untrack(c)
	return err
}

// closeSocket closes the socket and frees its slot under maxConns.
func (c *conn) closeSocket() error {
	err := c.Conn.Close()
	c.releaseOnce.Do(func() {
		if c.sem != nil {
			<-c.sem
		}
	})
	return err
}
