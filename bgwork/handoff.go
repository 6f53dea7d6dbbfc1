package bgwork

import "sync/atomic"

// handoffCells is how many tasks may be on their way to the goroutines
// started for them at once; past that, tasks go through the queue.
const handoffCells = 1024

// handoff passes each task of a pool without a limit to the goroutine
// started for it.
//
// `go p.runTask(t)` would allocate a closure for every task, a second
// allocation beside the task. Instead the submitter puts the task in the
// next cell of a ring, under Pool.mu, and starts a goroutine with a
// function value made once per pool (which allocates nothing); the
// goroutine claims the next cell number with an atomic add and takes the
// task in it. Unlike a lock or a shared stack, this moves no cache line
// back and forth between the submitter's core and the runners' for each
// task: the submitter writes cells in order and the runners read them in
// order.
//
// Why a claimed cell always holds its task: every fill is followed by the
// start of one goroutine, and every such goroutine claims one number. When
// a goroutine claims number k, k+1 goroutines have claimed, so one of them
// belongs to a fill numbered k or more; that fill came after fill k (fills
// are made under Pool.mu, in order), and its goroutine's claim came before
// or is this claim. So fill k happened before the claim of k. A cell is
// filled again only once its task was taken (put checks that it is empty),
// so the task taken from cell k is task k.
type handoff struct {
	_      [64]byte // keep taken off the lines of the Pool's other fields
	taken  atomic.Uint64
	_      [56]byte
	filled uint64 // cells filled; under Pool.mu
	cells  [handoffCells]atomic.Pointer[task]
}

// put puts t in the next cell, if that cell is empty, and reports whether
// it did; then exactly one goroutine must call take. Pool.mu is held.
func (h *handoff) put(t *task) bool {
	c := &h.cells[h.filled%handoffCells]
	if c.Load() != nil { // its goroutine has not taken it yet
		return false
	}
	c.Store(t)
	h.filled++
	return true
}

// take returns the task of the next claimed cell.
func (h *handoff) take() *task {
	k := h.taken.Add(1) - 1
	return h.cells[k%handoffCells].Swap(nil)
}
