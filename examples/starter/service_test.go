package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/fx"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lameducktest"
	"github.com/lameduck/lameduck/lifecycle"
)

// entered is a middleware that tells the test when a request has reached
// its handler, so that the test stops the app while the request is in
// flight.
func entered(paths chan<- string) fx.Option {
	return fx.Provide(lameduck.AsMiddleware(func() httpmodule.Middleware {
		return httpmodule.Middleware{Name: "test.entered", Wrap: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				paths <- r.URL.Path
				next.ServeHTTP(w, r)
			})
		}}
	}))
}

// send sends a request to the app and returns the status and body.
func send(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestServiceRejectsBadParameters: every route checks its input and says
// what it wants.
func TestServiceRejectsBadParameters(t *testing.T) {
	t.Parallel()
	app := lameducktest.Start(t, service)
	for _, tc := range []struct{ method, path, body, want string }{
		{"GET", "/slow?d=forever", "", "d: want a duration from 0 to 1m0s"},
		{"GET", "/slow?d=2h", "", "d: want a duration"},
		{"POST", "/jobs?n=0", "", "n: want an integer from 1 to 100"},
		{"POST", "/jobs?n=1&d=-1s", "", "d: want a duration"},
		{"GET", "/poll?after=last", "", "after: want the ID"},
		{"POST", "/publish", "", "the body is the message"},
		{"POST", "/publish", strings.Repeat("x", maxMessage+1), "the body is the message"},
		{"GET", "/download?size=-1&seed=1", "", "size: want a number of bytes"},
		{"GET", "/download?size=1&seed=x", "", "seed: want an unsigned integer"},
	} {
		if code, body := send(t, tc.method, app.URL("public")+tc.path, tc.body); code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s: %d %q, want 400 and %q", tc.method, tc.path, code, body, tc.want)
		}
	}
	lameducktest.RequireClean(t, app.Stop())
}

// TestPollEndsWhenTheServersShutDown: a long-poll waiting when the stop
// begins is answered 503 at the start of the shutdown phase, so the phase
// does not wait for its deadline and the stop stays clean.
func TestPollEndsWhenTheServersShutDown(t *testing.T) {
	t.Parallel()
	cfg := lameducktest.Config()
	in := make(chan string, 1)
	app := lameducktest.StartWith(t, cfg, service, entered(in))
	status := make(chan int, 1)
	go func() {
		code, _ := send(t, "GET", app.URL("public")+"/poll", "")
		status <- code
	}()
	<-in
	rep := app.Stop()
	if code := <-status; code != http.StatusServiceUnavailable {
		t.Errorf("GET /poll pending at the stop: %d, want 503", code)
	}
	lameducktest.RequireClean(t, rep)
	if sd, _ := rep.Phase(lifecycle.Shutdown); sd.Duration > cfg.Stop.Shutdown/2 {
		t.Errorf("the shutdown phase took %v: the poll held it up", sd.Duration)
	}
}

// TestSlowAnswers503WhenTheStopCancelsIt: a /slow request still running at
// the shutdown phase's deadline sees its context cancelled and answers 503;
// the server's step is reported forced, and nothing is left running.
func TestSlowAnswers503WhenTheStopCancelsIt(t *testing.T) {
	t.Parallel()
	cfg := lameducktest.Config()
	cfg.Stop.Shutdown = 300 * time.Millisecond
	cfg.Stop.ForceGrace = time.Second // time for the handler to answer, even on a loaded machine
	in := make(chan string, 1)
	app := lameducktest.StartWith(t, cfg, service, entered(in))
	resp := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", app.URL("public")+"/slow?d=1m", nil)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			resp <- err.Error()
			return
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		resp <- r.Status + " " + string(b)
	}()
	<-in
	rep := app.Stop()
	if got := <-resp; !strings.HasPrefix(got, "503 ") || !strings.Contains(got, "stopped before the end") {
		t.Errorf("GET /slow?d=1m cut by the stop: %q, want 503", got)
	}
	sd, _ := rep.Phase(lifecycle.Shutdown)
	if i := slices.IndexFunc(sd.Steps, func(s lifecycle.StepReport) bool { return s.Name == "http.public" }); i < 0 || sd.Steps[i].Outcome != lifecycle.StepForced {
		t.Errorf("shutdown steps %+v: want http.public forced", sd.Steps)
	}
	if rep.Clean() {
		t.Errorf("a stop that cancelled a request is reported clean")
	}
	if cut := rep.Stragglers(); len(cut) != 0 {
		t.Errorf("stragglers %v: the handler returned when its context was cancelled", cut)
	}
}

// TestWebSocketEchoesAndRelays: /ws echoes a client's message to it alone
// and relays a published message to every client; the drain sends close
// 1001 after the last message.
func TestWebSocketEchoesAndRelays(t *testing.T) {
	t.Parallel()
	app := lameducktest.Start(t, service)
	url := "ws://" + app.Addr("public") + "/ws"
	a, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, c := range []*websocket.Conn{a, b} {
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	}
	// An echo round trip on each shows that the hub serves both (a client's
	// Dial can return a moment before its hub tracks the connection).
	for i, c := range []*websocket.Conn{a, b} {
		msg := fmt.Sprintf("only client %d hears this", i)
		if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if _, m, err := c.ReadMessage(); err != nil || string(m) != msg {
			t.Fatalf("echo: %q %v, want %q", m, err, msg)
		}
	}
	if code, body := send(t, "POST", app.URL("public")+"/publish", "to all"); code != 200 || !strings.Contains(body, "2 WebSocket client(s)") {
		t.Fatalf("POST /publish: %d %q", code, body)
	}
	ends := make(chan error, 2)
	for _, c := range []*websocket.Conn{a, b} {
		if _, m, err := c.ReadMessage(); err != nil || string(m) != "to all" {
			t.Fatalf("relay: %q %v", m, err)
		}
		go func() {
			_, _, err := c.ReadMessage()
			ends <- err
		}()
	}
	lameducktest.RequireClean(t, app.Stop())
	for range 2 {
		if err := <-ends; !websocket.IsCloseError(err, websocket.CloseGoingAway) {
			t.Errorf("client ended with %v, want close 1001", err)
		}
	}
}

// TestPublishDuringTheStop: clients publishing while the stop runs, their
// bodies still arriving when it begins, over HTTP/1 and h2c, each get an
// answer: 200 if the message was published, or 503 that says the service
// is stopping once the board has closed. None gets a broken connection, and
// the stop is clean.
func TestPublishDuringTheStop(t *testing.T) {
	t.Parallel()
	cfg := lameducktest.Config()
	shutdownBegan := make(chan struct{})
	observer := fx.Provide(lameduck.AsObserver(func() lifecycle.Observer {
		return lifecycle.ObserverFunc(func(e lifecycle.Event) {
			if e.Kind == lifecycle.PhaseStarted && e.Phase == lifecycle.Shutdown {
				close(shutdownBegan)
			}
		})
	}))
	const clients = 6
	in := make(chan string, clients)
	app := lameducktest.StartWith(t, cfg, service, entered(in), observer)
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	h2c := &http.Client{Transport: &http.Transport{Protocols: &protos}}
	h1 := &http.Client{Transport: &http.Transport{}}
	type answer struct {
		status int
		body   string
		err    error
	}
	answers := make(chan answer, clients)
	rest := make([]*io.PipeWriter, clients)
	for i := range clients {
		pr, pw := io.Pipe()
		rest[i] = pw
		client := h1
		if i%2 == 1 {
			client = h2c
		}
		go func() {
			resp, err := client.Post(app.URL("public")+"/publish", "text/plain", pr)
			if err != nil {
				answers <- answer{err: err}
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			answers <- answer{resp.StatusCode, string(b), err}
		}()
		go func() { _, _ = io.WriteString(pw, fmt.Sprintf("message %d, first half; ", i)) }()
	}
	for range clients {
		<-in // every handler is reading its body
	}
	stopped := make(chan *lifecycle.StopReport, 1)
	go func() { stopped <- app.Stop() }()
	<-shutdownBegan
	for i, pw := range rest {
		_, _ = io.WriteString(pw, fmt.Sprintf("message %d, second half", i))
		pw.Close()
	}
	for range clients {
		a := <-answers
		switch {
		case a.err != nil:
			t.Errorf("POST /publish during the stop: %v, want an answer", a.err)
		case a.status == http.StatusOK && strings.HasPrefix(a.body, "message "):
		case a.status == http.StatusServiceUnavailable && strings.Contains(a.body, "the service is stopping"):
		default:
			t.Errorf("POST /publish during the stop: %d %q, want 200 or 503 saying the service is stopping", a.status, a.body)
		}
	}
	lameducktest.RequireClean(t, <-stopped)
	h1.CloseIdleConnections()
	h2c.CloseIdleConnections()
}

// TestDownloadIsCheckable: GET /download sends size bytes that depend only
// on the seed, with a Content-Length and a Content-Digest that match them,
// over HTTP/1 and h2c.
func TestDownloadIsCheckable(t *testing.T) {
	t.Parallel()
	app := lameducktest.Start(t, service)
	h2c := &http.Transport{Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	defer h2c.CloseIdleConnections()
	get := func(c *http.Client, size int, seed uint64) []byte {
		t.Helper()
		resp, err := c.Get(fmt.Sprintf("%s/download?size=%d&seed=%d", app.URL("public"), size, seed))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if want := "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"; resp.Header.Get("Content-Digest") != want {
			t.Errorf("size %d: Content-Digest %q, want %q", size, resp.Header.Get("Content-Digest"), want)
		}
		if resp.StatusCode != http.StatusOK || len(b) != size || resp.ContentLength != int64(size) {
			t.Errorf("size %d: %s, %d bytes, Content-Length %d", size, resp.Status, len(b), resp.ContentLength)
		}
		return b
	}
	for _, c := range []*http.Client{http.DefaultClient, {Transport: h2c}} {
		for _, size := range []int{0, 1, 16385, 1 << 20} {
			a, b := get(c, size, 7), get(c, size, 7)
			if !bytes.Equal(a, b) {
				t.Errorf("size %d: two downloads of seed 7 differ", size)
			}
			if size > 0 && bytes.Equal(a, get(c, size, 8)) {
				t.Errorf("size %d: seeds 7 and 8 give the same bytes", size)
			}
		}
		if long, short := get(c, 100000, 3), get(c, 4090, 3); !bytes.Equal(long[:4090], short) {
			t.Error("a shorter download of a seed is not the start of a longer one")
		}
	}
	lameducktest.RequireClean(t, app.Stop())
}

// TestMetricsShowTheHub: /metrics on the admin server reports the open
// WebSocket of the chat hub and the stop's phase gauge.
func TestMetricsShowTheHub(t *testing.T) {
	t.Parallel()
	app := lameducktest.Start(t, service)
	c, _, err := websocket.DefaultDialer.Dial("ws://"+app.Addr("public")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// An echo round trip: the hub serves the connection.
	if err := c.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(app.URL(httpmodule.AdminServer) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`lameduck_websocket_connections{hub="chat"} 1`, "lameduck_stop_phase 0", "lameduck_ready 1"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	go func() {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	lameducktest.RequireClean(t, app.Stop())
}
