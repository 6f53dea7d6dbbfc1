package httpmodule

import (
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
)

// pipeNet connects clients to a server over net.Pipe, so that a test can
// run them in a synctest bubble, where time is fake and a wait for a timer
// is exact.
type pipeNet struct {
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func newPipeNet() *pipeNet {
	return &pipeNet{conns: make(chan net.Conn), done: make(chan struct{})}
}

// startPipeServer starts a server on a pipeNet and returns both; the test's
// cleanup closes the server.
func startPipeServer(t *testing.T, mux *http.ServeMux) (*Server, *pipeNet) {
	t.Helper()
	pn := newPipeNet()
	s := NewServer("public", testServerConfig(), mux)
	s.listen = func(context.Context) (net.Listener, error) { return pn, nil }
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, pn
}

// client returns an HTTP client of the pipeNet: HTTP/1, or h2c with h2c
// set. The test's cleanup closes its idle connections.
func (pn *pipeNet) client(t *testing.T, h2c bool) *http.Client {
	tr := &http.Transport{DialContext: pn.dial}
	if h2c {
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func (pn *pipeNet) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	server, client := net.Pipe()
	select {
	case pn.conns <- server:
		return client, nil
	case <-pn.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (pn *pipeNet) Accept() (net.Conn, error) {
	select {
	case c := <-pn.conns:
		return c, nil
	case <-pn.done:
		return nil, net.ErrClosed
	}
}

func (pn *pipeNet) Close() error {
	pn.closeOnce.Do(func() { close(pn.done) })
	return nil
}

func (pn *pipeNet) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80} }
