package httpmodule

import (
	"net/http"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Request tracking: every request that a server is running is held in a
// slot, so that the stop can tell when none is left and name those it had
// to cut off. It costs a few atomic operations per request and allocates
// nothing: a request claims a free slot picked by a hash of its address (so
// that concurrent requests, and the cores serving them, rarely write the
// same cache line), and gives it back when its handler returns. When the
// slots next to that one are taken, the request goes to a mutex-guarded map
// instead.

const (
	// trackerSlots (1 << trackerSlotBits) is the number of slots of a
	// server. Requests beyond what the slots hold are tracked in the
	// overflow map.
	trackerSlotBits = 10
	trackerSlots    = 1 << trackerSlotBits
	// trackerProbes is how many neighbouring slots a request tries before
	// it falls back to the overflow map.
	trackerProbes = 8
	// detached marks the start stamp of a request whose connection was
	// hijacked (a WebSocket upgrade): the server no longer waits for it.
	detached = int64(1) << 62
)

// slot holds one in-flight request. start is the claim word: 0 when the
// slot is free, otherwise the request's coarse start time plus one (and the
// detached bit). req is set after start and cleared before it, so a reader
// that sees a request in req also sees its start.
type slot struct {
	start atomic.Int64
	req   atomic.Pointer[http.Request]
	_     [64 - 16]byte // one slot per cache line
}

// tracker holds the requests in flight on one server.
type tracker struct {
	slots [trackerSlots]slot
	clock *coarseClock

	// watching is set while the stop waits: every request that ends then
	// wakes the waiter, which recounts.
	watching atomic.Bool
	wake     chan struct{}

	mu       sync.Mutex
	overflow map[*http.Request]int64
}

func newTracker(clock *coarseClock, wake chan struct{}) *tracker {
	return &tracker{clock: clock, wake: wake, overflow: map[*http.Request]int64{}}
}

// enter records r as in flight and returns the slot that exit needs.
func (t *tracker) enter(r *http.Request) int {
	stamp := t.clock.coarse() + 1
	i := slotHint(r)
	for range trackerProbes {
		s := &t.slots[i]
		if s.start.Load() == 0 && s.start.CompareAndSwap(0, stamp) {
			s.req.Store(r)
			return i
		}
		i = (i + 1) & (trackerSlots - 1)
	}
	t.mu.Lock()
	t.overflow[r] = stamp
	t.mu.Unlock()
	return -1
}

// exit records that r, entered in slot i, has ended.
func (t *tracker) exit(i int, r *http.Request) {
	if i >= 0 {
		s := &t.slots[i]
		s.req.Store(nil)
		s.start.Store(0)
	} else {
		t.mu.Lock()
		delete(t.overflow, r)
		t.mu.Unlock()
	}
	if t.watching.Load() {
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
}

// slotHint spreads requests over the slots by the address of their
// *http.Request (Fibonacci hashing): free to compute, different for
// requests alive at the same time, and unrelated between the cores.
func slotHint(r *http.Request) int {
	return int(uint64(uintptr(unsafe.Pointer(r))) * 0x9e3779b97f4a7c15 >> (64 - trackerSlotBits))
}

// inFlight is a request seen by a scan of the tracker.
type inFlight struct {
	req *http.Request
	// start is the coarse start time, nanoseconds since the clock's epoch.
	start int64
}

// scan calls f for every request in flight that has not been detached.
// It may miss a request that enters during the scan.
func (t *tracker) scan(f func(inFlight)) {
	for i := range t.slots {
		s := &t.slots[i]
		st := s.start.Load()
		if st == 0 || st&detached != 0 {
			continue
		}
		r := s.req.Load()
		if r == nil || s.start.Load() != st {
			continue // entering or leaving
		}
		f(inFlight{req: r, start: st - 1})
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for r, st := range t.overflow {
		if st&detached == 0 {
			f(inFlight{req: r, start: st - 1})
		}
	}
}

// count returns the number of requests in flight, detached ones excluded.
func (t *tracker) count() int {
	n := 0
	t.scan(func(inFlight) { n++ })
	return n
}

// detach stops waiting for the requests for which match is true. It runs
// on the goroutine of the request being detached (from the Hijack call in
// its handler), so that request cannot leave its slot meanwhile.
func (t *tracker) detach(match func(*http.Request) bool) {
	for i := range t.slots {
		s := &t.slots[i]
		st := s.start.Load()
		if st == 0 || st&detached != 0 {
			continue
		}
		if r := s.req.Load(); r != nil && match(r) {
			s.start.CompareAndSwap(st, st|detached)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for r, st := range t.overflow {
		if st&detached == 0 && match(r) {
			t.overflow[r] = st | detached
		}
	}
}
