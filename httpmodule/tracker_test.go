package httpmodule

import (
	"net/http"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

func newTestRequests(n int) []*http.Request {
	rs := make([]*http.Request, n)
	for i := range rs {
		rs[i], _ = http.NewRequest("GET", "/r", nil)
	}
	return rs
}

// The tracker names every request in flight, including those beyond its
// slots (the overflow map), and forgets each when it exits.
func TestTrackerScansEveryRequestInFlight(t *testing.T) {
	clock := newCoarseClock()
	tr := newTracker(clock, make(chan struct{}, 1))
	const n = trackerSlots + 500 // more than the slots hold
	rs := newTestRequests(n)
	slotsOf := make([]int, n)
	for i, r := range rs {
		slotsOf[i] = tr.enter(r)
	}
	if !slices.Contains(slotsOf, -1) {
		t.Fatal("no request went to the overflow map; the test needs some there")
	}
	seen := map[*http.Request]bool{}
	tr.scan(func(f inFlight) { seen[f.req] = true })
	if len(seen) != n {
		t.Fatalf("scan saw %d requests, want %d", len(seen), n)
	}
	for i, r := range rs {
		if i%2 == 0 {
			tr.exit(slotsOf[i], r)
		}
	}
	if got := tr.count(); got != n/2 {
		t.Fatalf("count after half exited: %d, want %d", got, n/2)
	}
	for i, r := range rs {
		if i%2 == 1 {
			tr.exit(slotsOf[i], r)
		}
	}
	if got := tr.count(); got != 0 {
		t.Fatalf("count after all exited: %d", got)
	}
}

// A detached request (its connection was hijacked) is no longer counted or
// named, and its slot is free again once it exits.
func TestTrackerDetach(t *testing.T) {
	tr := newTracker(newCoarseClock(), make(chan struct{}, 1))
	rs := newTestRequests(3)
	slots := []int{tr.enter(rs[0]), tr.enter(rs[1]), tr.enter(rs[2])}
	tr.detach(func(r *http.Request) bool { return r == rs[1] })
	var names []*http.Request
	tr.scan(func(f inFlight) { names = append(names, f.req) })
	if len(names) != 2 || slices.Contains(names, rs[1]) {
		t.Fatalf("after detaching request 1: scan saw %d requests (detached one included: %v)", len(names), slices.Contains(names, rs[1]))
	}
	for i, r := range rs {
		tr.exit(slots[i], r)
	}
	if got := tr.count(); got != 0 {
		t.Fatalf("count after all exited: %d", got)
	}
	if s := tr.slots[slots[1]].start.Load(); s != 0 {
		t.Fatalf("the detached request's slot is not free after it exited: %x", s)
	}
}

// While the stop waits, every exit wakes it.
func TestTrackerWakesTheStop(t *testing.T) {
	wake := make(chan struct{}, 1)
	tr := newTracker(newCoarseClock(), wake)
	r := newTestRequests(1)[0]
	tr.exit(tr.enter(r), r)
	select {
	case <-wake:
		t.Fatal("woke the stop while it was not waiting")
	default:
	}
	tr.watching.Store(true)
	tr.exit(tr.enter(r), r)
	select {
	case <-wake:
	default:
		t.Fatal("an exit did not wake the waiting stop")
	}
}

// The coarse clock that stamps requests follows real time to within a
// tick, so a request's age in the report is right to within a tick.
func TestCoarseClockAges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newCoarseClock()
		clock.start()
		defer clock.stop()
		tr := newTracker(clock, make(chan struct{}, 1))
		time.Sleep(10 * time.Second)
		r := newTestRequests(1)[0]
		i := tr.enter(r)
		time.Sleep(1500 * time.Millisecond)
		var ages []time.Duration
		tr.scan(func(f inFlight) { ages = append(ages, time.Duration(clock.precise()-f.start)) })
		if len(ages) != 1 || ages[0] < 1500*time.Millisecond || ages[0] > 1500*time.Millisecond+clockTick {
			t.Fatalf("ages %v, want one of 1.5s to 1.5s+%v", ages, clockTick)
		}
		tr.exit(i, r)
	})
}
