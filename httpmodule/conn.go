package httpmodule

import (
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// listener tracks the connections it accepts and caps them at maxConns
// (like golang.org/x/net/netutil.LimitListener).
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

// conn is a connection the server accepted. It passes every byte through
// unchanged; it only observes, so that the stop knows:
//   - when the connection closes (the stop ends when the last one has);
//   - whether the client has sent anything (a connection that has not
//     can be closed without losing a request);
//   - whether a write is in progress (closing then would cut a response).
type conn struct {
	net.Conn
	run      *serverRun
	sem      chan struct{}
	accepted time.Time

	// state is the http.ConnState that net/http last reported.
	state atomic.Int32
	// sentAny is set once the client has sent a byte.
	sentAny atomic.Bool
	// writing counts the writes in progress.
	writing atomic.Int32
	// hijacked is set when a handler took the connection over.
	hijacked atomic.Bool

	// Guarded by run.mu: the requests in flight on the connection and the
	// latest one (to name a response cut off after its handler returned).
	inFlight    int
	latest      *http.Request
	latestStart time.Time

	closeOnce sync.Once
	closeErr  error
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.sentAny.Load() {
		c.sentAny.Store(true)
	}
	return n, err
}

func (c *conn) Write(p []byte) (int, error) {
	c.writing.Add(1)
	defer c.writing.Add(-1)
	return c.Conn.Write(p)
}

// ReadFrom lets HTTP/1 responses use sendfile and splice, as they do on a
// bare *net.TCPConn.
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	c.writing.Add(1)
	defer c.writing.Add(-1)
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(c.Conn, r)
}

// NetConn returns the underlying connection, such as a *net.TCPConn, for
// code that needs it after a hijack (socket options).
func (c *conn) NetConn() net.Conn { return c.Conn }

// Close closes the socket once, frees its slot under maxConns and tells
// the server's stop.
func (c *conn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.Conn.Close()
		if c.sem != nil {
			<-c.sem
		}
		if !c.hijacked.Load() {
			c.run.untrack(c)
		}
	})
	return c.closeErr
}

// hijack hands the connection over to a handler: the server no longer
// tracks it, and its Close is the handler's.
func (c *conn) hijack() {
	c.hijacked.Store(true)
	c.run.untrack(c)
}
