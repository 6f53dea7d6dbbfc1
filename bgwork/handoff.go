package bgwork

import "sync/atomic"

// handoffChunkLen is how many tasks one chunk of a handoff holds.
const handoffChunkLen = 512

// handoff passes each task of a pool without a limit to the goroutine
// started for it.
//
// `go p.runTask(t)` would allocate a closure for every task, a second
// allocation beside the task. Instead the submitter appends the task to the
// handoff, under Pool.mu, and starts a goroutine with a function value made
// once per pool (which allocates nothing); the goroutine claims the next
// number with an atomic add and takes the task with that number. Unlike a
// lock or a shared stack, this moves no cache line back and forth between
// the submitter's core and the runners' for each task: the submitter writes
// the tasks in order and the runners read them in order. Tasks are kept in
// chunks of handoffChunkLen, linked in order; a chunk is garbage once all
// its tasks were taken.
//
// Why the task numbered k is there when a goroutine claims k: every append
// is followed by the start of one goroutine, and every such goroutine
// claims one number. When a goroutine claims k, k+1 goroutines have
// claimed, so one of them was started after an append numbered k or more;
// that append came after append k (appends are made under Pool.mu, in
// order), and its goroutine's claim came before this claim, or is it. So
// append k happened before the claim of k.
type handoff struct {
	_     [64]byte // keep taken off the cache lines of the Pool's other fields
	taken atomic.Uint64
	_     [56]byte

	// first is a chunk at or before the one holding the next number to
	// claim: goroutines look for their task from there.
	first atomic.Pointer[handoffChunk]

	// Under Pool.mu.
	appended uint64
	last     *handoffChunk
}

// handoffChunk holds the tasks numbered base to base+handoffChunkLen-1.
type handoffChunk struct {
	base  uint64
	tasks [handoffChunkLen]atomic.Pointer[task]
	next  atomic.Pointer[handoffChunk]
}

// put appends t; then exactly one goroutine must call take. Pool.mu is held.
func (h *handoff) put(t *task) {
	i := h.appended % handoffChunkLen
	if i == 0 { // the last chunk is full, or there is none yet
		c := &handoffChunk{base: h.appended}
		if h.last == nil {
			h.first.Store(c)
		} else {
			h.last.next.Store(c)
		}
		h.last = c
	}
	h.last.tasks[i].Store(t)
	h.appended++
}

// take claims the next number and returns its task.
func (h *handoff) take() *task {
	c := h.first.Load() // before the claim, so at or before the chunk of k
	k := h.taken.Add(1) - 1
	for k-c.base >= handoffChunkLen {
		c = c.next.Load()
	}
	if k == c.base { // the first claim in c: goroutines may start from c now
		h.advance(c)
	}
	return c.tasks[k-c.base].Swap(nil) // the chunk keeps no finished task alive
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
