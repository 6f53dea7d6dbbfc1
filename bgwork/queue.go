package bgwork

import (
	"context"
	"sync"
	"time"
)

// submission is a task of a pool with a limit that has not started. The
// pool keeps it by value (in its queue, or in the record of the worker
// that runs it), so that such a task costs no allocation of its own.
type submission struct {
	values context.Context // the caller's context
	name   string
	fn     func(context.Context) error
	start  time.Duration // when it was submitted, since the pool's epoch
}

// queueChunkLen is how many submissions one chunk of a queue holds.
const queueChunkLen = 128

// queue is a FIFO of submissions in linked chunks. Under Pool.mu.
type queue struct {
	head, tail *queueChunk // read from head, write to tail
	read       int         // next index to read in head
	write      int         // next index to write in tail
	len        int
}

type queueChunk struct {
	s    [queueChunkLen]submission
	next *queueChunk
}

// queueChunks recycles emptied chunks between queues: a burst of queued
// tasks then costs no allocation once the process has seen a burst as
// large.
var queueChunks = sync.Pool{New: func() any { return new(queueChunk) }}

func (q *queue) push(s submission) {
	if q.tail == nil || q.write == queueChunkLen {
		c := queueChunks.Get().(*queueChunk)
		if q.tail == nil {
			q.head, q.read = c, 0
		} else {
			q.tail.next = c
		}
		q.tail, q.write = c, 0
	}
	q.tail.s[q.write] = s
	q.write++
	q.len++
}

// popInto moves the oldest submission to s, and reports whether there was
// one.
//
// It does not clear the submission's place: that write would pull the
// chunk's cache lines to the reader's core only for the writer to pull
// them back. What a recycled chunk still holds (contexts and functions of
// tasks that have run) is overwritten when it is reused, or let go when the
// garbage collector empties queueChunks (within two cycles).
func (q *queue) popInto(s *submission) bool {
	if q.len == 0 {
		return false
	}
	*s = q.head.s[q.read]
	q.read++
	q.len--
	if q.read == queueChunkLen || q.len == 0 {
		q.dropHead()
	}
	return true
}

// dropHead removes the head chunk, all read, and recycles it.
func (q *queue) dropHead() {
	c := q.head
	q.head, q.read = c.next, 0
	if q.head == nil {
		q.tail = nil
	}
	c.next = nil
	queueChunks.Put(c)
}

// each calls f for every submission, oldest first.
func (q *queue) each(f func(*submission)) {
	i := q.read
	for c := q.head; c != nil; c, i = c.next, 0 {
		end := queueChunkLen
		if c == q.tail {
			end = q.write
		}
		for ; i < end; i++ {
			f(&c.s[i])
		}
	}
}
