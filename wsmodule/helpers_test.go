package wsmodule

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// testConfig returns the default WebSocket settings.
func testConfig() Settings { return DefaultSettings(nil) }

// newTestHub returns a hub or fails the test.
func newTestHub(t testing.TB, cfg Settings, opts ...Option) *Hub {
	t.Helper()
	h, err := NewHub("chat", cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// serve serves handler at /ws on a plain net/http server on 127.0.0.1:0 and
// returns the ws:// URL. The server closes when the test ends; the hub is
// drained first (with a short deadline) so that no goroutine outlives it.
func serve(t testing.TB, h *Hub) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = h.Stop(ctx)
	})
	return "ws://" + ln.Addr().String() + "/ws"
}

// dial connects a gorilla client or fails the test.
func dial(t testing.TB, url string, header http.Header) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(url, header)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", url, err, status)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// connWaiter counts OnConnect calls, so that a test can wait until the hub
// tracks n connections without polling.
type connWaiter struct {
	mu    sync.Mutex
	n     int
	conns []*Conn
	waits map[int]chan struct{}
}

func (w *connWaiter) onConnect(c *Conn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n++
	w.conns = append(w.conns, c)
	if ch, ok := w.waits[w.n]; ok {
		close(ch)
		delete(w.waits, w.n)
	}
}

// wait blocks until n connections have connected in total.
func (w *connWaiter) wait(t testing.TB, n int) []*Conn {
	t.Helper()
	w.mu.Lock()
	if w.n >= n {
		conns := append([]*Conn(nil), w.conns...)
		w.mu.Unlock()
		return conns
	}
	if w.waits == nil {
		w.waits = map[int]chan struct{}{}
	}
	ch, ok := w.waits[n]
	if !ok {
		ch = make(chan struct{})
		w.waits[n] = ch
	}
	w.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("only %d of %d connections after 30s", w.count(), n)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*Conn(nil), w.conns...)
}

func (w *connWaiter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// readAll reads messages until the connection ends and returns them with the
// error that ended it.
func readAll(c *websocket.Conn) ([]string, error) {
	var got []string
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			return got, err
		}
		got = append(got, string(data))
	}
}

// closeCode returns the code of a *websocket.CloseError, or -1.
func closeCode(err error) (int, string) {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code, ce.Text
	}
	return -1, ""
}

// echo is an OnMessage that sends every message back.
func echo(c *Conn, typ MessageType, data []byte) { _ = c.Send(typ, data) }

// roundTrip sends msg on c and expects it back.
func roundTrip(t testing.TB, c *websocket.Conn, msg string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	_, data, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read echo: %v", err)
	}
	if string(data) != msg {
		t.Fatalf("echo = %q, want %q", data, msg)
	}
}

// serveHandler serves h on 127.0.0.1:0 until the test ends and returns the
// ws:// URL of /ws.
func serveHandler(t testing.TB, h http.Handler) string {
	t.Helper()
	return "ws://" + listenAndServe(t, h) + "/ws"
}

// listenAndServe serves h on 127.0.0.1:0 until the test ends and returns
// its address.
func listenAndServe(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return ln.Addr().String()
}
