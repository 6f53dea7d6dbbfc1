package wsmodule

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestReadLimitClosesWith1009: a message larger than websocket.readLimit
// closes that connection with 1009; another connection keeps working.
func TestReadLimitClosesWith1009(t *testing.T) {
	cfg := testConfig()
	cfg.ReadLimit = 1024
	serverEnded := make(chan error, 2)
	hub := newTestHub(t, cfg, OnMessage(echo), OnClose(func(_ *Conn, err error) { serverEnded <- err }))
	url := serve(t, hub)
	bystander := dial(t, url, nil)
	roundTrip(t, bystander, "before")

	big := dial(t, url, nil)
	roundTrip(t, big, strings.Repeat("a", 1024)) // at the limit: fine
	if err := big.WriteMessage(websocket.BinaryMessage, make([]byte, 1025)); err != nil {
		t.Fatal(err)
	}
	_ = big.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := readAll(big)
	if code, _ := closeCode(err); code != websocket.CloseMessageTooBig {
		t.Fatalf("oversized message: connection ended with %v, want close 1009", err)
	}
	if err := <-serverEnded; !errors.Is(err, websocket.ErrReadLimit) {
		t.Fatalf("server side ended with %v, want the read limit", err)
	}
	roundTrip(t, bystander, "after")
	if st := hub.Stats(); st.TooBig != 1 {
		t.Fatalf("stats %+v: want TooBig 1", st)
	}
}

// TestHandshakeRejections: a foreign origin gets 403, malformed handshakes
// 400 (405 for a POST), with a body that says why; a connected client is
// not affected and the hub tracks no extra connection.
func TestHandshakeRejections(t *testing.T) {
	var waiter connWaiter
	hub := newTestHub(t, testConfig(), OnConnect(waiter.onConnect), OnMessage(echo))
	url := serve(t, hub)
	httpURL := "http" + strings.TrimPrefix(url, "ws")
	bystander := dial(t, url, nil)
	waiter.wait(t, 1)

	good := func() http.Header {
		return http.Header{
			"Connection":            {"Upgrade"},
			"Upgrade":               {"websocket"},
			"Sec-Websocket-Version": {"13"},
			"Sec-Websocket-Key":     {"dGhlIHNhbXBsZSBub25jZQ=="},
		}
	}
	cases := []struct {
		name   string
		method string
		edit   func(http.Header)
		status int
		body   string
	}{
		{"foreign origin", "GET", func(h http.Header) { h.Set("Origin", "http://evil.example") }, http.StatusForbidden, "origin not allowed"},
		{"no upgrade header", "GET", func(h http.Header) { h.Del("Upgrade") }, http.StatusBadRequest, "'websocket' token not found"},
		{"no key", "GET", func(h http.Header) { h.Del("Sec-Websocket-Key") }, http.StatusBadRequest, "Sec-WebSocket-Key"},
		{"bad key", "GET", func(h http.Header) { h.Set("Sec-Websocket-Key", "short") }, http.StatusBadRequest, "Sec-WebSocket-Key"},
		{"old version", "GET", func(h http.Header) { h.Set("Sec-Websocket-Version", "8") }, http.StatusBadRequest, "unsupported version"},
		{"post", "POST", func(http.Header) {}, http.StatusMethodNotAllowed, "not GET"},
		{"plain GET", "GET", func(h http.Header) { clear(h) }, http.StatusBadRequest, "not using the websocket protocol"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, httpURL, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header = good()
			tc.edit(req.Header)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.body) || !strings.Contains(string(body), "hub chat") {
				t.Fatalf("status %d body %q: want %d mentioning %q and the hub", resp.StatusCode, body, tc.status, tc.body)
			}
			if st := hub.Stats(); st.Rejected != uint64(i+1) || st.Active != 1 {
				t.Fatalf("stats %+v: want %d rejected, 1 active", st, i+1)
			}
		})
	}
	roundTrip(t, bystander, "still here")
	http.DefaultClient.CloseIdleConnections()
}

// TestAllowedOrigins: same origin and listed origins pass, others get 403;
// "*" lets any origin in.
func TestAllowedOrigins(t *testing.T) {
	cfg := testConfig()
	cfg.AllowedOrigins = []string{"https://app.example.com"}
	url := serve(t, newTestHub(t, cfg))
	host := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/ws")
	for origin, want := range map[string]int{
		"":                                http.StatusSwitchingProtocols, // not a browser
		"http://" + host:                  http.StatusSwitchingProtocols, // same origin
		"https://app.example.com":         http.StatusSwitchingProtocols,
		"https://APP.example.com:443":     http.StatusSwitchingProtocols,
		"http://app.example.com":          http.StatusForbidden, // other scheme
		"https://app.example.com.evil.io": http.StatusForbidden,
		"null":                            http.StatusForbidden,
	} {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		c, resp, err := websocket.DefaultDialer.Dial(url, h)
		if resp == nil {
			t.Fatalf("origin %q: %v", origin, err)
		}
		if resp.StatusCode != want {
			t.Errorf("origin %q: status %d, want %d", origin, resp.StatusCode, want)
		}
		if c != nil {
			c.Close()
		}
	}

	cfg.AllowedOrigins = []string{"*"}
	url = serve(t, newTestHub(t, cfg))
	c, resp, err := websocket.DefaultDialer.Dial(url, http.Header{"Origin": {"https://anything.example"}})
	if err != nil {
		t.Fatalf("origin with \"*\": %v (status %v)", err, resp.StatusCode)
	}
	c.Close()
}

// TestUpgradeRefusedWhileDraining: once the drain begins, upgrades get 503
// and existing connections still drain normally.
func TestUpgradeRefusedWhileDraining(t *testing.T) {
	var waiter connWaiter
	release := make(chan struct{})
	hub := newTestHub(t, testConfig(), OnConnect(waiter.onConnect), OnMessage(func(c *Conn, _ MessageType, _ []byte) {
		<-release // hold the drain open until the test has tried a new upgrade
	}))
	url := serve(t, hub)
	c := dial(t, url, nil)
	waiter.wait(t, 1)
	if err := c.WriteMessage(websocket.TextMessage, []byte("block")); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() {
		_, err := readAll(c)
		ended <- err
	}()
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stopped <- hub.Stop(ctx)
	}()
	<-hub.Draining()
	_, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if !errors.Is(err, websocket.ErrBadHandshake) || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("upgrade during the drain: %v, want 503", err)
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if err := <-ended; !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("existing connection ended with %v, want 1001", err)
	}
}

// statusRecorder is typical logging middleware: it wraps the
// ResponseWriter and, being well-behaved, provides Unwrap.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// opaqueWriter wraps the ResponseWriter and hides everything else.
type opaqueWriter struct{ w http.ResponseWriter }

func (o opaqueWriter) Header() http.Header         { return o.w.Header() }
func (o opaqueWriter) Write(b []byte) (int, error) { return o.w.Write(b) }
func (o opaqueWriter) WriteHeader(code int)        { o.w.WriteHeader(code) }

// TestUpgradeThroughMiddleware: middleware that wraps the ResponseWriter
// with Unwrap does not stop the upgrade; one that hides the connection gets
// a 500 that says why.
func TestUpgradeThroughMiddleware(t *testing.T) {
	hub := newTestHub(t, testConfig(), OnMessage(echo))
	mux := http.NewServeMux()
	mux.Handle("/ws", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hub.ServeHTTP(&statusRecorder{ResponseWriter: w}, r)
	}))
	mux.Handle("/opaque", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hub.ServeHTTP(opaqueWriter{w}, r)
	}))
	url := serveHandler(t, mux)
	c := dial(t, url, nil)
	roundTrip(t, c, "through middleware")
	go func() { _, _ = readAll(c) }() // answers the drain's close frame

	_, resp, err := websocket.DefaultDialer.Dial(strings.TrimSuffix(url, "/ws")+"/opaque", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("upgrade through an opaque wrapper: %v, want 500", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "Unwrap") {
		t.Fatalf("body %q does not say how to fix it", body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hub.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestSubprotocolsAndCompression: the configured subprotocols are
// negotiated; permessage-deflate only when websocket.compression is on, and
// then messages still round-trip.
func TestSubprotocolsAndCompression(t *testing.T) {
	for _, compression := range []bool{false, true} {
		cfg := testConfig()
		cfg.Subprotocols = []string{"chat.v2", "chat.v1"}
		cfg.Compression = compression
		protocols := make(chan string, 1)
		hub := newTestHub(t, cfg, OnConnect(func(c *Conn) { protocols <- c.Subprotocol() }), OnMessage(echo))
		url := serve(t, hub)
		d := websocket.Dialer{Subprotocols: []string{"chat.v1", "chat.v2"}, EnableCompression: true}
		c, resp, err := d.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		ext := resp.Header.Get("Sec-Websocket-Extensions")
		if got := strings.Contains(ext, "permessage-deflate"); got != compression {
			t.Fatalf("compression %v: extensions %q", compression, ext)
		}
		if got := <-protocols; got != "chat.v2" || c.Subprotocol() != "chat.v2" {
			t.Fatalf("subprotocol %q (client %q), want the server's first choice chat.v2", got, c.Subprotocol())
		}
		roundTrip(t, c, strings.Repeat("compressible ", 100))
		go func() { _, _ = readAll(c) }()
	}
}
