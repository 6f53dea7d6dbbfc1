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
)

// Pool runs named background tasks, at most config.Tasks.MaxRunning at
// once, and waits for them when it stops. Create it with [New] or get it
// from [Module]. Its methods are safe for concurrent use.
//
// Without a limit, each task runs in a goroutine started for it. With a
// limit, the pool queues the tasks it takes and starts up to MaxRunning
// worker goroutines, each of which runs queued tasks one after another and
// exits when the queue is empty. Either way, no goroutine of the pool stays
// idle between tasks.
type Pool struct {
	// admission counts the tasks of a pool without a limit admitted and
	// not yet ended, and has the bit draining set once the stop began.
	// See admit.
	admission atomic.Int64
	_         [56]byte // keep the hot counter on its own cache line

	limit    int // 0: no limit
	capacity int // limit + queue: how many tasks taken and not ended make the pool full
	failFast bool
	timeout  time.Duration
	name     string
	grace    time.Duration
	log      *zap.Logger
	onError  ErrorHandler
	clock    *clock

	// workFn is p.work: a function value made once, so that starting a
	// worker with it allocates nothing.
	workFn func()

	// force is the cancellation of every task's context; it is cancelled
	// when the stop reaches its deadline.
	force       context.Context
	cancelForce context.CancelCauseFunc

	refused   atomic.Int64
	drained   chan struct{} // closed when draining and no task is left
	drainOnce sync.Once

	mu       sync.Mutex
	counters Stats
	closed   bool // the stop began

	// Without a limit.
	slots        slotList     // the tasks started that may not have ended
	pending      *slot        // new slots whose goroutines have not taken them yet
	runPendingFn func()       // p.runPending, made once
	lastContext  *taskContext // see contextFor (with a limit: the last one of a worker that exited)

	// With a limit.
	taken   int        // tasks taken (queued or running) that have not ended
	queue   queue      // tasks taken and not started, oldest first
	workers int        // goroutines in work
	live    []*worker  // the records of the workers running
	idle    []*worker  // records of workers that exited, for reuse
	waiters waiterList // submitters waiting for room, oldest first
	spare   []*waiter  // records of waiters that returned, for reuse

	// What the stop's deadline cut off.
	cutDone bool
	cutAt   time.Duration
	cut     []cutTask    // the tasks running then
	dropped []submission // the tasks queued then, which never ran
}

// New returns a pool configured by cfg. It takes tasks at once; stop it with
// [Pool.Stop] (the Fx [Module] registers that in the stop sequence).
func New(cfg config.Tasks, opts ...Option) (*Pool, error) {
	if err := check(cfg); err != nil {
		return nil, err
	}
	p := &Pool{
		limit:    cfg.MaxRunning,
		capacity: cfg.MaxRunning + cfg.Queue,
		failFast: cfg.WhenFull == config.Fail,
		timeout:  cfg.TaskTimeout,
		name:     defaultName,
		grace:    defaultGrace,
		log:      zap.NewNop(),
		clock:    newClock(),
		drained:  make(chan struct{}),
	}
	p.force, p.cancelForce = context.WithCancelCause(context.Background())
	p.workFn = p.work
	p.runPendingFn = p.runPending
	p.slots.checkAt = minSweep
	for _, o := range opts {
		o(p)
	}
	return p, nil
}

func check(cfg config.Tasks) error {
	switch {
	case cfg.MaxRunning < 0:
		return fmt.Errorf("bgwork: tasks.maxRunning is %d: want 0 (no limit) or more", cfg.MaxRunning)
	case cfg.Queue < 0:
		return fmt.Errorf("bgwork: tasks.queue is %d: want 0 (no queue) or more", cfg.Queue)
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
// When config.Tasks.MaxRunning tasks run, the pool queues the task, up to
// config.Tasks.Queue tasks; they start in order. When that many are queued
// too, the pool is full: Go waits for room, or returns ctx's error if ctx
// ends first (WhenFull "wait"), or returns [ErrFull] at once (WhenFull
// "fail"). Once the stop has begun, Go returns [ErrDraining], also to
// submitters still waiting for room. Errors name the task and wrap those
// sentinels, for errors.Is.
func (p *Pool) Go(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	if fn == nil {
		return fmt.Errorf("bgwork: task %q: nil function", name)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	s := submission{values: ctx, name: name, fn: fn, start: p.clock.now()}
	if p.limit == 0 {
		if !p.admit() {
			return p.refuse(name, ErrDraining)
		}
		p.launch(s)
		return nil
	}
	p.mu.Lock()
	switch {
	case p.closed:
		p.mu.Unlock()
		return p.refuse(name, ErrDraining)
	case p.taken < p.capacity:
		p.takeLocked(s)
		p.mu.Unlock()
		return nil
	case p.failFast:
		p.mu.Unlock()
		return p.refuse(name, ErrFull)
	}
	return p.waitForRoom(ctx, s) // unlocks p.mu
}

// admit counts a submission to a pool without a limit in, unless the stop
// has begun. (With a limit, the pool counts its tasks in taken, under mu,
// which the submitter takes anyway; the stop sets closed under mu, so a
// task is counted before the stop can see none, or refused.)
//
// The count and the draining bit share one word, so every submission's
// increment is ordered against the stop's setting of the bit: an increment
// that comes first is seen by the stop, which then waits for its release;
// one that comes after sees the bit and is taken back. Either way, the stop
// can never see zero while an admitted task has yet to run. The goroutine
// that ran a task releases it without taking the pool's lock.
func (p *Pool) admit() bool {
	if p.admission.Add(1)&draining != 0 {
		p.release()
		return false
	}
	return true
}

// admitted returns how many submissions to a pool without a limit were
// admitted and not released: tasks that have not ended, and a few being
// submitted.
func (p *Pool) admitted() int { return int(p.admission.Load() &^ draining) }

// release counts a submission to a pool without a limit out: its task
// ended or was refused. The last one out after the stop began signals the
// stop.
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
