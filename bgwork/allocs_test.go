//go:build !race

package bgwork

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/lameduck/lameduck/config"
)

// TestAllocationsPerTask counts the allocations of a submission and its
// task's run: none once the pool has reused its records; while it makes
// new ones (tasks that have not ended hold theirs), no more than `go f()`
// with a closure, that is one, besides the goroutine's own (the runtime
// allocates one when no ended goroutine is left to reuse). A per-task
// timeout adds what context.WithTimeoutCause allocates. (Not built with
// -race: the race detector allocates, and sync.Pool drops objects at random
// under it.)
func TestAllocationsPerTask(t *testing.T) {
	ctx := context.Background()
	release := make(chan struct{})
	block := func(context.Context) error { <-release; return nil }

	runtime.GC() // twice: empties sync.Pools
	runtime.GC()
	goroutine := testing.AllocsPerRun(10_000, func() { go func() { _ = block(ctx) }() }) // GOMAXPROCS 1: none runs until the end
	close(release)
	t.Logf("go f() with a closure, while goroutines pile up: %.2f allocations", goroutine)

	for _, tc := range []struct {
		cfg    config.Tasks
		steady float64 // once records are reused
	}{
		{config.Tasks{}, 0},
		{config.Tasks{MaxRunning: 4, Queue: 1 << 16}, 0},
		{config.Tasks{MaxRunning: 4, Queue: 1 << 16, TaskTimeout: time.Hour}, 4},
	} {
		p := newPool(t, tc.cfg)
		ended := make(chan struct{}, 1)
		signal := func(context.Context) error { ended <- struct{}{}; return nil }
		steady := testing.AllocsPerRun(10_000, func() { // GOMAXPROCS 1: the task runs while the test waits
			if err := p.Go(ctx, "signal", signal); err != nil {
				t.Fatal(err)
			}
			<-ended
		})

		runtime.GC()
		runtime.GC()
		release := make(chan struct{})
		block := func(context.Context) error { <-release; return nil }
		building := testing.AllocsPerRun(10_000, func() {
			if err := p.Go(ctx, "block", block); err != nil {
				t.Fatal(err)
			}
		})
		close(release)
		stop(t, p)
		t.Logf("%+v: %.2f allocations per task once records are reused, %.2f while the pool makes them", tc.cfg, steady, building)
		if steady > tc.steady || building > goroutine {
			t.Errorf("%+v: %.2f allocations per task once records are reused, %.2f while the pool makes them; want at most %v and %v",
				tc.cfg, steady, building, tc.steady, goroutine)
		}
	}
}
