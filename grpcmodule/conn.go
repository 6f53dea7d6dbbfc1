package grpcmodule

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// listener tracks the connections it accepted, so that the stop can close
// those that never sent a byte, and every one that is left at the force
// deadline: grpc-go's Stop and GracefulStop both wait for connections still
// in their handshake, for up to connectionTimeout.
type listener struct {
	net.Listener
	mu    sync.Mutex
	conns map[*conn]struct{}
}

func newListener(ln net.Listener) *listener {
	return &listener{Listener: ln, conns: map[*conn]struct{}{}}
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &conn{Conn: c, l: l, accepted: time.Now()}
	l.mu.Lock()
	l.conns[tc] = struct{}{}
	l.mu.Unlock()
	return tc, nil
}

// closeSilent closes the connections that have not sent a byte for grace,
// counted from the later of their accept and since, and returns when to
// look again, or 0.
func (l *listener) closeSilent(since time.Time, grace time.Duration) time.Duration {
	now := time.Now()
	var doomed []*conn
	var next time.Duration
	l.mu.Lock()
	for c := range l.conns {
		if c.sentAny.Load() {
			continue
		}
		due := c.accepted
		if due.Before(since) {
			due = since
		}
		due = due.Add(grace)
		if !due.After(now) {
			doomed = append(doomed, c)
		} else if d := due.Sub(now); next == 0 || d < next {
			next = d
		}
	}
	l.mu.Unlock()
	for _, c := range doomed {
		_ = c.Close()
	}
	return next
}

// closeAll closes every connection still open.
func (l *listener) closeAll() {
	l.mu.Lock()
	left := make([]*conn, 0, len(l.conns))
	for c := range l.conns {
		left = append(left, c)
	}
	l.mu.Unlock()
	for _, c := range left {
		_ = c.Close()
	}
}

type conn struct {
	net.Conn
	l        *listener
	accepted time.Time
	sentAny  atomic.Bool
	once     sync.Once
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.sentAny.Load() {
		c.sentAny.Store(true)
	}
	return n, err
}

func (c *conn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
