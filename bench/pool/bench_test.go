package pool

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// spin is a CPU-bound task of about a microsecond (BenchmarkSpin measures
// it on the machine at hand).
func spin() {
	x := uint64(1)
	for range spinRounds {
		x = x*6364136223846793005 + 1442695040888963407
	}
	spinSink = x
}

const spinRounds = 800

var spinSink uint64

func sleep1ms() { time.Sleep(time.Millisecond) }

func empty() {}

// benchLibraries runs b.N tasks per library, in batches: each batch creates
// a pool, submits its tasks and waits for them, so ns/op is the cost of one
// task including its share of the pool's set-up and drain. cpu-ns/op is the
// CPU time the process used per task, on all cores (see processCPU).
func benchLibraries(b *testing.B, limit, batch int, work func()) {
	for _, lib := range libraries {
		b.Run("lib="+lib.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0, ok := processCPU()
			for left := b.N; left > 0; left -= batch {
				lib.run(limit, min(left, batch), work)
			}
			if cpu1, _ := processCPU(); ok {
				b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
			}
		})
	}
}

// BenchmarkEmpty is workload (a): 100,000 empty tasks submitted, then
// drained, with no limit and with limits of 8 and 1000.
func BenchmarkEmpty(b *testing.B) {
	for _, limit := range []int{0, 8, 1000} {
		b.Run(fmt.Sprintf("limit=%d", limit), func(b *testing.B) { benchLibraries(b, limit, 100_000, empty) })
	}
}

// BenchmarkSleep is workload (b): 10,000 tasks that sleep 1ms, at most 100
// at once.
func BenchmarkSleep(b *testing.B) {
	b.Run("limit=100", func(b *testing.B) { benchLibraries(b, 100, 10_000, sleep1ms) })
}

// BenchmarkCPU is workload (c): 10,000 CPU-bound tasks of about 1µs, at most
// GOMAXPROCS at once.
func BenchmarkCPU(b *testing.B) {
	b.Run("limit=GOMAXPROCS", func(b *testing.B) { benchLibraries(b, runtime.GOMAXPROCS(0), 10_000, spin) })
}

// BenchmarkSpin measures the CPU task alone.
func BenchmarkSpin(b *testing.B) {
	for range b.N {
		spin()
	}
}

// BenchmarkDrainDeadline submits 10,000 tasks, 10 of which ignore
// cancellation and never return, then stops with a 100ms deadline. It
// reports the time the stop takes to return (ms-to-return) and how many of
// the hung tasks the library can count and name afterwards. Submitting is
// not timed.
func BenchmarkDrainDeadline(b *testing.B) {
	const n, deadline = 10_000, 100 * time.Millisecond
	hangs := func(i int) bool { return i%(n/10) == n/20 }
	for _, lib := range libraries {
		if lib.stopWithin == nil {
			continue
		}
		b.Run("lib="+lib.name, func(b *testing.B) {
			var took time.Duration
			var counted, named int
			for range b.N {
				release := make(chan struct{})
				start := time.Now()
				c, nm, wait := lib.stopWithin(drain{n: n, hangs: hangs, release: release, deadline: deadline})
				took += time.Since(start)
				counted, named = c, nm
				b.StopTimer()
				close(release)
				wait()
				b.StartTimer()
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(took.Microseconds())/1000/float64(b.N), "ms-submit+stop")
			b.ReportMetric(float64(counted), "hung-counted")
			b.ReportMetric(float64(named), "hung-named")
		})
	}
}
