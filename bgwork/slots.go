package bgwork

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// slot is the record of a task of a pool without a limit, from its
// submission until a sweep after its end. It is not the task's context
// (that is a shared taskContext), so nothing outside the pool refers to
// it, and slots are reused: a task costs no allocation of its own.
//
// A slot that has run a task has its own function value, run, that runs
// its task: the submitter starts the task's goroutine with it. `go
// p.runTask(t)` would allocate a closure for every task; `go s.run()`
// allocates nothing, and the goroutine finds its task without looking
// anywhere shared. It reads the slot and writes how the task ended in it:
// one cache line goes from the submitter's core to the runner's per task,
// as a closure would. A new slot has no function value yet (making one
// would be a second allocation for its task): its goroutine takes it from
// Pool.pending.
type slot struct {
	pool  *Pool
	ctx   *taskContext
	fn    func(context.Context) error
	name  string
	start time.Duration // when it was submitted, since the pool's epoch
	state atomic.Uint32 // a taskState, stored by the goroutine that ran it
	cut   bool          // the stop's deadline found it running; under Pool.mu
	run   func()        // s.pool.runSlot(s), made when the slot is reused
	used  bool          // the slot was recycled
	next  *slot         // in Pool.pending; under Pool.mu
}

// slots recycles the slots of ended tasks, between pools too.
var slots = sync.Pool{New: func() any { return new(slot) }}

func (s *slot) load() taskState { return taskState(s.state.Load()) }

// slotList lists the slots of a pool without a limit whose tasks may not
// have ended, oldest first: the stop names those it cuts off, and Stats
// counts them.
//
// A slot is added when its task is handed to its goroutine. It is not
// removed when the task ends: the goroutine only stores the end in it, so
// that a task ends without taking the pool's lock. The ended ones are swept
// out, counted, and their slots reused, when at least half of the list has
// ended (so each sweep frees as many slots as it keeps, and a slot costs a
// constant amount of sweeping however long its task runs), and whenever the
// pool reports (Stats, Stragglers, the stop). Under Pool.mu.
type slotList struct {
	slots []*slot
	// checkAt is the length at which add looks at how many tasks ended.
	checkAt int
}

// minSweep is the fewest ended tasks a sweep waits for, so that an idle
// pool keeps at most about that many ended tasks (and what they hold) until
// its next submission.
const minSweep = 64

// add records s. If the list has grown enough since it last looked,
// unended, the number of tasks of the pool that may not have ended (an
// overestimate), tells whether half of it ended, and then it sweeps.
func (l *slotList) add(s *slot, unended func() int, counts *Stats, reuse bool) {
	if len(l.slots) >= l.checkAt {
		if ended := len(l.slots) - unended(); ended >= max(minSweep, len(l.slots)/2) {
			l.sweep(counts, reuse)
		}
		l.checkAt = len(l.slots) + max(minSweep, len(l.slots)/2)
	}
	l.slots = append(l.slots, s)
}

// sweep removes the slots of ended tasks, counts those in counts, and
// recycles them if reuse (not once the stop's deadline recorded some). It
// returns how many tasks have not ended.
func (l *slotList) sweep(counts *Stats, reuse bool) int {
	live := l.slots[:0]
	for _, s := range l.slots {
		o := s.load()
		if o == running {
			live = append(live, s)
			continue
		}
		counts.count(o)
		if reuse {
			// The goroutine read all it needed before it stored the
			// end, so the slot is free.
			s.pool, s.ctx, s.fn, s.name = nil, nil, nil, ""
			s.state.Store(uint32(running))
			s.used = true
			slots.Put(s)
		}
	}
	clear(l.slots[len(live):])
	l.slots = live
	return len(live)
}

// launch starts a goroutine for sub, in a pool without a limit.
func (p *Pool) launch(sub submission) {
	s := slots.Get().(*slot)
	if s.run == nil && s.used { // its first reuse: this task's one allocation
		s.run = func() { s.pool.runSlot(s) }
	}
	s.pool, s.fn, s.name, s.start = p, sub.fn, sub.name, sub.start
	p.mu.Lock()
	s.ctx = p.contextFor(&p.lastContext, sub.values)
	p.slots.add(s, p.admitted, &p.counters, !p.cutDone)
	p.counters.Started++
	run := s.run
	if run == nil { // a new slot: its goroutine takes it from pending
		s.next, p.pending = p.pending, s
		run = p.runPendingFn
	}
	p.mu.Unlock()
	go run()
}

// runPending runs the task of a new slot (see slot).
func (p *Pool) runPending() {
	p.mu.Lock()
	s := p.pending
	p.pending, s.next = s.next, nil
	p.mu.Unlock()
	p.runSlot(s)
}

// runSlot runs the task in s (pools without a limit), then stores how it
// ended in s and counts it out, without the pool's lock.
func (p *Pool) runSlot(s *slot) {
	o := running // until invoke returns; if it does not, a panic or runtime.Goexit
	defer p.endSlot(s, &o)
	o = p.invoke(s.name, s.ctx, s.fn)
}

// endSlot is runSlot's deferred end. Past the store of the end, the slot
// may be reused at once: nothing reads it after.
func (p *Pool) endSlot(s *slot, o *taskState) {
	if *o == running {
		*o = p.failure(s.name, recover())
	}
	s.state.Store(uint32(*o))
	p.release()
}
