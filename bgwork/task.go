package bgwork

import (
	"context"
	"sync/atomic"
	"time"
)

// taskState is where a task is. A task's submitter, its worker and the stop
// change it under Pool.mu, except that the goroutine that ran the task
// stores how it ended without the lock; hence an atomic.
type taskState uint32

const (
	waiting   taskState = iota // its submitter waits for room in the pool
	refused                    // the stop refused it while its submitter waited
	queued                     // taken, waiting for a worker
	running                    // a goroutine runs it (or is starting to)
	succeeded                  // it returned nil
	failed                     // it returned an error
	panicked                   // it panicked or called runtime.Goexit
	dropped                    // queued when the stop reached its deadline: never ran
)

// ended reports whether a task in state s is over: it returned, or the stop
// dropped it.
func (s taskState) ended() bool { return s >= succeeded }

// task is one submitted task. It is the only allocation of a submission: it
// is also the task's context, so the task's function receives it as its ctx.
type task struct {
	pool   *Pool
	values context.Context // the caller's context, for its values only
	name   string
	fn     func(context.Context) error
	start  time.Duration // when it was submitted, since pool.epoch

	state atomic.Uint32 // a taskState

	// prev and next link the task into one of the pool's lists: tasks
	// starting, queued, or waiting for room. Under Pool.mu.
	prev, next *task
	// accepted wakes the submitter waiting for room: the pool took the
	// task, or the stop refused it. Under Pool.mu.
	accepted chan struct{}
	// onWorker records that a worker runs the task, so that its end frees
	// room in the pool. Set under Pool.mu before a worker takes the task.
	onWorker bool
	// cut records that the stop's deadline found the task not ended. Under
	// Pool.mu.
	cut bool
}

func (t *task) load() taskState     { return taskState(t.state.Load()) }
func (t *task) set(s taskState)     { t.state.Store(uint32(s)) }
func (t *task) is(s taskState) bool { return t.load() == s }

// A task is the context of its own function: the values of the caller's
// context, and the cancellation of the pool. Both come from fields the task
// already has, so the context costs no allocation.
var _ context.Context = (*task)(nil)

// Deadline reports no deadline: the pool cancels a task when its stop
// reaches its deadline, which is not known in advance. With a per-task
// timeout, the task's function receives a child context that has one.
func (t *task) Deadline() (time.Time, bool) { return time.Time{}, false }

// Done is closed when the pool's stop reaches its deadline.
func (t *task) Done() <-chan struct{} { return t.pool.force.Done() }

// Err returns context.Canceled once Done is closed; context.Cause returns
// [ErrStopDeadline].
func (t *task) Err() error { return t.pool.force.Err() }

// Value returns the caller's value for key.
//
// The pool's cancellation context is asked first. It holds no values of its
// own: it answers only the key under which package context finds the
// cancellation of a context. So context.Cause of a task's context is the
// pool's cause, and contexts derived from it (context.WithTimeout) are
// cancelled directly by the pool, without a goroutine of their own.
func (t *task) Value(key any) any {
	if v := t.pool.force.Value(key); v != nil {
		return v
	}
	return t.values.Value(key)
}

// String names the context for debugging, like the contexts of package
// context do.
func (t *task) String() string { return "bgwork.Task(" + t.name + ")" }

// taskList is an intrusive doubly linked list of tasks.
type taskList struct {
	head, tail *task
	len        int
}

func (l *taskList) pushBack(t *task) {
	t.prev, t.next = l.tail, nil
	if l.tail == nil {
		l.head = t
	} else {
		l.tail.next = t
	}
	l.tail = t
	l.len++
}

func (l *taskList) remove(t *task) {
	if t.prev == nil {
		l.head = t.next
	} else {
		t.prev.next = t.next
	}
	if t.next == nil {
		l.tail = t.prev
	} else {
		t.next.prev = t.prev
	}
	t.prev, t.next = nil, nil
	l.len--
}

func (l *taskList) popFront() *task {
	t := l.head
	if t != nil {
		l.remove(t)
	}
	return t
}
