package httpmodule

import (
	"encoding/binary"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lameduck/lameduck/lifecycle"
)

// A request whose handler panics during the stop is cut: net/http recovers
// the panic and ends the response early, so the stop report names the
// request with its route and says not clean, on HTTP/1 and on h2c.
func TestHandlerPanicDuringStopIsCut(t *testing.T) {
	for _, proto := range []string{"http1", "h2c"} {
		t.Run(proto, func(t *testing.T) {
			entered, release := make(chan struct{}), make(chan struct{})
			mux := http.NewServeMux()
			mux.HandleFunc("GET /boom/{id}", func(w http.ResponseWriter, r *http.Request) {
				close(entered)
				<-release
				panic("boom")
			})
			s := startServer(t, testServerConfig(), mux)
			c, events := coordinator(t, testStop(10*time.Second), s)
			client := h1Client(t)
			if proto == "h2c" {
				client = h2cClient(t, nil)
			}
			clientErr := make(chan error, 1)
			go func() {
				resp, err := client.Get(url(s, "/boom/7"))
				if err == nil {
					_, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				clientErr <- err
			}()
			<-entered
			done := stopAsync(c)
			waitFor(t, events, lifecycle.PhaseStarted, lifecycle.Shutdown)
			close(release)
			if err := <-clientErr; err == nil {
				t.Error("the client got a whole response from a handler that panicked")
			}
			rep := <-done
			if rep.Clean() {
				t.Fatalf("report says clean although a handler panicked:\n%s", rep)
			}
			cut := rep.Stragglers()
			if len(cut) != 1 || cut[0].Name != "GET /boom/{id}" || !strings.Contains(cut[0].Detail, "panicked: boom") {
				t.Errorf("stragglers %v, want the panicked request GET /boom/{id}", cut)
			}
			if got := lifecycle.ExitCode(stopErr(rep)); got != lifecycle.ExitForced {
				t.Errorf("exit code %d, want %d", got, lifecycle.ExitForced)
			}
		})
	}
}

// A handler panic before the stop began belongs to no stop: the stop that
// follows is clean.
func TestHandlerPanicBeforeStopIsNotInReport(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic("boom") })
	s := startServer(t, testServerConfig(), mux)
	c, _ := coordinator(t, testStop(10*time.Second), s)
	if resp, err := h1Client(t).Get(url(s, "/boom")); err == nil {
		resp.Body.Close()
		t.Fatal("a panicking handler answered")
	}
	if rep := <-stopAsync(c); !rep.Clean() {
		t.Errorf("stop not clean:\n%s", rep)
	}
}

// A response whose handler returned but whose bytes could not be written
// before the force deadline (here the client grants no flow-control
// window, so the DATA frame waits) is cut when the connection is closed,
// and named with its route, although no request is in flight any more.
func TestResponseUnwrittenAtForceDeadlineIsCut(t *testing.T) {
	returned := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /small", func(w http.ResponseWriter, r *http.Request) {
		defer close(returned)
		io.WriteString(w, strings.Repeat("x", 100))
	})
	s := startServer(t, testServerConfig(), mux)
	const shutdown = 300 * time.Millisecond
	c, _ := coordinator(t, testStop(shutdown), s)

	h := dialRaw(t, s.Addr().String())
	if _, err := io.WriteString(h.nc, clientPreface); err != nil {
		t.Fatal(err)
	}
	var window [6]byte // SETTINGS_INITIAL_WINDOW_SIZE = 0
	binary.BigEndian.PutUint16(window[:], 0x4)
	h.write(0x4, 0, 0, window[:])
	h.request(1, "GET", "/small", true)
	<-returned
	rep := <-stopAsync(c)
	if rep.Clean() {
		t.Fatalf("report says clean although a response was cut:\n%s", rep)
	}
	cut := rep.Stragglers()
	if len(cut) != 1 || cut[0].Kind != "response" || cut[0].Name != "GET /small" {
		t.Errorf("stragglers %v, want the unwritten response of GET /small", cut)
	}
}

// stopErr is the error Coordinator.Stop returns for rep.
func stopErr(rep *lifecycle.StopReport) error {
	if rep.Clean() {
		return nil
	}
	return &lifecycle.StopError{Report: rep}
}
