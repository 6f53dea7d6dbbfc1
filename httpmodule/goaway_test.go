package httpmodule

import (
	"context"
	"encoding/binary"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lameduck/lameduck/lifecycle"
)

// A request that the client sent before it read the server's GOAWAY is
// never turned into a reset: the server keeps reading after the GOAWAY and
// closes only once its streams are done (net/http waits a second for that),
// so the client reads the GOAWAY (whose last stream ID tells it the request
// was not processed and can be retried elsewhere) and then a clean end of
// stream. Closing the socket while the client's request bytes are unread
// would answer them with a TCP reset.
func TestRequestSentBeforeGoAwayIsNotReset(t *testing.T) {
	var uploads atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "pong") })
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) { uploads.Add(1) })
	cfg := testServerConfig()
	cfg.H2IdleGrace = 5 * time.Second // the client's close must end the connection, not the grace
	s := NewServer("public", cfg, mux)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })

	h := dialRawH2(t, s.Addr().String())
	h.request(1, "GET", "/ping", true)
	h.readUntilEnd(1)

	stopped := make(chan error, 1)
	go func() { stopped <- s.Shutdown(context.Background()) }()
	// Wait for the GOAWAY's first bytes without reading them as a frame:
	// it is on the client's side, unread. The client, unaware, sends a
	// request with a body.
	if _, err := h.br.Peek(frameHeaderLen); err != nil {
		t.Fatalf("waiting for the GOAWAY: %v", err)
	}
	h.request(3, "POST", "/upload", false)
	h.write(frameData, flagEndStream, 3, make([]byte, 16<<10))

	var sawGoAway bool
	var err error
	for {
		var f frameHeader
		var payload []byte
		f, payload, err = h.read()
		if err != nil {
			break
		}
		switch {
		case f.typ == frameGoAway:
			last, code := binary.BigEndian.Uint32(payload)&0x7fffffff, binary.BigEndian.Uint32(payload[4:])
			if last != 1 || code != 0 {
				t.Errorf("GOAWAY last stream %d code %d, want 1 and NO_ERROR", last, code)
			}
			sawGoAway = true
		case f.stream == 3:
			t.Errorf("frame type %d on stream 3, which the GOAWAY excluded", f.typ)
		}
	}
	if !sawGoAway {
		t.Error("the client never read the GOAWAY")
	}
	if err != io.EOF {
		t.Errorf("connection ended with %v, want EOF: a reset here can destroy the unread GOAWAY", err)
	}
	h.nc.Close()
	if err := <-stopped; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if n := uploads.Load(); n != 0 {
		t.Errorf("the upload handler ran %d times; the request came after the GOAWAY and must not run", n)
	}
}

// An h2c connection accepted before the listener closed but whose client
// speaks only after the stop's GOAWAY sweep still gets a GOAWAY, so that
// it cannot hold the stop until the phase deadline (golang/go#81153). The
// client here sends no request: one that did would get its GOAWAY from the
// lame-duck "Connection: close" on the response.
func TestLateH2CConnectionGetsGoAway(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "pong") })
	cfg := testServerConfig()
	cfg.H2IdleGrace = 2 * time.Second // not the silent-connection rule: the sweep must do it
	accepted := make(chan struct{}, 2)
	s := NewServer("public", cfg, mux)
	s.onAccept = func() { accepted <- struct{}{} }
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	c, _ := coordinator(t, testStop(10*time.Second), s)

	var d tapDialer
	early := h2cClient(t, d.dial)
	resp, err := early.Get(url(s, "/ping"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	late := dialRaw(t, s.Addr().String()) // connected, silent
	recv(t, accepted, "the early connection's accept")
	recv(t, accepted, "the late connection's accept") // not still in the accept queue

	done := stopAsync(c)
	// The early connection's GOAWAY proves the sweep has run.
	recv(t, d.dialed()[0].goAway, "the GOAWAY on the early connection")
	late.start()
	var goAway bool
	var rerr error
	for {
		f, _, err := late.read()
		if err != nil {
			rerr = err
			break
		}
		goAway = goAway || f.typ == frameGoAway
	}
	late.nc.Close()
	if !goAway || rerr != io.EOF {
		t.Errorf("late connection: GOAWAY %v, ended with %v; want a GOAWAY and EOF", goAway, rerr)
	}
	rep := <-done
	sh, _ := rep.Phase(lifecycle.Shutdown)
	if sh.Outcome != lifecycle.PhaseCompleted || sh.Duration > 5*time.Second {
		t.Errorf("shutdown phase %s in %v, want completed well before the 10s deadline", sh.Outcome, sh.Duration)
	}
}
