package pool

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestDrainDeadlineReports checks what each library reports after the drain
// with a deadline of BenchmarkDrainDeadline: bgwork names every hung task,
// ants and pond can count them, the others can say nothing.
func TestDrainDeadlineReports(t *testing.T) {
	const n = 2_000
	hangs := func(i int) bool { return i%200 == 7 } // 10 hung tasks
	want := map[string][2]int{"bgwork": {10, 10}, "ants": {10, 0}, "pond": {10, 0}}
	for _, lib := range libraries {
		release := make(chan struct{})
		start := time.Now()
		counted, named, wait := lib.stopWithin(n, hangs, release, 100*time.Millisecond)
		took := time.Since(start)
		close(release)
		wait()
		if got := [2]int{counted, named}; got != want[lib.name] {
			t.Errorf("%s: counted %d, named %d hung tasks; want %v", lib.name, counted, named, want[lib.name])
		}
		if took < 100*time.Millisecond || took > 10*time.Second {
			t.Errorf("%s: the stop returned after %v, want the 100ms deadline (plus submitting)", lib.name, took)
		}
	}
}

// TestBgworkNamesHungTasks shows the report itself.
func TestBgworkNamesHungTasks(t *testing.T) {
	release := make(chan struct{})
	p := stopBgworkPool(2_000, func(i int) bool { return i%200 == 7 }, release, 100*time.Millisecond)
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
