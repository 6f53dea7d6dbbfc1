package httpmodule

import (
	"sync"
	"sync/atomic"
	"time"
)

// clockTick is the resolution of the coarse clock that stamps requests. A
// request's age in a stop report is accurate to about this much.
const clockTick = 10 * time.Millisecond

// coarseClock is a clock that costs one atomic load to read. Reading the
// real monotonic clock costs 25-50 ns here, as much as the whole budget of
// request tracking, so requests are stamped with a time that a ticker
// refreshes every clockTick instead.
type coarseClock struct {
	epoch time.Time
	now   atomic.Int64 // nanoseconds since epoch, refreshed every tick

	mu    sync.Mutex
	users int
	quit  chan struct{}
	done  chan struct{}
}

func newCoarseClock() *coarseClock {
	return &coarseClock{epoch: time.Now()}
}

// processClock is the coarse clock of every server of the process: one
// ticker however many servers run.
var processClock = newCoarseClock()

// start refreshes the clock every tick until as many calls of stop.
func (c *coarseClock) start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.users++
	if c.users > 1 {
		return
	}
	c.now.Store(int64(time.Since(c.epoch)))
	c.quit, c.done = make(chan struct{}), make(chan struct{})
	go c.run(c.quit, c.done)
}

func (c *coarseClock) run(quit, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(clockTick)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			c.now.Store(int64(time.Since(c.epoch)))
		case <-quit:
			return
		}
	}
}

// stop ends one start; the last one ends the ticker and waits for it.
func (c *coarseClock) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.users--
	if c.users > 0 || c.quit == nil {
		return
	}
	close(c.quit)
	<-c.done
	c.quit, c.done = nil, nil
}

// coarse returns the coarse time: nanoseconds since the epoch, at most
// about a tick behind.
func (c *coarseClock) coarse() int64 { return c.now.Load() }

// precise returns the exact time since the epoch, for the rare paths that
// report ages.
func (c *coarseClock) precise() int64 { return int64(time.Since(c.epoch)) }
