package bgwork

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
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

// Pool runs named background tasks, at most [Settings].MaxRunning at once,
// and waits for them when it stops. Create it with [New] (an Fx
// application gets one from the lameduck package). Its methods are safe for
// concurrent use.
//
// Without a limit, the pool has as many slots as tasks and queues none.
type Pool struct {
	limit    int // slots; 0: no limit
	queueCap int // tasks that may wait for a slot
	failFast bool
	timeout  time.Duration
	name     string
	grace    time.Duration
	log      *zap.Logger
	onError  ErrorHandler

	mu       sync.Mutex
	stopping bool               // the stop began: take no more tasks
	seq      uint64             // tasks taken so far, to order tasks of the same age
	running  map[*task]struct{} // the tasks that hold a slot
	queue    []*task            // the tasks waiting for a slot, oldest first
	waiters  []*waiter          // the submitters waiting for room, oldest first
	counters Stats              // the counters; Stats adds the gauges
	idle     chan struct{}      // closed once stopping and no task is left
	isIdle   bool               // idle is closed

	// What the stop's deadline cut off.
	cutDone bool
	cutAt   time.Time
	cut     []*task // the tasks running then, oldest first
	dropped []*task // the tasks queued then, which never ran
}

// task is a task the pool took, from its submission until it ends (or, if
// the stop cut it off, until the pool is gone).
type task struct {
	name   string
	fn     func(context.Context) error
	ctx    context.Context // the caller's values; cancelled only by cancel
	cancel context.CancelCauseFunc
	start  time.Time // when it was submitted
	seq    uint64    // order in which the pool took it
	ended  bool      // its function returned (or panicked); under Pool.mu
}

// byAge orders tasks oldest first.
func byAge(a, b *task) int {
	return cmp.Or(a.start.Compare(b.start), cmp.Compare(a.seq, b.seq))
}

// New returns a pool configured by cfg. It takes tasks at once; stop it with
// [Pool.Stop], or register [Pool.Step] with the stop coordinator. It fails
// with cfg's problems (see [Settings.Validate]).
func New(cfg Settings, opts ...Option) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("bgwork: %w", err)
	}
	p := &Pool{
		limit:    cfg.MaxRunning,
		queueCap: cfg.Queue,
		failFast: cfg.WhenFull == Fail,
		timeout:  cfg.TaskTimeout,
		name:     defaultName,
		grace:    defaultGrace,
		log:      zap.NewNop(),
		running:  make(map[*task]struct{}),
		idle:     make(chan struct{}),
	}
	for _, o := range opts {
		o(p)
	}
	return p, nil
}

// Name returns the pool's name (see [WithName]).
func (p *Pool) Name() string { return p.name }

// Go runs fn as a background task named name, and returns nil once the pool
// has taken it.
//
// fn's context carries the values of ctx but not its cancellation: it is
// cancelled only by the pool, when the stop reaches its deadline (cause
// [ErrStopDeadline]) or after Settings.TaskTimeout (cause
// [ErrTaskTimeout]). fn should return soon after its context is done.
//
// When Settings.MaxRunning tasks run, the pool queues the task, up to
// Settings.Queue tasks; they start in order. When that many are queued
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
	t := &task{name: name, fn: fn, start: time.Now()}
	t.ctx, t.cancel = context.WithCancelCause(context.WithoutCancel(ctx))

	// Taking a task and beginning the stop both hold p.mu, so a task is
	// counted before the stop can see the pool empty, or it is refused.
	p.mu.Lock()
	switch {
	case p.stopping:
		defer p.mu.Unlock()
		return p.refuseLocked(name, ErrDraining)
	case p.hasRoomLocked():
		started := p.takeLocked(t)
		p.mu.Unlock()
		if started {
			go p.run(t)
		}
		return nil
	case p.failFast:
		defer p.mu.Unlock()
		return p.refuseLocked(name, ErrFull)
	}
	return p.waitForRoom(ctx, t) // unlocks p.mu
}

// hasRoomLocked reports whether a slot or a place in the queue is free,
// and slotFreeLocked whether a slot is. p.mu is held.
func (p *Pool) hasRoomLocked() bool  { return p.slotFreeLocked() || len(p.queue) < p.queueCap }
func (p *Pool) slotFreeLocked() bool { return p.limit == 0 || len(p.running) < p.limit }

// takeLocked takes t, which there is room for: it gives t a free slot and
// reports true (the caller starts t's goroutine), or queues it. p.mu is held.
// (A slot is free only while nothing is queued, so tasks start in order.)
func (p *Pool) takeLocked(t *task) (started bool) {
	p.seq++
	t.seq = p.seq
	if p.slotFreeLocked() {
		p.startLocked(t)
		return true
	}
	p.queue = append(p.queue, t)
	return false
}

func (p *Pool) startLocked(t *task) {
	p.running[t] = struct{}{}
	p.counters.Started++
}

// refuseLocked counts a submission turned down. p.mu is held.
func (p *Pool) refuseLocked(name string, why error) error {
	p.counters.Refused++
	return fmt.Errorf("bgwork: task %q not started: %w", name, why)
}

// waiter is a submitter that waits for room in a full pool.
type waiter struct {
	t     *task
	taken chan error // gets nil once the pool took t, or the stop's refusal; once, under Pool.mu
}

// waitForRoom waits until the pool takes t, the stop refuses it, or ctx
// ends. p.mu is held on entry and released.
func (p *Pool) waitForRoom(ctx context.Context, t *task) error {
	w := &waiter{t: t, taken: make(chan error, 1)}
	p.waiters = append(p.waiters, w)
	p.mu.Unlock()
	select {
	case err := <-w.taken:
		return err
	case <-ctx.Done():
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if i := slices.Index(p.waiters, w); i >= 0 {
		p.waiters = slices.Delete(p.waiters, i, i+1)
		p.counters.Refused++
		return fmt.Errorf("bgwork: task %q not started: the pool stayed full until the caller's context ended: %w", t.name, context.Cause(ctx))
	}
	return <-w.taken // taken or refused as ctx ended: the answer is in the channel
}
