package httpmodule

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lameduck/lameduck/lifecycle"
)

// 50 concurrent streams on one h2c connection, in flight when the stop
// begins, all complete; the client receives a GOAWAY, and the connection
// ends with a clean close once they are done.
func TestH2CConcurrentStreamsCompleteAtStop(t *testing.T) {
	const streams = 50
	entered, release := make(chan struct{}, streams), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "pong") })
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		io.WriteString(w, "done")
	})
	s := startServer(t, testServerConfig(), mux)
	c, _ := coordinator(t, testStop(10*time.Second), s)
	var d tapDialer
	client := h2cClient(t, d.dial)

	resp, err := client.Get(url(s, "/ping"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("protocol %s, want HTTP/2", resp.Proto)
	}

	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for range streams {
		wg.Go(func() {
			resp, err := client.Get(url(s, "/stream"))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != http.StatusOK || string(b) != "done" {
				errs <- fmt.Errorf("status %d body %q err %v", resp.StatusCode, b, err)
			}
		})
	}
	for range streams {
		<-entered
	}
	done := stopAsync(c)
	conns := d.dialed()
	if len(conns) != 1 {
		t.Fatalf("the client dialed %d connections, want 1 for all %d streams", len(conns), streams)
	}
	select {
	case <-conns[0].goAway:
	case <-time.After(30 * time.Second):
		t.Fatal("no GOAWAY received")
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("stream: %v", err)
	}
	rep := <-done
	if !rep.Clean() {
		t.Errorf("stop not clean:\n%s", rep)
	}
	if err := conns[0].endErr(t); !cleanEnd(err) {
		t.Errorf("client connection ended with %v, want a clean close after the GOAWAY", err)
	}
}

// Idle h2c connections end with their GOAWAY: Go's client closes an idle
// connection when it reads one (from Go 1.27 on), so the shutdown phase
// ends at once instead of after the second net/http keeps a drained
// connection open (see TestHTTP2ClosesIdleConnectionOneSecondAfterGoAway).
// Go 1.26's client keeps the connection until the server closes it, and
// the phase then lasts exactly that second. In fake time, over net.Pipe,
// both are exact.
func TestH2CIdleConnectionsEndWithTheirGoAway(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "pong") })
		s, pn := startPipeServer(t, mux)
		c, _ := coordinator(t, testStop(10*time.Second), s)
		for range 5 {
			resp, err := pn.client(t, true).Get("http://pipe/ping") // one transport, so one connection, each
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		rep := <-stopAsync(c)
		sh, _ := rep.Phase(lifecycle.Shutdown)
		want := time.Duration(0)
		if clientKeepsGoAwayConns() {
			want = time.Second
		}
		if sh.Outcome != lifecycle.PhaseCompleted || sh.Duration != want {
			t.Errorf("shutdown phase %s in %v, want completed in %v (%s's client)", sh.Outcome, sh.Duration, want, runtime.Version())
		}
		if !rep.Clean() {
			t.Errorf("stop not clean:\n%s", rep)
		}
	})
}

// After a server stops, a client's pooled connection to it is gone: a
// server started again on the same address gets the next request, on a new
// connection. (With golang.org/x/net/http2/h2c, the hijacked connection
// survived Shutdown and kept reaching the old server's handler.)
func TestRestartOnSameAddressLeavesNoOldConnection(t *testing.T) {
	for _, proto := range []string{"http1", "h2c"} {
		t.Run(proto, func(t *testing.T) {
			var oldCalls atomic.Int64
			oldMux := http.NewServeMux()
			oldMux.HandleFunc("GET /who", func(w http.ResponseWriter, r *http.Request) {
				oldCalls.Add(1)
				io.WriteString(w, "old")
			})
			old := startServer(t, testServerConfig(), oldMux)
			c, _ := coordinator(t, testStop(10*time.Second), old)
			var d tapDialer
			client := h2cClient(t, d.dial)
			if proto == "http1" {
				tr := &http.Transport{DialContext: d.dial}
				t.Cleanup(tr.CloseIdleConnections)
				client = &http.Client{Transport: tr}
			}
			get := func() (string, error) {
				resp, err := client.Get(url(old, "/who"))
				if err != nil {
					return "", err
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				return string(b), err
			}
			if who, err := get(); err != nil || who != "old" {
				t.Fatalf("before the restart: %q %v", who, err)
			}
			if rep := <-stopAsync(c); !rep.Clean() {
				t.Fatalf("stop not clean:\n%s", rep)
			}
			// The old connection ended with a clean close.
			if err := d.dialed()[0].endErr(t); !cleanEnd(err) {
				t.Errorf("old connection ended with %v, want a clean close", err)
			}

			cfg := testServerConfig()
			cfg.Addr = old.Addr().String()
			newMux := http.NewServeMux()
			newMux.HandleFunc("GET /who", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "new") })
			startServer(t, cfg, newMux)
			for i := range 3 {
				if who, err := get(); err != nil || who != "new" {
					t.Fatalf("request %d after the restart: %q %v, want \"new\"", i, who, err)
				}
			}
			if n := oldCalls.Load(); n != 1 {
				t.Errorf("the old server's handler ran %d times, want 1 (before the stop only)", n)
			}
			if n := len(d.dialed()); n != 2 {
				t.Errorf("client dialed %d connections, want 2 (old and new)", n)
			}
		})
	}
}

// "Upgrade: h2c" (RFC 7540 section 3.2) is not supported: such a request
// gets a plain HTTP/1.1 answer, and the connection stays HTTP/1.1.
func TestUpgradeH2CIsAnsweredWithHTTP1(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) })
	s := startServer(t, testServerConfig(), mux)
	nc, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 1 || string(body) != "HTTP/1.1" {
		t.Errorf("Upgrade: h2c got %s %d body %q, want a plain HTTP/1.1 200", resp.Proto, resp.StatusCode, body)
	}
}

// In the lame-duck window an h2c connection keeps serving without a
// GOAWAY: a GOAWAY then would make the server refuse the streams a load
// balancer still opens before its health check sees /readyz fail, and an LB
// that does not retry fails them (the e2e suite measured 708 failed streams
// per run behind HAProxy without retries). The GOAWAY comes at shutdown,
// after the preStop delay, when the LB has moved away.
func TestH2CLameDuckKeepsConnectionUntilShutdown(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	s := startServer(t, testServerConfig(), mux)
	stop := testStop(5 * time.Second)
	stop.PreStopDelay = 300 * time.Millisecond
	c, events := coordinator(t, stop, s)
	var d tapDialer
	client := h2cClient(t, d.dial)
	get := func() {
		t.Helper()
		resp, err := client.Get(url(s, "/"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
			t.Fatalf("%s %d", resp.Proto, resp.StatusCode)
		}
		if resp.Close {
			t.Errorf("h2c response in the lame-duck window asks to close the connection")
		}
	}
	get()
	done := stopAsync(c)
	waitFor(t, events, lifecycle.PhaseStarted, lifecycle.PreStopDelay)
	get()
	get()
	first := d.dialed()[0]
	select {
	case <-first.goAway:
		t.Fatal("GOAWAY in the lame-duck window")
	default:
	}
	if n := len(d.dialed()); n != 1 {
		t.Errorf("%d connections in the lame-duck window, want the first one reused", n)
	}
	waitFor(t, events, lifecycle.PhaseStarted, lifecycle.Shutdown)
	recv(t, first.goAway, "a GOAWAY at shutdown")
	if err := first.endErr(t); !cleanEnd(err) {
		t.Errorf("connection after the GOAWAY ended with %v, want a clean close", err)
	}
	if rep := <-done; !rep.Clean() {
		t.Errorf("stop not clean:\n%s", rep)
	}
}

// clientKeepsGoAwayConns reports whether this Go's HTTP/2 client keeps an
// idle connection open after the server's GOAWAY until the server closes
// it: Go 1.26 does, Go 1.27 closes it when it reads the GOAWAY.
func clientKeepsGoAwayConns() bool {
	return strings.HasPrefix(runtime.Version(), "go1.26")
}
