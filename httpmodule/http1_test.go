package httpmodule

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/lameduck/lameduck/lifecycle"
)

// An HTTP/1 request in flight when the stop begins completes with 200, and
// a request after the listener closed is refused.
func TestHTTP1InFlightRequestCompletes(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "done")
	})
	s := startServer(t, testServerConfig(), mux)
	c, events := coordinator(t, testStop(5*time.Second), s)
	client := h1Client(t)

	type result struct {
		status int
		body   string
		err    error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := client.Get(url(s, "/slow"))
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{resp.StatusCode, string(b), err}
	}()
	<-entered
	done := stopAsync(c)
	waitFor(t, events, lifecycle.PhaseStarted, lifecycle.Shutdown)
	listenerClosed(t, s)

	if _, err := net.Dial("tcp", s.Addr().String()); !isRefused(err) {
		t.Errorf("dial after the listener closed: got %v, want connection refused", err)
	}
	close(release)
	r := <-got
	if r.err != nil || r.status != http.StatusOK || r.body != "done" {
		t.Fatalf("in-flight request: status %d body %q err %v, want 200 \"done\"", r.status, r.body, r.err)
	}
	rep := <-done
	if !rep.Clean() {
		t.Errorf("stop not clean:\n%s", rep)
	}
}

// Idle keep-alive connections are closed by the stop, without waiting for
// the phase deadline.
func TestHTTP1IdleKeepAlivesClosed(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	s := startServer(t, testServerConfig(), mux)
	c, _ := coordinator(t, testStop(10*time.Second), s)

	const n = 5
	conns := make([]net.Conn, n)
	for i := range conns {
		nc, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		conns[i] = nc
		req, _ := http.NewRequest("GET", url(s, "/"), nil)
		if err := req.Write(nc); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(nc), req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.Close {
			t.Fatal("keep-alive connection closed by the server before the stop")
		}
	}
	rep := <-stopAsync(c)
	for i, nc := range conns {
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := nc.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("idle connection %d: read %d bytes, err %v; want EOF (closed by the server)", i, n, err)
		}
	}
	sh, _ := rep.Phase(lifecycle.Shutdown)
	if sh.Outcome != lifecycle.PhaseCompleted || sh.Duration > 5*time.Second {
		t.Errorf("shutdown phase %s in %v, want completed well before its 10s cap", sh.Outcome, sh.Duration)
	}
}

// From readiness off, every response carries "Connection: close" and the
// server closes the connection after it, while still serving.
func TestHTTP1ConnectionCloseInLameDuck(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	s := startServer(t, testServerConfig(), mux)
	stop := testStop(5 * time.Second)
	stop.PreStopDelay = 300 * time.Millisecond
	c, events := coordinator(t, stop, s)

	get := func() (*http.Response, net.Conn) {
		t.Helper()
		nc, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		req, _ := http.NewRequest("GET", url(s, "/"), nil)
		if err := req.Write(nc); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(nc), req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp, nc
	}

	// http.ReadResponse turns the "Connection: close" header of an
	// HTTP/1.1 response into resp.Close.
	if resp, _ := get(); resp.Close {
		t.Fatal("before the stop: the response says Connection: close, want keep-alive")
	}
	done := stopAsync(c)
	waitFor(t, events, lifecycle.PhaseStarted, lifecycle.PreStopDelay)
	resp, nc := get()
	if resp.StatusCode != http.StatusOK || !resp.Close {
		t.Errorf("in the lame-duck window: status %d, Connection: close %v; want 200 with Connection: close", resp.StatusCode, resp.Close)
	}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("connection after a Connection: close reply: %v, want EOF", err)
	}
	if rep := <-done; !rep.Clean() {
		t.Errorf("stop not clean:\n%s", rep)
	}
}
