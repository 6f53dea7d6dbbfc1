package lameduck_test

import (
	"errors"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lifecycle"
	"github.com/lameduck/lameduck/wsmodule"
)

// fastStop is a stop budget for tests: no preStop delay, every phase
// short, room to force-close on a loaded machine.
func fastStop() lifecycle.Settings {
	return lifecycle.Settings{
		Total:      5 * time.Second,
		Reserve:    500 * time.Millisecond,
		Shutdown:   2 * time.Second,
		HubDrain:   time.Second,
		Wait:       time.Second,
		ForceGrace: 100 * time.Millisecond,
		Margin:     time.Second,
	}
}

// testConfig is the defaults with every server and the admin server on a
// free loopback port, and stop as the stop budget.
func testConfig(stop lifecycle.Settings) lameduck.Config {
	cfg := lameduck.DefaultConfig(nil)
	cfg.Servers = httpmodule.Settings{httpmodule.DefaultServerName: httpmodule.DefaultServerSettings("127.0.0.1:0")}
	cfg.Admin.Addr = "127.0.0.1:0"
	cfg.Stop = stop
	return cfg
}

// newApp builds an app of every lameduck module with cfg and opts. The
// signals are left to the test runner, the app logs through t, and Fx's
// own events are not logged.
func newApp(t *testing.T, cfg lameduck.Config, opts ...fx.Option) *fx.App {
	t.Helper()
	return fx.New(appOptions(t, cfg, opts...)...)
}

// appOptions are the options of newApp, for fxtest.New.
func appOptions(t *testing.T, cfg lameduck.Config, opts ...fx.Option) []fx.Option {
	return append([]fx.Option{
		lameduck.WithConfig(cfg),
		lameduck.IgnoreSignals,
		fx.Decorate(func(*zap.Logger) *zap.Logger { return zaptest.NewLogger(t) }),
		fx.NopLogger,
	}, opts...)
}

// phaseStarted returns an observer, for lameduck.AsObserver, and a channel
// that is closed when phase p begins.
func phaseStarted(p lifecycle.Phase) (func() lifecycle.Observer, <-chan struct{}) {
	ch := make(chan struct{})
	return func() lifecycle.Observer {
		return lifecycle.ObserverFunc(func(e lifecycle.Event) {
			if e.Kind == lifecycle.PhaseStarted && e.Phase == p {
				close(ch)
			}
		})
	}, ch
}

// h1Client returns an HTTP/1 client with its own transport.
func h1Client(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// get fetches u and returns the status and the body.
func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := h1Client(t).Get(u)
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

// isRefused reports whether err is a refused connection.
func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

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

// closeCode returns the code and text of a *websocket.CloseError, or -1.
func closeCode(err error) (int, string) {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code, ce.Text
	}
	return -1, ""
}

// echo is an OnMessage that sends every message back.
func echo(c *wsmodule.Conn, typ wsmodule.MessageType, data []byte) { _ = c.Send(typ, data) }

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
