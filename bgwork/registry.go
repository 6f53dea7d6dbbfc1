package bgwork

import "slices"

// registry lists the tasks a pool without a limit has started and that may
// not have ended, oldest first: the stop names those it cuts off, and Stats
// counts them.
//
// A task is added when it is handed to its goroutine, under Pool.mu. It is
// not removed when it ends: the goroutine that ran it only stores its final
// state in it, so that a task ends without taking the pool's lock. Ended
// tasks are swept out, and counted, once the registry has doubled since the
// last sweep (so each task is swept out at a constant cost), and whenever
// the pool reports (Stats, Stragglers, the stop). All of it is under
// Pool.mu.
type registry struct {
	tasks   []*task
	sweepAt int
}

// minSweep is the fewest tasks a sweep waits for, so that an idle pool
// keeps at most that many ended tasks (and what their contexts hold) until
// its next submission.
const minSweep = 64

// add records t, sweeping first if the registry has doubled. counts
// receives the ended tasks swept out.
func (r *registry) add(t *task, counts *Stats) {
	if len(r.tasks) >= r.sweepAt {
		r.sweep(counts)
	}
	r.tasks = append(r.tasks, t)
}

// sweep removes the ended tasks and counts them in counts.
func (r *registry) sweep(counts *Stats) {
	live := r.tasks[:0]
	for _, t := range r.tasks {
		if o := t.load(); o != running {
			counts.count(o)
			continue
		}
		live = append(live, t)
	}
	clear(r.tasks[len(live):])
	r.tasks = live
	if cap(r.tasks) > 4*minSweep && len(r.tasks) < cap(r.tasks)/4 {
		r.tasks = slices.Clone(r.tasks) // let a burst's array go
	}
	r.sweepAt = 2*len(r.tasks) + minSweep
}
