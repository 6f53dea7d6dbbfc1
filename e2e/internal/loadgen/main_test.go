package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lameduck/lameduck/e2e/internal/body"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// rawServer accepts connections on loopback and hands each to serve.
func rawServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

// readRequest reads one request's head from c.
func readRequest(c net.Conn) {
	buf := make([]byte, 4096)
	_, _ = c.Read(buf)
}

// One request against a server that misbehaves in a known way is counted
// as that kind of failure.
func TestClassifyRealFailures(t *testing.T) {
	closed := func() string { // a port nothing listens on
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}()
	reset := rawServer(t, func(c net.Conn) {
		readRequest(c)
		_ = c.(*net.TCPConn).SetLinger(0) // close with RST
		c.Close()
	})
	eof := rawServer(t, func(c net.Conn) {
		readRequest(c)
		c.Close()
	})
	truncated := rawServer(t, func(c net.Conn) {
		readRequest(c)
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
		c.Close()
	})
	status := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	defer status.Close()
	stall := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-stall }))
	defer slow.Close()
	defer close(stall)

	for _, tc := range []struct {
		name, url, want string
	}{
		{"refused", "http://" + closed + "/", "refused"},
		{"reset", "http://" + reset + "/", "reset"},
		{"eof", "http://" + eof + "/", "eof"},
		{"truncated body", "http://" + truncated + "/", "eof"},
		{"503", status.URL, "status_503"},
		{"timeout", slow.URL, "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := transport("http1", 1)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.CloseIdleConnections()
			g := &gen{tr: tr, method: "GET", target: tc.url, timeout: 200 * time.Millisecond}
			o := g.do(context.Background())
			if o.kind != tc.want {
				t.Errorf("kind %q (%v), want %q", o.kind, o.err, tc.want)
			}
		})
	}
}

// run counts every response, paces to the rate, counts the body lines
// with the prefix, and calls ready once.
func TestRunCountsAndPaces(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%10 == 0 {
			http.Error(w, "every tenth fails", http.StatusBadGateway)
			return
		}
		_, _ = io.WriteString(w, "job-1\njob-2\nother\n")
	}))
	defer srv.Close()
	tr, err := transport("http1", 4)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var readies atomic.Int32
	g := &gen{tr: tr, method: "GET", target: srv.URL, timeout: time.Second, prefix: "job-"}
	res := g.run(ctx, 4, 200, func() { readies.Add(1) })

	if res.Requests != n.Load() {
		t.Errorf("counted %d requests, the server saw %d", res.Requests, n.Load())
	}
	if res.OK+res.Failed != res.Requests || res.Errors["status_502"] != res.Failed {
		t.Errorf("result %+v does not add up", res)
	}
	if res.Lines != 2*res.OK {
		t.Errorf("counted %d job lines in %d ok responses, want 2 each", res.Lines, res.OK)
	}
	// 200/s for 1s: generous bounds for a loaded machine.
	if res.Requests < 50 || res.Requests > 260 {
		t.Errorf("%d requests in 1s at 200/s", res.Requests)
	}
	if readies.Load() != 1 {
		t.Errorf("ready called %d times, want 1", readies.Load())
	}
}

// With -sizes, every body is checked: the right one counts its bytes, a
// short one is "truncated" (even when the client saw only an EOF), a wrong
// byte or a wrong Content-Digest is "corrupt".
func TestBodiesAreChecked(t *testing.T) {
	right := httptest.NewServer(body.Handler{})
	defer right.Close()
	flipped := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := body.Parse(r.URL.Query())
		b := body.Bytes(req.Seed, req.Size)
		w.Header().Set("Content-Digest", body.Digest(b))
		b[len(b)/2] ^= 1
		_, _ = w.Write(b)
	}))
	defer flipped.Close()
	badDigest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := body.Parse(r.URL.Query())
		w.Header().Set("Content-Digest", body.Digest(nil))
		_, _ = w.Write(body.Bytes(req.Seed, req.Size))
	}))
	defer badDigest.Close()
	short := rawServer(t, func(c net.Conn) {
		readRequest(c)
		b := body.Bytes(2, 5000) // the seed and size of the first request below
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n")
		_, _ = c.Write(b[:4096])
		c.Close()
	})
	for _, tc := range []struct {
		name, url, want string
		bytes           int64
	}{
		{"right", right.URL, "", 5000},
		{"flipped byte", flipped.URL, "corrupt", 5000},
		{"wrong digest", badDigest.URL, "corrupt", 5000},
		{"short", "http://" + short + "/", "truncated", 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := transport("http1", 1)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.CloseIdleConnections()
			g := &gen{tr: tr, method: "GET", target: tc.url, timeout: 5 * time.Second, sizes: []int{5000}}
			g.seed.Store(1) // the request asks for seed 2
			o := g.do(context.Background())
			if o.kind != tc.want || o.bytes != tc.bytes {
				t.Errorf("kind %q (%v), %d bytes checked; want %q and %d", o.kind, o.err, o.bytes, tc.want, tc.bytes)
			}
		})
	}
}

// With -new-conn, every request comes on a connection of its own, and h2c
// is refused.
func TestNewConnEachRequest(t *testing.T) {
	var mu sync.Mutex
	addrs := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		addrs[r.RemoteAddr]++
		mu.Unlock()
	}))
	defer srv.Close()
	tr, err := transport("http1", 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := newConnections(tr, "http1"); err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	g := &gen{tr: tr, method: "GET", target: srv.URL, timeout: time.Second}
	res := g.run(ctx, 2, 100, func() {})
	mu.Lock()
	defer mu.Unlock()
	if res.OK == 0 || int64(len(addrs)) != res.OK {
		t.Errorf("%d requests came on %d connections, want one each", res.OK, len(addrs))
	}
	h2, err := transport("h2c", 1)
	if err != nil {
		t.Fatal(err)
	}
	if newConnections(h2, "h2c") == nil {
		t.Error("-new-conn with h2c: accepted, want an error")
	}
}
