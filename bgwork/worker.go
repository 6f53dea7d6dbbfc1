package bgwork

import (
	"context"
	"runtime/debug"

	"go.uber.org/zap"
)

// invoke runs fn, the function of the task named name, with ctx (and the
// per-task timeout), and reports whether it returned nil; an error is
// logged and passed to the ErrorHandler. It lets a panic through: the
// caller's deferred function recovers it (see failure).
func (p *Pool) invoke(name string, ctx context.Context, fn func(context.Context) error) taskState {
	var err error
	if p.timeout > 0 {
		err = p.invokeWithTimeout(ctx, fn)
	} else {
		err = fn(ctx)
	}
	if err != nil {
		p.taskFailed(name, "task failed", err)
		return failed
	}
	return succeeded
}

func (p *Pool) invokeWithTimeout(ctx context.Context, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeoutCause(ctx, p.timeout, ErrTaskTimeout)
	defer cancel()
	return fn(ctx)
}

// failure logs and reports a task whose function did not return: it
// panicked with r, or called runtime.Goexit if r is nil.
func (p *Pool) failure(name string, r any) taskState {
	if r == nil {
		p.taskFailed(name, "task called runtime.Goexit", &PanicError{Value: "runtime.Goexit", Stack: debug.Stack()})
	} else {
		p.taskFailed(name, "task panicked", &PanicError{Value: r, Stack: debug.Stack()})
	}
	return panicked
}

func (p *Pool) taskFailed(name, msg string, err error) {
	fields := []zap.Field{zap.String("pool", p.name), zap.String("task", name), zap.Error(err)}
	if pe, ok := err.(*PanicError); ok {
		fields = append(fields, zap.Any("panic", pe.Value), zap.ByteString("stack", pe.Stack))
	}
	p.log.Error(msg, fields...)
	if p.onError != nil {
		p.onError(name, err)
	}
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

// worker is the record of a worker goroutine of a pool with a limit, and of
// the task it runs. Workers run queued tasks one after another and exit
// when the queue is empty; their records are reused. Under Pool.mu.
type worker struct {
	task        submission   // the task it runs, or ran last
	running     bool         // it runs task
	lastContext *taskContext // see contextFor
	slot        int          // its index in Pool.live
	// cut is 1 + the index in Pool.cut of its task, if the stop's
	// deadline found it running, or 0.
	cut int
}

// work runs queued tasks one after another, without parking between them,
// and returns when the queue is empty.
func (p *Pool) work() {
	var w *worker
	exited := false
	defer func() {
		if !exited { // runtime.Goexit in a task: this goroutine is going away
			p.failure(w.task.name, nil)
			p.mu.Lock()
			p.endLocked(w, panicked)
			p.retireLocked(w)
			if p.queue.len > 0 { // another worker takes over the queue
				p.workers++
				go p.workFn()
			}
			p.mu.Unlock()
		}
	}()
	p.mu.Lock()
	w = p.newWorkerLocked()
	for {
		if !p.queue.popInto(&w.task) {
			p.retireLocked(w)
			p.mu.Unlock()
			exited = true
			return
		}
		p.busyLocked(w)
		ctx := p.contextFor(&w.lastContext, w.task.values)
		name, fn := w.task.name, w.task.fn
		p.mu.Unlock()
		o := p.guard(name, ctx, fn)
		p.mu.Lock()
		p.endLocked(w, o)
	}
}

// guard runs a task on a worker: invoke, with a panic recovered so that
// the worker goes on. A runtime.Goexit is let through, to work's deferred
// function.
func (p *Pool) guard(name string, ctx context.Context, fn func(context.Context) error) (o taskState) {
	o = running
	defer func() {
		if o == running {
			if r := recover(); r != nil { // nil during a runtime.Goexit
				o = p.failure(name, r)
			}
		}
	}()
	return p.invoke(name, ctx, fn)
}

// newWorkerLocked returns a record for a worker that starts. p.mu is held.
func (p *Pool) newWorkerLocked() *worker {
	var w *worker
	if n := len(p.idle); n > 0 {
		w = p.idle[n-1]
		p.idle = p.idle[:n-1]
	} else {
		w = new(worker)
	}
	w.slot = len(p.live)
	p.live = append(p.live, w)
	return w
}

// retireLocked records that w's goroutine exits, and keeps its record.
// p.mu is held.
func (p *Pool) retireLocked(w *worker) {
	last := p.live[len(p.live)-1]
	p.live[w.slot], last.slot = last, w.slot
	p.live[len(p.live)-1] = nil
	p.live = p.live[:len(p.live)-1]
	w.task, w.lastContext = submission{}, nil // keep nothing of the last task alive
	p.idle = append(p.idle, w)
	p.workers--
}

// busyLocked records that w starts its task. p.mu is held.
func (p *Pool) busyLocked(w *worker) {
	w.running = true
	p.counters.Started++
}

// endLocked records how w's task ended, gives its room in the pool to the
// submitter that waited longest, if any, and counts the task out. p.mu is
// held.
func (p *Pool) endLocked(w *worker, o taskState) {
	w.running = false
	if w.cut > 0 {
		p.cut[w.cut-1].returned = true
		w.cut = 0
	}
	p.counters.count(o)
	p.taken--
	if wt := p.waiters.popFront(); wt != nil {
		wt.state = waitTaken
		p.takeLocked(wt.task)
		wt.wake <- struct{}{}
	}
	p.signalIfDrainedLocked()
}

// signalIfDrainedLocked signals the stop of a pool with a limit if it has
// begun and no task is left. p.mu is held.
func (p *Pool) signalIfDrainedLocked() {
	if p.limit > 0 && p.closed && p.taken == 0 {
		p.signalDrained()
	}
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

// waiter is a submitter that waits for room in a full pool. Its record is
// reused. Under Pool.mu.
type waiter struct {
	task       submission
	state      waitState
	wake       chan struct{} // signalled once state is waitTaken or waitRefused
	prev, next *waiter
}

type waitState uint8

const (
	waitWaiting waitState = iota
	waitTaken             // the pool took the task
	waitRefused           // the stop refused it
)

// waiterList is an intrusive doubly linked list of waiters, oldest first.
type waiterList struct {
	head, tail *waiter
	len        int
}

func (l *waiterList) pushBack(w *waiter) {
	w.prev, w.next = l.tail, nil
	if l.tail == nil {
		l.head = w
	} else {
		l.tail.next = w
	}
	l.tail = w
	l.len++
}

func (l *waiterList) remove(w *waiter) {
	if w.prev == nil {
		l.head = w.next
	} else {
		w.prev.next = w.next
	}
	if w.next == nil {
		l.tail = w.prev
	} else {
		w.next.prev = w.prev
	}
	w.prev, w.next = nil, nil
	l.len--
}

func (l *waiterList) popFront() *waiter {
	w := l.head
	if w != nil {
		l.remove(w)
	}
	return w
}
