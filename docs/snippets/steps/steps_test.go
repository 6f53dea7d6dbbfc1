package steps

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/lameduck/lameduck/lifecycle"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The queue's step is clean when the queue flushes in time, and says how
// many messages were lost when it does not; the observer records phases.
func TestQueueDrain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		settings := lifecycle.DefaultSettings(nil)
		q := NewQueue(1)
		c := lifecycle.New(settings, lifecycle.WithObservers(newStopMetrics()))
		if err := c.Register(newQueueDrain(q)); err != nil {
			t.Fatal(err)
		}
		go func() { time.Sleep(time.Second); q.Sent() }()
		if rep, err := c.Stop(context.Background()); err != nil || !rep.Clean() {
			t.Fatalf("stop with a flushed queue: %v", err)
		}
		if phaseSeconds.Get("wait").String() != "1" {
			t.Errorf("the wait phase took %s s, want 1", phaseSeconds.Get("wait"))
		}

		c = lifecycle.New(settings)
		if err := c.Register(newQueueDrain(NewQueue(3))); err != nil {
			t.Fatal(err)
		}
		_, err := c.Stop(context.Background())
		if !errors.Is(err, context.DeadlineExceeded) || lifecycle.ExitCode(err) != lifecycle.ExitForced {
			t.Errorf("stop with a stuck queue: %v, want a forced stop", err)
		}
	})
}

func TestDBCheckNamesItself(t *testing.T) {
	if got := newDBCheck(nil).Name; got != "db" {
		t.Errorf("name %q", got)
	}
}
