package bgwork

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/lameduck/lameduck/config"
)

// ErrorHandler receives the error of every task that failed: the error it
// returned, or a [*PanicError] if it panicked. It is called from the task's
// goroutine and must be safe for concurrent use.
type ErrorHandler func(name string, err error)

// Option configures a [Pool].
type Option func(*Pool)

// WithLogger sets the logger for failed and panicked tasks and for the stop.
// The default is a no-op logger.
func WithLogger(l *zap.Logger) Option { return func(p *Pool) { p.log = l } }

// WithErrorHandler sets a function that receives every task's error, for
// example to count it or report it to an error tracker.
func WithErrorHandler(h ErrorHandler) Option { return func(p *Pool) { p.onError = h } }

// WithName names the pool in logs and in the stop report (the step's name).
// The default is "bgwork".
func WithName(name string) Option { return func(p *Pool) { p.name = name } }

// WithForceGrace sets how long [Pool.Stop] waits, after its context ended
// and the tasks' contexts were cancelled, for the tasks to return, when the
// context carries no [lifecycle.ForceDeadline] (that is, when the pool is
// stopped without the coordinator). The default is 250ms.
func WithForceGrace(d time.Duration) Option { return func(p *Pool) { p.grace = d } }

// Defaults of the options.
const (
	defaultName  = "bgwork"
	defaultGrace = 250 * time.Millisecond
	// idleTimeout is how long an idle worker goroutine waits for a task
	// before it exits.
	idleTimeout = 5 * time.Second
)

// Pool runs named background tasks, at most config.Tasks.MaxRunning at
// once, and waits for them when it stops. Create it with [New] or get it
// from [Module]. Its methods are safe for concurrent use.
type Pool struct {
	// admission counts the tasks admitted and not yet finished, and has
	// the bit draining set once the stop began. See admit.
	admission atomic.Int64
	_         [56]byte // keep the hot counter on its own cache line

	limit    int // 0: no limit
	failFast bool
	timeout  time.Duration
	name     string
	grace    time.Duration
	log      *zap.Logger
	onError  ErrorHandler
	epoch    time.Time

	// force is the cancellation of every task's context; it is cancelled
	// when the stop reaches its deadline.
	force       context.Context
	cancelForce context.CancelCauseFunc

	refused   atomic.Int64
	drained   chan struct{} // closed when draining and no task is left
	drainOnce sync.Once

	mu       sync.Mutex
	running  taskList  // tasks that run, oldest first
	waiters  taskList  // tasks whose submitters wait for a slot
	parked   []*worker // idle workers, longest idle first
	reaper   *time.Timer
	reaping  bool            // reaper is armed
	reapGen  int             // how many times the reaper ran
	closed   bool            // the stop began: no worker parks any more
	spare    []chan struct{} // empty channels for waiting submitters, reused
	cut      []*task
	cutAt    time.Duration
	counters Stats
}

// New returns a pool configured by cfg. It takes tasks at once; stop it with
// [Pool.Stop] (the Fx [Module] registers that in the stop sequence), which
// also ends its idle worker goroutines.
func New(cfg config.Tasks, opts ...Option) (*Pool, error) {
	if err := check(cfg); err != nil {
		return nil, err
	}
	p := &Pool{
		limit:    cfg.MaxRunning,
		failFast: cfg.WhenFull == config.Fail,
		timeout:  cfg.TaskTimeout,
		name:     defaultName,
		grace:    defaultGrace,
		log:      zap.NewNop(),
		epoch:    time.Now(),
		drained:  make(chan struct{}),
	}
	p.force, p.cancelForce = context.WithCancelCause(context.Background())
	for _, o := range opts {
		o(p)
	}
	return p, nil
}

func check(cfg config.Tasks) error {
	switch {
	case cfg.MaxRunning < 0:
		return fmt.Errorf("bgwork: tasks.maxRunning is %d: want 0 (no limit) or more", cfg.MaxRunning)
	case cfg.WhenFull != "" && cfg.WhenFull != config.Wait && cfg.WhenFull != config.Fail:
		return fmt.Errorf("bgwork: tasks.whenFull is %q: want %q or %q", cfg.WhenFull, config.Wait, config.Fail)
	case cfg.TaskTimeout < 0:
		return fmt.Errorf("bgwork: tasks.taskTimeout is %v: want 0 (none) or more", cfg.TaskTimeout)
	}
	return nil
}

// Name returns the pool's name (see [WithName]).
func (p *Pool) Name() string { return p.name }

// Go runs fn as a background task named name, and returns nil once the pool
// has taken it.
//
// fn's context carries the values of ctx but not its cancellation: it is
// cancelled only by the pool, when the stop reaches its deadline (cause
// [ErrStopDeadline]) or after config.Tasks.TaskTimeout (cause
// [ErrTaskTimeout]). fn should return soon after its context is done.
//
// When the pool runs config.Tasks.MaxRunning tasks, Go waits for one of them
// to return, or returns ctx's error if ctx ends first (WhenFull "wait"), or
// returns [ErrFull] at once (WhenFull "fail"). Once the stop has begun, Go
// returns [ErrDraining], also to submitters still waiting for a slot. Errors
// name the task and wrap those sentinels, for errors.Is.
func (p *Pool) Go(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	if fn == nil {
		return fmt.Errorf("bgwork: task %q: nil function", name)
	}
	if !p.admit() {
		return p.refuse(name, ErrDraining)
	}
	t := &task{pool: p, values: ctx, name: name, fn: fn, start: time.Since(p.epoch)}
	p.mu.Lock()
	if p.limit > 0 && p.running.len >= p.limit {
		switch {
		case p.closed:
			p.mu.Unlock()
			p.release()
			return p.refuse(name, ErrDraining)
		case p.failFast:
			p.mu.Unlock()
			p.release()
			return p.refuse(name, ErrFull)
		}
		return p.waitForSlot(ctx, t) // unlocks p.mu
	}
	p.startLocked(t)
	w := p.popParkedLocked()
	p.mu.Unlock()
	if w != nil {
		w.wake <- t
	} else {
		go p.work(t)
	}
	return nil
}

// admit counts a submission in, unless the stop has begun.
//
// The count and the draining bit share one word, so every submission's
// increment is ordered against the stop's setting of the bit: an increment
// that comes first is seen by the stop, which then waits for its release;
// one that comes after sees the bit and is taken back. Either way, the stop
// can never see zero while an admitted task has yet to run.
func (p *Pool) admit() bool {
	if p.admission.Add(1)&draining != 0 {
		p.release()
		return false
	}
	return true
}

// release counts a submission out: its task finished or was refused. The
// last one out after the stop began signals the stop.
func (p *Pool) release() {
	if p.admission.Add(-1) == draining {
		p.signalDrained()
	}
}

// draining is the bit of Pool.admission set when the stop begins.
const draining = 1 << 62

func (p *Pool) signalDrained() { p.drainOnce.Do(func() { close(p.drained) }) }

func (p *Pool) refuse(name string, why error) error {
	p.refused.Add(1)
	return fmt.Errorf("bgwork: task %q not started: %w", name, why)
}

// startLocked records t as running. p.mu is held.
func (p *Pool) startLocked(t *task) {
	t.state = running
	p.running.pushBack(t)
	p.counters.Started++
}

// waitForSlot queues t's submitter until a worker takes t, the stop refuses
// it, or ctx ends. p.mu is held on entry and released.
func (p *Pool) waitForSlot(ctx context.Context, t *task) error {
	t.state = waiting
	if n := len(p.spare); n > 0 {
		t.accepted = p.spare[n-1]
		p.spare = p.spare[:n-1]
	} else {
		t.accepted = make(chan struct{}, 1)
	}
	p.waiters.pushBack(t)
	p.mu.Unlock()
	select {
	case <-t.accepted:
	case <-ctx.Done():
		p.mu.Lock()
		if t.state == waiting {
			p.waiters.remove(t)
			p.spare = append(p.spare, t.accepted)
			p.mu.Unlock()
			p.release()
			p.refused.Add(1)
			return fmt.Errorf("bgwork: task %q not started: no slot free before the caller's context ended: %w", t.name, context.Cause(ctx))
		}
		p.mu.Unlock()
		<-t.accepted // taken or refused just now: the signal is on its way
	}
	p.mu.Lock()
	p.spare = append(p.spare, t.accepted)
	state := t.state
	p.mu.Unlock()
	if state == refused { // written before the signal
		p.release()
		return p.refuse(t.name, ErrDraining)
	}
	return nil
}

// Stats are the pool's counters since it was created.
type Stats struct {
	// Started counts tasks that began to run.
	Started int64
	// Completed counts tasks that returned nil.
	Completed int64
	// Failed counts tasks that returned an error.
	Failed int64
	// Panicked counts tasks that panicked (or called runtime.Goexit).
	Panicked int64
	// Refused counts submissions that [Pool.Go] turned down: pool full,
	// stop begun, or the caller's context ended while it waited.
	Refused int64
	// Running is the number of tasks running now.
	Running int64
	// Waiting is the number of submitters waiting for a slot now.
	Waiting int64
	// Idle is the number of idle worker goroutines kept for the next
	// tasks; each exits after a few seconds without work.
	Idle int64
}

// Stats returns the pool's counters.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	s := p.counters
	s.Running = int64(p.running.len)
	s.Waiting = int64(p.waiters.len)
	s.Idle = int64(len(p.parked))
	p.mu.Unlock()
	s.Refused = p.refused.Load()
	return s
}
