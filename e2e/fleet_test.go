package e2e

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// fleet is n replicas of one kind behind HAProxy.
type fleet struct {
	kind     kind
	replicas []*replica
	lb       *lb
	stops    []stopResult
}

func startFleet(t *testing.T, k kind, n int, opt lbOptions, env ...string) *fleet {
	t.Helper()
	f := &fleet{kind: k}
	for _, s := range newSlots(t, n) {
		r := newReplica(s, k, env...)
		r.start(t)
		f.replicas = append(f.replicas, r)
	}
	f.lb = startLB(t, f.slots(), opt)
	return f
}

// stopTimeout bounds any one stop of a replica in the rolling restarts: the
// default budget (25s) plus room.
const stopTimeout = 30 * time.Second

// restart stops replica i with SIGTERM, waits for its exit, starts it again
// and waits until HAProxy sends it traffic again. A lameduck replica must
// stop cleanly (exit 0).
func (f *fleet) restart(t *testing.T, i int) stopResult {
	t.Helper()
	r := f.replicas[i]
	res := r.stop(t, syscall.SIGTERM, stopTimeout)
	f.stops = append(f.stops, res)
	if f.kind.Lameduck {
		if res.ExitCode != 0 {
			t.Errorf("%s: exit code %d after SIGTERM, want 0 (clean stop); log:\n%s", res.Replica, res.ExitCode, tail(r.proc.log.String(), 30))
		}
		if res.Report == nil || !res.Report.Clean {
			t.Errorf("%s: stop not clean: %v", res.Replica, res.Report)
		}
	}
	r.start(t)
	if !f.lb.waitStatusOK(t, r.Name, "UP", 10*time.Second) {
		for _, o := range f.replicas {
			t.Logf("%s (%s):\n%s", o.proc.name, o.proc.exitDesc(), tail(o.proc.log.String(), 15))
		}
		t.FailNow()
	}
	return res
}

// roll restarts the replicas one at a time, in turn, starting one restart
// every cadence (or as soon as the previous one is done, if it took longer),
// until until is closed and at least atLeast restarts are done. It returns
// the number of restarts.
func (f *fleet) roll(t *testing.T, until <-chan struct{}, cadence time.Duration, atLeast int) int {
	t.Helper()
	n := 0
	for i := 0; ; i = (i + 1) % len(f.replicas) {
		if n >= atLeast {
			select {
			case <-until:
				return n
			default:
			}
		}
		next := time.Now().Add(cadence)
		f.restart(t, i)
		n++
		if t.Failed() {
			return n
		}
		select {
		case <-time.After(time.Until(next)):
		case <-until:
		}
	}
}

// maxStop is the longest stop of the fleet so far.
func (f *fleet) maxStop() time.Duration { return f.slowest().Took }

// slowest is the longest stop of the fleet so far.
func (f *fleet) slowest() stopResult {
	var m stopResult
	for _, s := range f.stops {
		if s.Took > m.Took {
			m = s
		}
	}
	return m
}

// lbCounts is what HAProxy counted.
type lbCounts struct {
	FrontendRequests int64 // requests the frontend received
	Sent5xx          int64 // 5xx responses the frontend sent
	Econ, Eresp      int64 // backend connection errors and response errors
	Retries          int64 // backend retries (wretr)
}

func (c lbCounts) String() string {
	s := fmt.Sprintf("HAProxy: %d 5xx sent, %d connect errors, %d response errors", c.Sent5xx, c.Econ, c.Eresp)
	if c.Retries > 0 {
		s += fmt.Sprintf(", %d retried", c.Retries)
	}
	return s
}

func (f *fleet) lbCounts(t *testing.T) lbCounts {
	t.Helper()
	st := f.lb.stats(t)
	fe, be := st["public/FRONTEND"], st["replicas/BACKEND"]
	return lbCounts{FrontendRequests: fe.num("req_tot"), Sent5xx: fe.num("hrsp_5xx"),
		Econ: be.num("econ"), Eresp: be.num("eresp"), Retries: be.num("wretr")}
}

// slots returns the replicas' slots.
func (f *fleet) slots() []slot {
	out := make([]slot, len(f.replicas))
	for i, r := range f.replicas {
		out[i] = r.slot
	}
	return out
}

// stopAll sends SIGTERM to every replica at once and waits for them all.
func (f *fleet) stopAll(t *testing.T) []stopResult {
	t.Helper()
	start := time.Now()
	for _, r := range f.replicas {
		r.proc.signal(t, syscall.SIGTERM)
	}
	var out []stopResult
	for _, r := range f.replicas {
		p := r.proc
		code := p.wait(t, stopTimeout)
		res := stopResult{Replica: p.name, Took: p.end.Sub(start), ExitCode: code}
		if r.kind.Lameduck {
			res.Report = findStopReport(p.log)
		}
		out = append(out, res)
	}
	f.stops = append(f.stops, out...)
	return out
}
