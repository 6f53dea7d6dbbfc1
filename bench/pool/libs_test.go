// Package pool compares bgwork with plain goroutines and peer pools on the
// same workloads, in one run. See docs/benchmarks/bgwork.md for the numbers
// and the command that reproduces them.
package pool

import (
	"context"
	"sync"
	"time"

	"github.com/alitto/pond/v2"
	"github.com/panjf2000/ants/v2"
	"github.com/sourcegraph/conc/pool"
	"golang.org/x/sync/errgroup"

	"github.com/lameduck/lameduck/bgwork"
)

// library runs one batch: it creates a pool that runs at most limit tasks
// at once (0: no limit), submits n tasks that each call work, and waits
// until all of them returned. The adapters build their task function once
// per batch, so that a task costs what the library itself costs.
type library struct {
	name string
	run  func(limit, n int, work func())
	// stopWithin runs the drain d (nil for a variant whose drain is
	// another library's). It returns what the library can report about
	// the tasks it could not wait for: how many it can count and how many
	// it can name. wait waits for every task after d.release is closed.
	stopWithin func(d drain) (counted, named int, wait func())
}

// drain is a drain with a deadline: submit n tasks, of which those for
// which hangs(i) is true ignore every cancellation and return only once
// release is closed, then stop with the deadline. With settle, the other
// tasks return before the stop begins, so that what a library counts does
// not depend on how fast a loaded machine runs them (tests).
type drain struct {
	n        int
	hangs    func(int) bool
	release  <-chan struct{}
	deadline time.Duration
	settle   bool
}

var libraries = []library{
	{"bgwork", runBgwork, stopBgwork},
	{"bgwork-queue0", runBgworkWithoutQueue, nil},
	{"goroutines+WaitGroup", runGoroutines, stopGoroutines},
	{"errgroup", runErrgroup, stopErrgroup},
	{"conc", runConc, stopConc},
	{"ants", runAnts, stopAnts},
	{"pond", runPond, stopPond},
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// runBgwork gives a bounded pool a queue as long as the batch, so that Go
// never blocks: pond's contract (its queue has no bound).
func runBgwork(limit, n int, work func()) {
	runBgworkQueue(limit, n, n, work)
}

// runBgworkWithoutQueue has no queue: past the limit, Go blocks until a
// slot frees, the contract of the channel semaphore, errgroup, conc and
// ants. Without a limit it is runBgwork.
func runBgworkWithoutQueue(limit, n int, work func()) {
	runBgworkQueue(limit, 0, n, work)
}

func runBgworkQueue(limit, queue, n int, work func()) {
	p, err := bgwork.New(bgwork.Settings{MaxRunning: limit, Queue: queue, WhenFull: bgwork.Wait})
	must(err)
	ctx := context.Background()
	task := func(context.Context) error { work(); return nil }
	for range n {
		must(p.Go(ctx, "bench", task))
	}
	must(p.Stop(ctx))
}

func runGoroutines(limit, n int, work func()) {
	var wg sync.WaitGroup
	var sem chan struct{}
	if limit > 0 {
		sem = make(chan struct{}, limit)
	}
	for range n {
		wg.Add(1)
		if sem != nil {
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				work()
				<-sem
			}()
			continue
		}
		go func() {
			defer wg.Done()
			work()
		}()
	}
	wg.Wait()
}

func runErrgroup(limit, n int, work func()) {
	var g errgroup.Group
	if limit > 0 {
		g.SetLimit(limit)
	}
	task := func() error { work(); return nil }
	for range n {
		g.Go(task)
	}
	must(g.Wait())
}

func runConc(limit, n int, work func()) {
	p := pool.New()
	if limit > 0 {
		p = p.WithMaxGoroutines(limit)
	}
	for range n {
		p.Go(work)
	}
	p.Wait()
}

func runAnts(limit, n int, work func()) {
	p, err := ants.NewPool(limit) // 0: no limit; Submit blocks when full
	must(err)
	defer p.Release()
	var wg sync.WaitGroup
	task := func() { work(); wg.Done() }
	for range n {
		wg.Add(1)
		must(p.Submit(task))
	}
	wg.Wait()
}

func runPond(limit, n int, work func()) {
	p := pond.NewPool(limit) // 0: no limit; the queue is unbounded, Go never blocks
	for range n {
		must(p.Go(work))
	}
	p.StopAndWait()
}

// hungTasks submits the tasks of d.
func hungTasks(d drain, submit func(func())) {
	var quickDone sync.WaitGroup
	quick := func() { quickDone.Done() }
	hung := func() { <-d.release } // ignores every cancellation
	for i := range d.n {
		if d.hangs(i) {
			submit(hung)
		} else {
			quickDone.Add(1)
			submit(quick)
		}
	}
	if d.settle {
		quickDone.Wait()
	}
}

func stopBgwork(d drain) (int, int, func()) {
	p := stopBgworkPool(d)
	named := 0
	for _, s := range p.Stragglers() {
		if s.Name != "" && s.Detail != "" {
			named++
		}
	}
	return int(p.Stats().Running), named, func() { _ = p.Stop(context.Background()) } // returns once the last task returned
}

// stopBgworkPool submits the tasks to a bgwork pool and stops it with the
// deadline, with a force grace of 1ms.
func stopBgworkPool(d drain) *bgwork.Pool {
	p, err := bgwork.New(bgwork.Settings{}, bgwork.WithForceGrace(time.Millisecond))
	must(err)
	hungTasks(d, func(f func()) {
		must(p.Go(context.Background(), "bench.task", func(context.Context) error { f(); return nil }))
	})
	ctx, cancel := context.WithTimeout(context.Background(), d.deadline)
	defer cancel()
	_ = p.Stop(ctx) // an error that counts the tasks still running
	return p
}

// waitWithin waits for wait to return, or for the deadline.
func waitWithin(wait func(), deadline time.Duration) (done <-chan struct{}) {
	ch := make(chan struct{})
	go func() { wait(); close(ch) }()
	t := time.NewTimer(deadline)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	}
	return ch
}

func stopGoroutines(d drain) (int, int, func()) {
	var wg sync.WaitGroup
	hungTasks(d, func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	})
	done := waitWithin(wg.Wait, d.deadline)
	return 0, 0, func() { <-done }
}

func stopErrgroup(d drain) (int, int, func()) {
	var g errgroup.Group
	hungTasks(d, func(f func()) { g.Go(func() error { f(); return nil }) })
	done := waitWithin(func() { _ = g.Wait() }, d.deadline)
	return 0, 0, func() { <-done }
}

func stopConc(d drain) (int, int, func()) {
	p := pool.New()
	hungTasks(d, p.Go)
	done := waitWithin(p.Wait, d.deadline)
	return 0, 0, func() { <-done }
}

func stopAnts(d drain) (int, int, func()) {
	p, err := ants.NewPool(0)
	must(err)
	var wg sync.WaitGroup // ants cannot wait for its tasks once ReleaseTimeout gave up
	hungTasks(d, func(f func()) {
		wg.Add(1)
		must(p.Submit(func() { defer wg.Done(); f() }))
	})
	_ = p.ReleaseTimeout(d.deadline) // ants.ErrTimeout
	return p.Running(), 0, wg.Wait
}

func stopPond(d drain) (int, int, func()) {
	p := pond.NewPool(0)
	hungTasks(d, func(f func()) { must(p.Go(f)) })
	stopped := p.Stop()
	t := time.NewTimer(d.deadline)
	defer t.Stop()
	select {
	case <-stopped.Done():
	case <-t.C:
	}
	return int(p.RunningWorkers()), 0, func() { <-stopped.Done() }
}
