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
	// Running is the number of tasks that hold a slot now: running, or
	// about to in a goroutine started for them.
	Running int64
	// Queued is the number of tasks taken that wait for a free slot now.
	Queued int64
	// Waiting is the number of submitters waiting for room now.
	Waiting int64
}

// Stats returns the pool's counters.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.counters
	s.Running, s.Queued, s.Waiting = int64(len(p.running)), int64(len(p.queue)), int64(len(p.waiters))
	return s
}
