package httpmodule

// Guard tests: each checks one behaviour of net/http that this package
// relies on or states in its docs. When one fails after a Go upgrade, the
// behaviour changed: read the test's message, then fix the code or the docs
// it names.

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// sweepAgain relies on http.Server.Shutdown running every function given to
// RegisterOnShutdown on each call, not only on the first: that is how an
// HTTP/2 connection that started serving after the first sweep gets its
// GOAWAY (golang/go#81153).
func TestShutdownRerunsOnShutdownHooks(t *testing.T) {
	srv := &http.Server{}
	calls := make(chan struct{}, 4)
	srv.RegisterOnShutdown(func() { calls <- struct{}{} })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 2 {
		_ = srv.Shutdown(ctx)
	}
	for i := range 2 {
		select {
		case <-calls:
		case <-time.After(10 * time.Second):
			t.Fatalf("Shutdown call %d did not run the RegisterOnShutdown hook: net/http changed; "+
				"serverRun.sweepAgain no longer sends a GOAWAY to late HTTP/2 connections and needs another way", i+1)
		}
	}
}

// docs/httpmodule.md and docs/benchmarks.md state that net/http closes a
// drained HTTP/2 connection one second after its GOAWAY when the client
// does not close it (the h2 server's goAwayTimeout, golang.org/issue/18701):
// the shutdown phase lasts that much longer with such clients. The test
// measures it in fake time.
func TestHTTP2ClosesIdleConnectionOneSecondAfterGoAway(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		serverSide, clientSide := net.Pipe()
		ln := newPipeListener(serverSide)
		var protos http.Protocols
		protos.SetUnencryptedHTTP2(true)
		srv := &http.Server{Protocols: &protos, Handler: http.NotFoundHandler()}
		served := make(chan struct{})
		go func() { _ = srv.Serve(ln); close(served) }()

		go func() {
			_, _ = io.WriteString(clientSide, clientPreface)
			_, _ = clientSide.Write([]byte{0, 0, 0, 0x4, 0, 0, 0, 0, 0}) // empty SETTINGS
		}()
		goAway, closed := make(chan time.Time, 1), make(chan time.Time, 1)
		go func() {
			br := bufio.NewReader(clientSide)
			for {
				var hdr [frameHeaderLen]byte
				if _, err := io.ReadFull(br, hdr[:]); err != nil {
					closed <- time.Now()
					return
				}
				n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
				if _, err := io.CopyN(io.Discard, br, int64(n)); err != nil {
					closed <- time.Now()
					return
				}
				switch {
				case hdr[3] == frameGoAway:
					goAway <- time.Now()
				case hdr[3] == 0x4 && hdr[4]&0x1 == 0: // SETTINGS: acknowledge
					go func() { _, _ = clientSide.Write([]byte{0, 0, 0, 0x4, 0x1, 0, 0, 0, 0}) }()
				}
			}
		}()
		synctest.Wait() // the connection is set up and idle

		shutdownDone := make(chan struct{})
		go func() { _ = srv.Shutdown(context.Background()); close(shutdownDone) }()
		sent := <-goAway
		at := <-closed
		if d := at.Sub(sent); d != time.Second {
			t.Errorf("net/http closed the idle HTTP/2 connection %v after its GOAWAY, want 1s: "+
				"update what docs/httpmodule.md and docs/benchmarks.md say the shutdown costs with such clients", d)
		}
		clientSide.Close()
		<-shutdownDone
		<-served
	})
}

// pipeListener accepts one connection, then blocks until closed.
type pipeListener struct {
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func newPipeListener(c net.Conn) *pipeListener {
	l := &pipeListener{conns: make(chan net.Conn, 1), done: make(chan struct{})}
	l.conns <- c
	return l
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
