package httpmodule

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/lameduck/lameduck/lifecycle"
)

// testServerConfig is a default server on a free loopback port.
func testServerConfig() ServerSettings {
	return DefaultServerSettings("127.0.0.1:0")
}

// testStop is a stop budget for tests: no preStop delay, shutdown capped at
// shutdown.
func testStop(shutdown time.Duration) lifecycle.Settings {
	s := lifecycle.DefaultSettings(nil)
	s.PreStopDelay = 0
	s.Shutdown = shutdown
	s.Reserve = 400 * time.Millisecond
	s.ForceGrace = 150 * time.Millisecond
	s.Total = shutdown + s.HubDrain + s.Wait + time.Second
	return s
}

// startServer starts a server serving mux on a free port and returns it;
// the test's cleanup closes it.
func startServer(t *testing.T, cfg ServerSettings, mux *http.ServeMux) *Server {
	t.Helper()
	s := NewServer("public", cfg, mux, WithLogger(zaptest.NewLogger(t)))
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// coordinator returns a stop coordinator with s's steps registered, and a
// channel that receives its events.
func coordinator(t *testing.T, stop lifecycle.Settings, servers ...*Server) (*lifecycle.Coordinator, <-chan lifecycle.Event) {
	t.Helper()
	events := make(chan lifecycle.Event, 64)
	c := lifecycle.New(stop, lifecycle.WithLogger(zaptest.NewLogger(t)),
		lifecycle.WithObservers(lifecycle.ObserverFunc(func(e lifecycle.Event) {
			select {
			case events <- e:
			default:
			}
		})))
	for _, s := range servers {
		if err := c.Register(s.Steps()...); err != nil {
			t.Fatal(err)
		}
	}
	return c, events
}

// stopAsync runs the coordinator's stop in the background.
func stopAsync(c *lifecycle.Coordinator) <-chan *lifecycle.StopReport {
	done := make(chan *lifecycle.StopReport, 1)
	go func() {
		rep, _ := c.Stop(context.Background())
		done <- rep
	}()
	return done
}

// waitFor returns the first event of kind in phase p.
func waitFor(t *testing.T, events <-chan lifecycle.Event, kind lifecycle.EventKind, p lifecycle.Phase) lifecycle.Event {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case e := <-events:
			if e.Kind == kind && e.Phase == p {
				return e
			}
		case <-timeout:
			t.Fatalf("no event %v for phase %s", kind, p)
		}
	}
}

// listenerClosed waits until the server's listener of its latest start is
// closed.
func listenerClosed(t *testing.T, s *Server) {
	t.Helper()
	s.mu.Lock()
	run := s.last
	s.mu.Unlock()
	select {
	case <-run.ln.closed:
	case <-time.After(30 * time.Second):
		t.Fatal("listener not closed")
	}
}

func url(s *Server, path string) string { return "http://" + s.Addr().String() + path }

// isRefused reports whether err is a refused connection.
func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// h1Client returns an HTTP/1 client with its own transport.
func h1Client(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// h2cClient returns an HTTP/2 client that speaks h2c with prior knowledge,
// dialing through dial (nil for the default).
func h2cClient(t *testing.T, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Client {
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protos, DialContext: dial}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// tapConn is a client connection that watches the HTTP/2 frames the server
// sends it, to see the GOAWAY and how the connection ends.
type tapConn struct {
	net.Conn
	sc       frameScanner // only the reading goroutine touches it
	goAway   chan struct{}
	ended    chan struct{}
	mu       sync.Mutex
	lastID   uint32
	readErr  error
	goAwayAt int // frames read before the GOAWAY
	frames   int
}

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.sc.feed(p[:n], func(f frameHeader, payload []byte) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.frames++
		if f.typ == frameGoAway && len(payload) >= 4 {
			c.lastID = binary.BigEndian.Uint32(payload) & 0x7fffffff
			select {
			case <-c.goAway:
			default:
				c.goAwayAt = c.frames
				close(c.goAway)
			}
		}
	})
	if err != nil {
		c.end(err)
	}
	return n, err
}

// Close records the client closing the connection itself: Go 1.27's HTTP/2
// client closes an idle connection that got a GOAWAY without reading from
// it again, so no read error would ever tell.
func (c *tapConn) Close() error {
	err := c.Conn.Close()
	c.end(net.ErrClosed)
	return err
}

// end records how the connection ended, once.
func (c *tapConn) end(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.readErr == nil {
		c.readErr = err
		close(c.ended)
	}
}

// endErr waits for the connection's first read error and returns it.
func (c *tapConn) endErr(t *testing.T) error {
	t.Helper()
	select {
	case <-c.ended:
	case <-time.After(30 * time.Second):
		t.Fatal("client connection not ended")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.readErr
}

// tapDialer dials tapConns and keeps them.
type tapDialer struct {
	mu    sync.Mutex
	conns []*tapConn
}

func (d *tapDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var nd net.Dialer
	nc, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c := &tapConn{Conn: nc, goAway: make(chan struct{}), ended: make(chan struct{})}
	d.mu.Lock()
	d.conns = append(d.conns, c)
	d.mu.Unlock()
	return c, nil
}

func (d *tapDialer) dialed() []*tapConn {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.conns)
}

// recv receives from ch, failing the test if nothing comes in 30s.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// cleanEnd reports whether a client connection ended without a reset:
// the server's FIN (EOF), or the client closing it itself after the GOAWAY
// (Go's HTTP/2 client closes an idle connection that got one).
func cleanEnd(err error) bool {
	return err == io.EOF || errors.Is(err, net.ErrClosed)
}
