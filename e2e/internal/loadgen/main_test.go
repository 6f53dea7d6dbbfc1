package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
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
			kind, err, _, _ := g.do(context.Background())
			if kind != tc.want {
				t.Errorf("kind %q (%v), want %q", kind, err, tc.want)
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
