package bgwork

import (
	"context"
	"runtime/debug"

	"go.uber.org/zap"
)

// outcome is how a task ended.
type outcome int

const (
	completed outcome = iota // it returned nil
	failed                   // it returned an error
	panicked                 // it panicked or called runtime.Goexit
)

// run runs t, which holds a slot, then the queued tasks that the slot
// passes to, one after another, until none is queued.
func (p *Pool) run(t *task) {
	returned := false
	defer func() {
		if !returned { // t's function panicked or called runtime.Goexit
			if r := recover(); r != nil {
				p.taskFailed(t.name, "task panicked", &PanicError{Value: r, Stack: debug.Stack()})
			} else {
				p.taskFailed(t.name, "task called runtime.Goexit", &PanicError{Value: "runtime.Goexit", Stack: debug.Stack()})
			}
			if next := p.finish(t, panicked); next != nil {
				go p.run(next) // this goroutine ends here
			}
		}
	}()
	for t != nil {
		t = p.finish(t, p.invoke(t))
	}
	returned = true
}

// invoke runs t's function, with the per-task timeout, and returns whether
// it returned an error, which it logs and passes to the ErrorHandler.
func (p *Pool) invoke(t *task) outcome {
	ctx := t.ctx
	if p.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, p.timeout, ErrTaskTimeout)
		defer cancel()
	}
	if err := t.fn(ctx); err != nil {
		p.taskFailed(t.name, "task failed", err)
		return failed
	}
	return completed
}

// finish counts t out as o and passes its slot on: to the oldest queued
// task (whose place goes to the oldest waiting submitter) or, with nothing
// queued, to that submitter's task. It returns the task that got the slot,
// for t's goroutine to run, or nil.
func (p *Pool) finish(t *task, o outcome) (next *task) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.running, t)
	t.ended = true
	switch o {
	case completed:
		p.counters.Completed++
	case failed:
		p.counters.Failed++
	case panicked:
		p.counters.Panicked++
	}
	if len(p.queue) > 0 {
		next = p.queue[0]
		p.queue[0] = nil
		p.queue = p.queue[1:]
		p.startLocked(next)
	}
	if len(p.waiters) > 0 && p.hasRoomLocked() {
		w := p.waiters[0]
		p.waiters[0] = nil
		p.waiters = p.waiters[1:]
		if p.takeLocked(w.t) { // nothing was queued: t's slot is its
			next = w.t
		}
		w.taken <- nil
	}
	p.signalIfIdleLocked()
	return next
}

// signalIfIdleLocked tells Stop that no task is left, once it has begun.
// p.mu is held.
func (p *Pool) signalIfIdleLocked() {
	if p.stopping && !p.isIdle && len(p.running) == 0 && len(p.queue) == 0 {
		p.isIdle = true
		close(p.idle)
	}
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
