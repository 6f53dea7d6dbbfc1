package pool

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestDrainDeadlineReports checks what each library reports after the drain
// with a deadline of BenchmarkDrainDeadline: bgwork names every hung task,
// ants and pond can count them, the others can say nothing. The quick tasks
// return before the stop begins, and the deadline is generous, so that a
// loaded machine cannot leave some of them (or ants' idle workers) running.
func TestDrainDeadlineReports(t *testing.T) {
	const n, deadline = 2_000, 300 * time.Millisecond
	hangs := func(i int) bool { return i%200 == 7 } // 10 hung tasks
	want := map[string][2]int{"bgwork": {10, 10}, "ants": {10, 0}, "pond": {10, 0}}
	for _, lib := range libraries {
		if lib.stopWithin == nil {
			continue
		}
		release := make(chan struct{})
		start := time.Now()
		counted, named, wait := lib.stopWithin(drain{n: n, hangs: hangs, release: release, deadline: deadline, settle: true})
		took := time.Since(start)
		close(release)
		wait()
		if got := [2]int{counted, named}; got != want[lib.name] {
			t.Errorf("%s: counted %d, named %d hung tasks; want %v", lib.name, counted, named, want[lib.name])
		}
		if took < deadline || took > 10*time.Second {
			t.Errorf("%s: the stop returned after %v, want the %v deadline (plus submitting)", lib.name, took, deadline)
		}
	}
}

// TestBgworkNamesHungTasks shows the report itself.
func TestBgworkNamesHungTasks(t *testing.T) {
	release := make(chan struct{})
	p := stopBgworkPool(drain{n: 2_000, hangs: func(i int) bool { return i%200 == 7 }, release: release, deadline: 100 * time.Millisecond, settle: true})
	stragglers := p.Stragglers()
	close(release)
	if err := p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, s := range stragglers {
		if s.Kind != "task" || s.Name != "bench.task" || !strings.Contains(s.Detail, "still running") || s.Age < 100*time.Millisecond {
			t.Errorf("straggler %v, want task bench.task still running, age >= 100ms", s)
		}
	}
	if len(stragglers) != 10 {
		t.Errorf("%d stragglers, want the 10 hung tasks", len(stragglers))
	}
}

// TestEveryLibraryRunsEveryTask checks the adapters that the benchmarks
// time: each runs every task of its batch before it returns, with and
// without a limit, and never more than the limit at once.
func TestEveryLibraryRunsEveryTask(t *testing.T) {
	const n = 3_000
	for _, lib := range libraries {
		for _, limit := range []int{0, 8} {
			var ran, running, most atomic.Int64
			lib.run(limit, n, func() {
				now := running.Add(1)
				for {
					if m := most.Load(); now <= m || most.CompareAndSwap(m, now) {
						break
					}
				}
				ran.Add(1)
				running.Add(-1)
			})
			if ran.Load() != n {
				t.Errorf("%s, limit %d: %d tasks ran before run returned, want %d", lib.name, limit, ran.Load(), n)
			}
			if limit > 0 && most.Load() > int64(limit) {
				t.Errorf("%s, limit %d: %d tasks ran at once", lib.name, limit, most.Load())
			}
		}
	}
}
