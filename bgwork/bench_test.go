package bgwork

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// batch is how many tasks one pool takes before it is stopped: the
// benchmarks measure create + submit + drain, per task.
const batch = 10_000

func noop(context.Context) error { return nil }

// reportCPU reports the CPU time the process used per op (cpu-ns/op), on
// all cores, when the returned function is called: on a shared machine it
// varies less than the wall-clock time.
func reportCPU(b *testing.B) func() {
	cpu0, ok := processCPU()
	return func() {
		if cpu1, _ := processCPU(); ok {
			b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
		}
	}
}

// BenchmarkGo measures Pool.Go plus the task's run and the pool's drain, per
// empty task, beside the plain stdlib way: goroutines and a sync.WaitGroup,
// with a channel semaphore for a limit. Compare with
//
//	benchstat -col /impl
//
// With a limit, impl=bgwork has a queue as long as the batch, so that Go
// never blocks (pond's contract: its queue has no bound), and
// impl=bgwork-queue0 has none, so that Go blocks for a slot past the limit
// (the contract of the semaphore, errgroup and ants).
func BenchmarkGo(b *testing.B) {
	ctx := context.Background()
	for _, limit := range []int{0, 8, 1000} {
		name := fmt.Sprintf("limit=%d", limit)
		queues := map[string]int{"bgwork": batch}
		if limit > 0 {
			queues["bgwork-queue0"] = 0
		}
		for _, impl := range []string{"bgwork", "bgwork-queue0"} {
			queue, ok := queues[impl]
			if !ok {
				continue
			}
			b.Run(name+"/impl="+impl, func(b *testing.B) {
				b.ReportAllocs()
				defer reportCPU(b)()
				for left := b.N; left > 0; left -= batch {
					p, err := New(Settings{MaxRunning: limit, Queue: queue, WhenFull: Wait})
					if err != nil {
						b.Fatal(err)
					}
					for range min(left, batch) {
						if err := p.Go(ctx, "noop", noop); err != nil {
							b.Fatal(err)
						}
					}
					if err := p.Stop(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		b.Run(name+"/impl=goroutines", func(b *testing.B) {
			b.ReportAllocs()
			defer reportCPU(b)()
			for left := b.N; left > 0; left -= batch {
				var wg sync.WaitGroup
				var sem chan struct{}
				if limit > 0 {
					sem = make(chan struct{}, limit)
				}
				for range min(left, batch) {
					wg.Add(1)
					if sem != nil {
						sem <- struct{}{}
					}
					go func() {
						defer wg.Done()
						_ = noop(ctx)
						if sem != nil {
							<-sem
						}
					}()
				}
				wg.Wait()
			}
		})
	}
}
