//go:build !race

// The race detector doubles every goroutine's stack guard, so stack sizes
// measured under it say nothing about a production build: this test runs
// without -race only.

package ws

import (
	"runtime"
	"testing"
)

// maxIdleReaderStack bounds the goroutine stack per idle wsmodule
// connection: one reader with the 2 KiB stack a goroutine starts with, plus
// room for measurement noise, and well below the 4 KiB a reader takes when
// it waits inside gorilla's read.
const maxIdleReaderStack = 3 << 10

// TestIdleReaderStack guards what keeps an idle wsmodule connection at about
// 5.2 KiB rather than 7.2 KiB (BenchmarkIdleConnMemory): the stack of its
// one goroutine, the reader, must stay at the 2 KiB a goroutine starts
// with, for 1,000 idle connections in a fresh server process, fresh after
// the handshake, after one message each way, after one whose callback
// encoded JSON, and after one whose callback used 32 KiB of stack.
//
// wsmodule's reader (wsmodule/read.go) gets there through behaviour of the
// Go runtime that no API promises: that a goroutine starts with a 2 KiB
// stack (runtime's fixedStack; with GODEBUG adaptivestackstart, the average
// stack in use, which idle readers keep small), that the readiness wait of
// syscall.RawConn.Read fits in it, and that a grown stack is kept while its
// goroutine waits (hence the fresh goroutine after each callback). When a
// Go release changes one of these, this test fails: re-measure with
// BenchmarkIdleConnMemory and the plain reader (a goroutine that calls
// ReadMessage in a loop), and keep whichever is cheaper.
func TestIdleReaderStack(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 1,000 connections per case in child processes")
	}
	const n = 1000
	clients := buildClients(t)
	for _, tc := range []struct{ name, server, state string }{
		{"fresh", "lameduck", "fresh"},
		{"echoed", "lameduck", "echoed"},
		{"after a JSON callback", "lameduck-json", "echoed"},
		{"after a deep callback", "lameduck-deep", "echoed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bytes, stack := measure(t, clients, tc.server, tc.state, n)
			t.Logf("%s: %.0f B of stack, %.0f B of heap + stacks per idle connection", tc.name, stack, bytes)
			if stack > maxIdleReaderStack {
				t.Fatalf("%s: an idle connection holds %.0f B of goroutine stack, want at most %d: "+
					"with %s the reader no longer fits the stack a goroutine starts with, or its stack is not "+
					"replaced after a callback; see TestIdleReaderStack's doc and wsmodule/read.go",
					tc.name, stack, maxIdleReaderStack, runtime.Version())
			}
		})
	}
}
