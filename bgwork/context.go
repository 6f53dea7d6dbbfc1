package bgwork

import (
	"context"
	"reflect"
	"time"
)

// taskContext is the context a task's function receives: the values of the
// caller's context, and the cancellation of the pool. It holds nothing of
// its own task, so tasks submitted with the same caller's context share one
// (see Pool.contextFor), and a task costs no allocation of its own.
type taskContext struct {
	pool   *Pool
	values context.Context // the caller's context, for its values only
	// shareable records that values can be compared with == (see
	// comparableContext), so that the context can be shared.
	shareable bool
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

// comparableContext reports whether c can be compared with == to any other
// context without a panic (== on two interfaces that hold the same type
// that is not comparable panics, and a context may be of any type): it is a
// pointer, as package context's contexts and nearly all others are, or
// context.Background or context.TODO.
func comparableContext(c context.Context) bool {
	return c == context.Background() || c == context.TODO() || // compares types first: cannot panic
		reflect.TypeOf(c).Kind() == reflect.Pointer
}

// contextFor returns the context for a task whose caller passed values:
// *last, the one made for the previous task, if its caller passed the same
// context, or a new one, which it stores in *last. A context holds only the
// pool and the caller's context, so sharing it is safe, and it saves an
// allocation per task when one caller submits many. The submitters of a
// pool without a limit share one *last, under p.mu; each worker of a pool
// with a limit has its own.
func (p *Pool) contextFor(last **taskContext, values context.Context) *taskContext {
	if c := *last; c != nil && c.shareable && c.values == values {
		return c
	}
	c := &taskContext{pool: p, values: values, shareable: comparableContext(values)}
	*last = c
	return c
}
