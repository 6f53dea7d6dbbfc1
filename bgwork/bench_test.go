package bgwork

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/lameduck/lameduck/config"
)

// batch is how many tasks one pool takes before it is stopped: the
// benchmarks measure create + submit + drain, per task.
const batch = 10_000

func noop(context.Context) error { return nil }

// BenchmarkGo measures Pool.Go plus the task's run and the pool's drain, per
// empty task, beside the plain stdlib way: goroutines and a sync.WaitGroup,
// with a channel semaphore for a limit. Compare with
//
//	benchstat -col /impl
func BenchmarkGo(b *testing.B) {
	ctx := context.Background()
	for _, limit := range []int{0, 8, 1000} {
		name := fmt.Sprintf("limit=%d", limit)
		b.Run(name+"/impl=bgwork", func(b *testing.B) {
			b.ReportAllocs()
			for left := b.N; left > 0; left -= batch {
				p, err := New(config.Tasks{MaxRunning: limit, WhenFull: config.Wait})
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
		b.Run(name+"/impl=goroutines", func(b *testing.B) {
			b.ReportAllocs()
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
