package bgwork

import (
	"sync/atomic"
	"time"
)

// clockTick is how stale the submission time of a task may be: the pool
// reads the system clock at most once per tick while tasks are submitted.
const clockTick = time.Millisecond

// clock tells the time since the pool was created, to the tick, for the
// ages of tasks in the stop report.
//
// Reading the monotonic clock costs about as much as a tenth of starting a
// goroutine, so a busy pool does not read it for every task: the first
// reader after a tick reads it and stores it, and a timer marks the stored
// value stale one tick later. While no task is submitted, the timer is not
// re-armed, so an idle pool costs nothing. A stored value is never later
// than the true time, so an age is never under-reported.
type clock struct {
	epoch  time.Time
	last   atomic.Int64 // time.Since(epoch) when last read
	fresh  atomic.Bool  // last is less than a tick old
	expire *time.Timer  // clears fresh
}

func newClock() *clock {
	c := &clock{epoch: time.Now()}
	c.expire = time.AfterFunc(time.Hour, func() { c.fresh.Store(false) })
	c.expire.Stop()
	return c
}

// now returns the time since epoch, at most a tick old.
func (c *clock) now() time.Duration {
	if c.fresh.Load() {
		return time.Duration(c.last.Load())
	}
	d := time.Since(c.epoch)
	c.last.Store(int64(d))
	if c.fresh.CompareAndSwap(false, true) {
		c.expire.Reset(clockTick)
	}
	return d
}

// exact returns the time since epoch, read now.
func (c *clock) exact() time.Duration { return time.Since(c.epoch) }

// stop disarms the timer.
func (c *clock) stop() { c.expire.Stop() }
