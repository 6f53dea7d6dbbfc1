package bgwork

import (
	"context"
	"runtime/debug"
	"time"

	"go.uber.org/zap"
)

// worker is a goroutine that runs tasks one after another. After a task it
// takes the task of the submitter that waited longest, if any, or parks, so
// that a later submission reuses it instead of starting a goroutine. A
// worker parked for idleTimeout exits.
type worker struct {
	wake      chan *task // the next task; nil to exit
	parkedGen int        // Pool.reapGen when it parked
}

// outcome is how a task's function ended.
type outcome uint8

const (
	succeeded outcome = iota
	failed
	panicked
)

// work runs t, then every task handed to it, until it is told to exit.
func (p *Pool) work(t *task) {
	var w *worker
	for t != nil {
		t = p.next(t, p.run(t), &w)
	}
}

// run calls t's function and reports how it ended. A panic is recovered; a
// runtime.Goexit in the function is let through, after the task has been
// accounted for and a replacement worker started if one is needed.
func (p *Pool) run(t *task) (o outcome) {
	returned := false
	defer func() {
		if returned {
			return
		}
		r := recover()
		if r == nil { // runtime.Goexit: this goroutine is going away
			p.taskFailed(t, "task called runtime.Goexit", &PanicError{Value: "runtime.Goexit", Stack: debug.Stack()})
			if next := p.next(t, panicked, nil); next != nil {
				go p.work(next)
			}
			return
		}
		p.taskFailed(t, "task panicked", &PanicError{Value: r, Stack: debug.Stack()})
		o = panicked
	}()
	var ctx context.Context = t
	if p.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(t, p.timeout, ErrTaskTimeout)
		defer cancel()
	}
	err := t.fn(ctx)
	returned = true
	if err != nil {
		p.taskFailed(t, "task failed", err)
		return failed
	}
	return succeeded
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

// next accounts for the end of t and returns the worker's next task: that
// of the submitter that waited longest for a slot or, after parking, the
// next submission. It returns nil when the worker must exit. wp holds the
// worker's parking state, made on first use; nil means the goroutine must
// not park (it is going away).
func (p *Pool) next(t *task, o outcome, wp **worker) *task {
	p.mu.Lock()
	p.running.remove(t)
	t.state = finished
	switch o {
	case succeeded:
		p.counters.Completed++
	case failed:
		p.counters.Failed++
	case panicked:
		p.counters.Panicked++
	}
	if next := p.waiters.popFront(); next != nil {
		// t's slot passes to the waiting submitter.
		p.startLocked(next)
		accepted := next.accepted
		p.mu.Unlock()
		p.release() // t's
		accepted <- struct{}{}
		return next
	}
	if p.closed || wp == nil {
		p.mu.Unlock()
		p.release()
		return nil
	}
	w := *wp
	if w == nil {
		w = &worker{wake: make(chan *task, 1)}
		*wp = w
	}
	w.parkedGen = p.reapGen
	p.parked = append(p.parked, w)
	if !p.reaping {
		p.reaping = true
		if p.reaper == nil {
			p.reaper = time.AfterFunc(idleTimeout, p.reap)
		} else {
			p.reaper.Reset(idleTimeout)
		}
	}
	p.mu.Unlock()
	p.release()
	return <-w.wake
}

// popParkedLocked takes the idle worker that parked last (its stack is the
// warmest), or returns nil. p.mu is held.
func (p *Pool) popParkedLocked() *worker {
	n := len(p.parked)
	if n == 0 {
		return nil
	}
	w := p.parked[n-1]
	p.parked[n-1] = nil
	p.parked = p.parked[:n-1]
	return w
}

// reap runs every idleTimeout while workers are parked. It ends the workers
// that were parked already when it last ran: they have been idle for at
// least idleTimeout (and less than twice that).
func (p *Pool) reap() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reaping = false
	if p.closed {
		return
	}
	n := 0
	for n < len(p.parked) && p.parked[n].parkedGen < p.reapGen {
		p.parked[n].wake <- nil
		n++
	}
	left := copy(p.parked, p.parked[n:])
	clear(p.parked[left:])
	p.parked = p.parked[:left]
	p.reapGen++
	if left > 0 {
		p.reaping = true
		p.reaper.Reset(idleTimeout)
	}
}
