package bgwork

import "context"

// takeLocked queues s, and starts a worker for it if fewer than the limit
// run. p.mu is held.
func (p *Pool) takeLocked(s submission) {
	p.taken++
	p.queue.push(s)
	if p.workers < p.limit {
		p.workers++
		go p.workFn()
	}
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
	w.lastContext = p.lastContext // the context a worker that exited used last
	return w
}

// retireLocked records that w's goroutine exits, and keeps its record.
// p.mu is held.
func (p *Pool) retireLocked(w *worker) {
	last := p.live[len(p.live)-1]
	p.live[w.slot], last.slot = last, w.slot
	p.live[len(p.live)-1] = nil
	p.live = p.live[:len(p.live)-1]
	p.lastContext = w.lastContext             // for the next worker
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
