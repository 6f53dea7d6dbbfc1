package grpcmodule

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// Streams learn the drain at instants spread over the window, each within
// it; unary calls at once; a call that begins after the drain learns it
// at once.
func TestDrainSpreadsStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTracker()
		const n, window = 50, time.Second
		var calls []*call
		for range n {
			_, c := tr.begin(context.Background(), "/s/Stream", true)
			calls = append(calls, c)
		}
		_, unary := tr.begin(context.Background(), "/s/Unary", false)
		start := time.Now()
		var mu sync.Mutex
		var wg sync.WaitGroup
		told := map[time.Duration]int{}
		for _, c := range calls {
			wg.Go(func() {
				<-c.drain
				mu.Lock()
				told[time.Since(start)]++
				mu.Unlock()
			})
		}
		tr.drain(window)
		select {
		case <-unary.drain:
		default:
			t.Fatal("a unary call was not told at once")
		}
		wg.Wait()
		first, last := window, time.Duration(0)
		for d := range told {
			first, last = min(first, d), max(last, d)
		}
		if last >= window {
			t.Fatalf("a stream was told after %v, beyond the %v window", last, window)
		}
		if len(told) < n/2 || last-first < window/2 {
			t.Fatalf("%d streams told at %d instants from %v to %v: not spread over %v", n, len(told), first, last, window)
		}
		_, late := tr.begin(context.Background(), "/s/Late", true)
		select {
		case <-late.drain:
		default:
			t.Fatal("a stream that began after the drain was not told at once")
		}
		for _, c := range append(calls, unary, late) {
			tr.end(c)
		}
		tr.stopTimers()
	})
}

// At the deadline every RPC's context is cancelled, and those of RPCs
// that begin later too; an RPC that ends releases its context.
func TestCancelAll(t *testing.T) {
	tr := newTracker()
	ctx1, c1 := tr.begin(context.Background(), "/s/A", false)
	ctx2, c2 := tr.begin(context.Background(), "/s/B", true)
	tr.end(c2)
	if ctx2.Err() == nil {
		t.Fatal("an ended RPC's context is not released")
	}
	if n := tr.cancelAll(); n != 1 {
		t.Fatalf("cancelAll counted %d RPCs in flight, want 1", n)
	}
	if ctx1.Err() == nil {
		t.Fatal("the context of an RPC in flight is not cancelled")
	}
	ctx3, c3 := tr.begin(context.Background(), "/s/C", false)
	if ctx3.Err() == nil {
		t.Fatal("an RPC that began after the deadline is not cancelled")
	}
	if s := tr.stragglers("x"); len(s) != 2 || s[0].Detail != "server x, peer " {
		t.Fatalf("stragglers: %v", s)
	}
	tr.end(c1)
	tr.end(c3)
}
