package bgwork

import (
	"context"
	"runtime/debug"

	"go.uber.org/zap"
)

// startHandedOff runs the task handed off to it (pools without a limit).
func (p *Pool) startHandedOff() {
	t := p.handoff.take()
	if o, returned := p.run(t); returned {
		p.end(t, o)
	}
}

// end records how t ended and counts it out (pools without a limit: no
// lock is taken).
func (p *Pool) end(t *task, o taskState) {
	t.set(o)
	p.release()
}

// work runs the task it was started for, then queued tasks one after
// another, without parking between them, and returns when the queue is
// empty.
func (p *Pool) work() {
	p.mu.Lock()
	for {
		t := p.starting.popFront()
		if t == nil {
			t = p.queue.popFront()
			if t == nil {
				p.workers--
				p.mu.Unlock()
				return
			}
			p.startLocked(t)
		}
		p.mu.Unlock()
		o, returned := p.run(t)
		if !returned {
			return // runtime.Goexit: run passed the queue on to another worker
		}
		p.mu.Lock()
		p.endLocked(t, o)
	}
}

// endLocked records how t, a task run by a worker, ended, gives its room in
// the pool to the submitter that waited longest, if any, and counts t out.
// p.mu is held.
func (p *Pool) endLocked(t *task, o taskState) {
	t.set(o)
	p.taken--
	if w := p.waiters.popFront(); w != nil {
		p.takeLocked(w)
		w.accepted <- struct{}{}
	}
	p.release()
}

// run calls t's function and reports how it ended. A panic is recovered.
// If the function calls runtime.Goexit, run lets it through after it has
// ended t itself and, on a worker, started another worker for the queue;
// then returned is false.
func (p *Pool) run(t *task) (o taskState, returned bool) {
	defer func() {
		if returned {
			return
		}
		r := recover()
		if r == nil { // runtime.Goexit: this goroutine is going away
			p.taskFailed(t, "task called runtime.Goexit", &PanicError{Value: "runtime.Goexit", Stack: debug.Stack()})
			p.goexited(t)
			return
		}
		p.taskFailed(t, "task panicked", &PanicError{Value: r, Stack: debug.Stack()})
		o, returned = panicked, true
	}()
	var ctx context.Context = t
	if p.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(t, p.timeout, ErrTaskTimeout)
		defer cancel()
	}
	err := t.fn(ctx)
	if err != nil {
		p.taskFailed(t, "task failed", err)
		return failed, true
	}
	return succeeded, true
}

// goexited ends t, whose function called runtime.Goexit. If a worker ran
// t, the worker is going away with it: another takes over the queue.
func (p *Pool) goexited(t *task) {
	if !t.onWorker {
		p.end(t, panicked)
		return
	}
	p.mu.Lock()
	p.endLocked(t, panicked)
	if p.queue.len > 0 {
		go p.workFn() // in this worker's place
	} else {
		p.workers--
	}
	p.mu.Unlock()
}

func (p *Pool) taskFailed(t *task, msg string, err error) {
	fields := []zap.Field{zap.String("pool", p.name), zap.String("task", t.name), zap.Error(err)}
	if pe, ok := err.(*PanicError); ok {
		fields = append(fields, zap.Any("panic", pe.Value), zap.ByteString("stack", pe.Stack))
	}
	p.log.Error(msg, fields...)
	if p.onError != nil {
		p.onError(t.name, err)
	}
}
