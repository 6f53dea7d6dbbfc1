package bgwork

import (
	"context"
	"reflect"
	"sync/atomic"
	"time"
)

// taskContext is the context a task's function receives: the values of the
// caller's context, and the cancellation of the pool. It holds nothing of
// its own task, so tasks submitted with the same caller's context may share
// one (see Pool.contextFor).
type taskContext struct {
	pool   *Pool
	values context.Context // the caller's context, for its values only
}

var _ context.Context = (*taskContext)(nil)

// Deadline reports no deadline: the pool cancels a task when its stop
// reaches its deadline, which is not known in advance. With a per-task
// timeout, the task's function receives a child context that has one.
func (c *taskContext) Deadline() (time.Time, bool) { return time.Time{}, false }

// Done is closed when the pool's stop reaches its deadline.
func (c *taskContext) Done() <-chan struct{} { return c.pool.force.Done() }

// Err returns context.Canceled once Done is closed; context.Cause returns
// [ErrStopDeadline].
func (c *taskContext) Err() error { return c.pool.force.Err() }

// Value returns the caller's value for key.
//
// The pool's cancellation context is asked first. It holds no values of its
// own: it answers only the key under which package context finds the
// cancellation of a context. So context.Cause of a task's context is the
// pool's cause, and contexts derived from it (context.WithTimeout) are
// cancelled directly by the pool, without a goroutine of their own.
func (c *taskContext) Value(key any) any {
	if v := c.pool.force.Value(key); v != nil {
		return v
	}
	return c.values.Value(key)
}

// String names the context for debugging, like the contexts of package
// context do.
func (c *taskContext) String() string { return "bgwork.TaskContext(" + c.pool.name + ")" }

// sameContext reports whether a and b are the same context. It compares
// them only when that cannot panic: == on two interfaces holding the same
// type that is not comparable panics, and a context may be of any type.
// Contexts are pointers (package context's own, and nearly all others) or
// context.Background and context.TODO.
func sameContext(a, b context.Context) bool {
	if a == context.Background() || a == context.TODO() { // compares types first: cannot panic
		return a == b
	}
	return reflect.TypeOf(a).Kind() == reflect.Pointer && a == b
}

// taskState is how far a task has gone.
type taskState uint32

const (
	running   taskState = iota // a goroutine runs it (or is about to)
	succeeded                  // it returned nil
	failed                     // it returned an error
	panicked                   // it panicked or called runtime.Goexit
)

// task is the record of a task of a pool without a limit. It is the only
// allocation of such a submission: it is also the task's context, and what
// the handoff passes to the task's goroutine.
type task struct {
	taskContext
	name  string
	fn    func(context.Context) error
	start time.Duration // when it was submitted, since the pool's epoch
	// state is a taskState: the goroutine that ran the task stores how it
	// ended without taking the pool's lock.
	state atomic.Uint32
	// cut records that the stop's deadline found the task running. Under
	// Pool.mu.
	cut bool
}

func (t *task) load() taskState { return taskState(t.state.Load()) }
func (t *task) set(s taskState) { t.state.Store(uint32(s)) }
