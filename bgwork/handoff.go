package bgwork

import (
	"context"
	"sync/atomic"
	"time"
)

// handoffChunkLen is how many tasks one chunk of a handoff holds.
const handoffChunkLen = 64

// handoff passes each task of a pool without a limit to the goroutine
// started for it, and is the record of those tasks until they end.
//
// `go p.runTask(t)` would allocate a closure for every task. Instead the
// submitter writes the task in the next slot, under Pool.mu, and starts a
// goroutine with a function value made once per pool (which allocates
// nothing); the goroutine claims the next number with an atomic add and
// runs the task in the slot with that number, then stores how it ended in
// the slot. The runner reads and writes nothing else of the submitter's but
// the slot: one cache line goes from the submitter's core to the runner's
// per task, as a closure would.
//
// Slots are in chunks of handoffChunkLen, linked in order. The pool keeps
// the chunks that may hold a task that has not ended (chunks); sweep counts
// and clears the slots of ended tasks and lets go of the chunks that are
// all ended.
//
// Why the task numbered k is in its slot when a goroutine claims k: every
// put is followed by the start of one goroutine, and every such goroutine
// claims one number. When a goroutine claims k, k+1 goroutines have
// claimed, so one of them was started after a put numbered k or more; that
// put came after put k (puts are made under Pool.mu, in order), and its
// goroutine's claim came before this claim, or is it. So put k happened
// before the claim of k.
type handoff struct {
	// Each group of fields on its own cache line: taken is written by
	// the goroutines, first read by them (and rarely written), and the
	// rest written by the submitters.
	_     [64]byte
	taken atomic.Uint64
	_     [56]byte

	// first is a chunk at or before the one holding the next number to
	// claim: goroutines look for their slot from there.
	first atomic.Pointer[handoffChunk]
	_     [56]byte

	// Under Pool.mu.
	put     uint64          // tasks put
	last    *handoffChunk   // the chunk being filled
	chunks  []*handoffChunk // the chunks that may hold a task not ended, oldest first
	sweepAt int             // len(chunks) at which add sweeps
}

// handoffChunk holds the tasks numbered base to base+handoffChunkLen-1.
type handoffChunk struct {
	slots [handoffChunkLen]slot
	base  uint64
	next  atomic.Pointer[handoffChunk]
}

// slot is a task of a pool without a limit, from its submission to the
// sweep after its end. It is a cache line of its own, so that goroutines
// that end neighbouring tasks do not contend for one.
type slot struct {
	ctx   *taskContext
	fn    func(context.Context) error
	name  string
	start time.Duration // when it was submitted, since the pool's epoch
	state atomic.Uint32 // a taskState, stored by the goroutine that ran it
	cut   bool          // the stop's deadline found it running; under Pool.mu
	_     [64 - 8 - 8 - 16 - 8 - 4 - 1]byte
}

func (s *slot) load() taskState { return taskState(s.state.Load()) }

// add writes a task in the next slot; then exactly one goroutine must call
// take. Pool.mu is held.
func (h *handoff) add(ctx *taskContext, s submission, counts *Stats) {
	i := h.put % handoffChunkLen
	if i == 0 { // the last chunk is full, or there is none yet
		if len(h.chunks) >= h.sweepAt {
			h.sweep(counts)
		}
		c := &handoffChunk{base: h.put}
		if h.last == nil {
			h.first.Store(c)
		} else {
			h.last.next.Store(c)
		}
		h.last = c
		h.chunks = append(h.chunks, c)
	}
	sl := &h.last.slots[i]
	sl.ctx, sl.fn, sl.name, sl.start = ctx, s.fn, s.name, s.start
	h.put++
}

// take claims the next number and returns its slot.
func (h *handoff) take() *slot {
	c := h.first.Load() // before the claim, so at or before the chunk of k
	k := h.taken.Add(1) - 1
	for k-c.base >= handoffChunkLen {
		c = c.next.Load()
	}
	if k == c.base { // the first claim in c: goroutines may start from c now
		h.advance(c)
	}
	return &c.slots[k-c.base]
}

// advance moves first forward to c, unless another goroutine moved it
// further already.
func (h *handoff) advance(c *handoffChunk) {
	for {
		f := h.first.Load()
		if f.base >= c.base || h.first.CompareAndSwap(f, c) {
			return
		}
	}
}

// sweep counts the tasks that ended in counts, clears their slots (so that
// nothing they held stays alive), and lets go of the chunks whose tasks all
// ended. It runs when the chunks kept have doubled since the last sweep, so
// that each slot is swept at a constant cost, and whenever the pool
// reports. Pool.mu is held.
func (h *handoff) sweep(counts *Stats) (live int) {
	kept := h.chunks[:0]
	for _, c := range h.chunks {
		n := 0
		for i := range c.slots {
			s := &c.slots[i]
			if s.ctx == nil { // swept already, or not put yet
				continue
			}
			if o := s.load(); o != running {
				counts.count(o)
				s.ctx, s.fn, s.name = nil, nil, ""
				continue
			}
			n++
		}
		if n > 0 || c == h.last {
			kept = append(kept, c)
		}
		live += n
	}
	clear(h.chunks[len(kept):])
	h.chunks = kept
	h.sweepAt = 2*len(kept) + 4
	return live
}

// each calls f for every slot whose task has not ended, oldest first.
// Pool.mu is held.
func (h *handoff) each(f func(*slot)) {
	for _, c := range h.chunks {
		for i := range c.slots {
			if s := &c.slots[i]; s.ctx != nil && s.load() == running {
				f(s)
			}
		}
	}
}
