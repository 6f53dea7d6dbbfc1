package httpmodule

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lameduck/lameduck/lifecycle"
	"github.com/lameduck/lameduck/setting"
)

// The server's limits come from its config.
func TestServerSettingsFromConfig(t *testing.T) {
	cfg := ServerSettings{
		Addr: "127.0.0.1:0", Protocols: []Protocol{H2C},
		ReadHeaderTimeout: 2 * time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: 4 * time.Second,
		IdleTimeout: 5 * time.Second, MaxHeaderBytes: 8 * setting.KiB, MaxConcurrentStreams: 7,
	}
	s := NewServer("x", cfg, http.NotFoundHandler())
	srv := s.newHTTPServer(&serverRun{s: s})
	if srv.ReadHeaderTimeout != 2*time.Second || srv.ReadTimeout != 3*time.Second || srv.WriteTimeout != 4*time.Second ||
		srv.IdleTimeout != 5*time.Second || srv.MaxHeaderBytes != 8<<10 || srv.HTTP2.MaxConcurrentStreams != 7 {
		t.Errorf("http.Server settings do not follow the config: %+v", srv)
	}
	if srv.Protocols.HTTP1() || !srv.Protocols.UnencryptedHTTP2() {
		t.Errorf("protocols %v, want h2c only", srv.Protocols)
	}
}

// The HTTP/2 settings the server announces carry the configured stream
// limit.
func TestMaxConcurrentStreamsAnnounced(t *testing.T) {
	cfg := testServerConfig()
	cfg.MaxConcurrentStreams = 17
	s := startServer(t, cfg, http.NewServeMux())
	h := dialRawH2(t, s.Addr().String())
	f, payload, err := h.read()
	if err != nil || f.typ != 0x4 {
		t.Fatalf("first frame %+v %v, want SETTINGS", f, err)
	}
	for p := payload; len(p) >= 6; p = p[6:] {
		if binary.BigEndian.Uint16(p) == 0x3 { // SETTINGS_MAX_CONCURRENT_STREAMS
			if v := binary.BigEndian.Uint32(p[2:]); v != 17 {
				t.Fatalf("MAX_CONCURRENT_STREAMS %d, want 17", v)
			}
			return
		}
	}
	t.Fatal("no MAX_CONCURRENT_STREAMS in the server's SETTINGS")
}

// Headers over MaxHeaderBytes are refused with 431.
func TestMaxHeaderBytes(t *testing.T) {
	cfg := testServerConfig()
	cfg.MaxHeaderBytes = setting.KiB
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {})
	s := startServer(t, cfg, mux)
	req, _ := http.NewRequest("GET", url(s, "/"), nil)
	req.Header.Set("X-Big", strings.Repeat("x", 8<<10))
	resp, err := h1Client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d, want 431", resp.StatusCode)
	}
}

// A client that sends its headers too slowly (slowloris) is disconnected
// after ReadHeaderTimeout.
func TestReadHeaderTimeout(t *testing.T) {
	cfg := testServerConfig()
	cfg.ReadHeaderTimeout = 200 * time.Millisecond
	s := startServer(t, cfg, http.NewServeMux())
	nc, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\n") // never ends the headers
	start := time.Now()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.ReadAll(nc)
	if err != nil || time.Since(start) > 5*time.Second {
		t.Errorf("slow client: %v after %v, want the server to close the connection after 200ms", err, time.Since(start))
	}
}

// With MaxConns, a connection beyond the cap waits in the kernel's accept
// queue and is served once another one closes.
func TestMaxConns(t *testing.T) {
	cfg := testServerConfig()
	cfg.MaxConns = 1
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	s := startServer(t, cfg, mux)
	roundTrip := func(nc net.Conn) error {
		req, _ := http.NewRequest("GET", url(s, "/"), nil)
		if err := req.Write(nc); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(nc), req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
	first, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(first); err != nil {
		t.Fatal(err)
	}
	second, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	served := make(chan error, 1)
	go func() { served <- roundTrip(second) }()
	// The cap holds while the first connection stays open; this wait
	// proves an absence, so it cannot be signalled.
	select {
	case err := <-served:
		t.Fatalf("second connection served while the first was open (err %v)", err)
	case <-time.After(200 * time.Millisecond):
	}
	if n := s.last.accepted.Load(); n != 1 {
		t.Fatalf("accepted %d connections under a cap of 1", n)
	}
	first.Close()
	if err := recv(t, served, "the second connection's response"); err != nil {
		t.Fatal(err)
	}
}

// A connection that has sent nothing when the shutdown begins is closed
// after the grace instead of holding the stop (Shutdown alone waits 5s
// for it).
func TestSilentConnectionDoesNotHoldTheStop(t *testing.T) {
	accepted := make(chan struct{}, 1)
	s := NewServer("public", testServerConfig(), http.NewServeMux())
	s.onAccept = func() { accepted <- struct{}{} }
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	c, _ := coordinator(t, testStop(10*time.Second), s)
	nc, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	recv(t, accepted, "the server accepting the connection") // not still in the accept queue
	rep := <-stopAsync(c)
	sh, _ := rep.Phase(lifecycle.Shutdown)
	if sh.Outcome != lifecycle.PhaseCompleted || sh.Duration > 2*time.Second {
		t.Errorf("shutdown phase %s in %v, want completed after about h2IdleGrace (100ms)", sh.Outcome, sh.Duration)
	}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("silent connection: %v, want closed by the server (EOF)", err)
	}
}

// A hijacked connection (a WebSocket upgrade) belongs to its handler: the
// stop neither waits for the handler nor closes the connection; the hub
// drain phase does that.
func TestHijackedConnectionIsNotWaitedFor(t *testing.T) {
	hijacked, release := make(chan struct{}), make(chan struct{})
	handlerDone := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		defer close(handlerDone)
		nc, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer nc.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		close(hijacked)
		<-release // like a WebSocket read loop in the handler
		io.WriteString(nc, "bye")
	})
	s := startServer(t, testServerConfig(), mux)
	c, _ := coordinator(t, testStop(10*time.Second), s)
	nc, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	io.WriteString(nc, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	<-hijacked
	rep := <-stopAsync(c)
	if !rep.Clean() {
		t.Errorf("stop not clean:\n%s", rep)
	}
	sh, _ := rep.Phase(lifecycle.Shutdown)
	if sh.Duration > 5*time.Second {
		t.Errorf("shutdown phase took %v: it waited for the hijacked connection", sh.Duration)
	}
	close(release)
	b, err := io.ReadAll(br)
	if string(b) != "bye" || err != nil {
		t.Errorf("hijacked connection after the stop: read %q %v, want \"bye\": it must stay open for its handler", b, err)
	}
	<-handlerDone
}

// A server speaks the protocols of its config: HTTP/1 only, h2c only.
func TestProtocolsFromConfig(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) })
	for _, tc := range []struct {
		protos         []Protocol
		http1OK, h2cOK bool
	}{
		{[]Protocol{HTTP1}, true, false},
		{[]Protocol{H2C}, false, true},
		{[]Protocol{HTTP1, H2C}, true, true},
	} {
		t.Run(fmt.Sprint(tc.protos), func(t *testing.T) {
			cfg := testServerConfig()
			cfg.Protocols = tc.protos
			s := startServer(t, cfg, mux)
			for _, c := range []struct {
				client *http.Client
				want   bool
				proto  string
			}{{h1Client(t), tc.http1OK, "HTTP/1.1"}, {h2cClient(t, nil), tc.h2cOK, "HTTP/2.0"}} {
				resp, err := c.client.Get(url(s, "/"))
				if err != nil {
					if c.want {
						t.Errorf("%s: %v", c.proto, err)
					}
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case !c.want:
					t.Errorf("%s: served (%q), want refused by a server of %v", c.proto, body, tc.protos)
				case string(body) != c.proto:
					t.Errorf("%s: served as %q", c.proto, body)
				}
			}
			if err := s.Shutdown(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
}
