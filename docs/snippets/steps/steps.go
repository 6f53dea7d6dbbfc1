// Package steps shows a service's own work in the stop, a readiness check
// and an observer, as docs/lifecycle.md shows.
package steps

import (
	"context"
	"database/sql"
	"expvar"
	"fmt"
	"sync"

	"github.com/lameduck/lameduck/lifecycle"
)

// Queue stands for a client that buffers messages for a broker.
type Queue struct {
	mu      sync.Mutex
	pending int
	flushed chan struct{}
}

// NewQueue returns a queue with n messages still to send.
func NewQueue(n int) *Queue {
	q := &Queue{pending: n, flushed: make(chan struct{})}
	if n == 0 {
		close(q.flushed)
	}
	return q
}

// Sent records that one message reached the broker.
func (q *Queue) Sent() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pending--; q.pending == 0 {
		close(q.flushed)
	}
}

// Flushed is closed once every message has been handed to the broker.
func (q *Queue) Flushed() <-chan struct{} { return q.flushed }

// Abandon gives up on the messages not sent and returns how many.
func (q *Queue) Abandon() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pending
}

// snippet:start step
func newQueueDrain(q *Queue) lifecycle.Step {
	return lifecycle.NewStep(lifecycle.Wait, "queue.orders", func(ctx context.Context) error {
		select {
		case <-q.Flushed(): // every message is handed to the broker
			return nil
		case <-ctx.Done():
		}
		// The deadline: give up on the rest, and say what was lost.
		n := q.Abandon()
		return fmt.Errorf("queue orders: %d messages not sent: %w", n, ctx.Err())
	})
}

// snippet:end step

// snippet:start check
func newDBCheck(db *sql.DB) lifecycle.ReadinessCheck {
	return lifecycle.ReadinessCheck{Name: "db", Check: func(ctx context.Context) error {
		return db.PingContext(ctx)
	}}
}

// snippet:end check

// snippet:start observer
// phaseSeconds publishes, on /debug/vars, how long each phase of the last
// stop took.
var phaseSeconds = expvar.NewMap("stop_phase_seconds")

func newStopMetrics() lifecycle.Observer {
	return lifecycle.ObserverFunc(func(e lifecycle.Event) {
		if e.Kind == lifecycle.PhaseEnded {
			v := new(expvar.Float)
			v.Set(e.PhaseReport.Duration.Seconds())
			phaseSeconds.Set(e.Phase.String(), v)
		}
	})
}

// snippet:end observer
