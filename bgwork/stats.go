package bgwork

// Stats are the pool's counters since it was created.
type Stats struct {
	// Started counts tasks that began to run.
	Started int64
	// Completed counts tasks that returned nil.
	Completed int64
	// Failed counts tasks that returned an error.
	Failed int64
	// Panicked counts tasks that panicked (or called runtime.Goexit).
	Panicked int64
	// Dropped counts queued tasks that the stop dropped at its deadline,
	// before they started.
	Dropped int64
	// Refused counts submissions that [Pool.Go] turned down: pool full,
	// stop begun, or the caller's context ended while it waited.
	Refused int64
	// Running is the number of tasks running now (without a limit: or
	// about to, in a goroutine started for them).
	Running int64
	// Queued is the number of tasks taken that wait for a free slot now.
	Queued int64
	// Waiting is the number of submitters waiting for room in a full pool
	// now.
	Waiting int64
}

// Stats returns the pool's counters.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	p.sweepLocked()
	s := p.counters
	for _, w := range p.live {
		if w.running {
			s.Running++
		}
	}
	s.Running += int64(len(p.slots.slots)) // swept just now
	s.Queued = int64(p.queue.len)
	s.Waiting = int64(p.waiters.len)
	p.mu.Unlock()
	s.Refused = p.refused.Load()
	return s
}

// count counts a task that ended as o.
func (s *Stats) count(o taskState) {
	switch o {
	case succeeded:
		s.Completed++
	case failed:
		s.Failed++
	case panicked:
		s.Panicked++
	}
}

// sweepLocked counts the tasks without a limit that ended, and lets go of
// what they held. p.mu is held.
func (p *Pool) sweepLocked() {
	if live := p.slots.sweep(&p.counters, !p.cutDone); live == 0 && p.workers == 0 {
		p.lastContext = nil // nothing runs: let the last caller's context go
	}
}
