package bgwork

import (
	"context"
	"sync"
	"testing"

	"github.com/lameduck/lameduck/config"
)

// batch is how many tasks one pool takes before it is stopped: the
// benchmarks measure create + submit + drain, per task.
const batch = 10_000

func noop(context.Context) error { return nil }

// BenchmarkGo measures Pool.Go plus the task's run and the pool's drain, per
// task, for an empty task, beside plain goroutines and a sync.WaitGroup.
func BenchmarkGo(b *testing.B) {
	ctx := context.Background()
	for _, bc := range []struct {
		name  string
		limit int
	}{{"unbounded", 0}, {"limit=8", 8}, {"limit=1000", 1000}} {
		b.Run("bgwork/"+bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for left := b.N; left > 0; left -= batch {
				p, err := New(config.Tasks{MaxRunning: bc.limit, WhenFull: config.Wait})
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
	b.Run("goroutines+WaitGroup", func(b *testing.B) {
		b.ReportAllocs()
		for left := b.N; left > 0; left -= batch {
			var wg sync.WaitGroup
			for range min(left, batch) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_ = noop(ctx)
				}()
			}
			wg.Wait()
		}
	})
}
