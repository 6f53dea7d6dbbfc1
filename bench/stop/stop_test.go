package stop

import (
	"flag"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

var (
	requests    = flag.Int("requests", 100, "GET /slow requests in flight at the stop")
	requestTime = flag.Duration("request-time", time.Second, "duration of each request")
	clients     = flag.Int("clients", 1000, "WebSocket clients connected at the stop")
	tasks       = flag.Int("tasks", 500, "background jobs running at the stop")
	taskTime    = flag.Duration("task-time", 500*time.Millisecond, "duration of each job")
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) {
		if binaries.dir != "" {
			_ = os.RemoveAll(binaries.dir)
		}
	}))
}

// reportedPhases are the parts of the stop that both programs log, reported
// as PHASE-ms: the shutdown of the servers, the drain of the hub, the wait
// for the jobs, and from the end of the stop to the process's exit.
var reportedPhases = []string{"shutdown", "hub-drain", "wait", "exit"}

// BenchmarkWholeStop measures, for the starter (lameduck) and the naive app,
// the time from SIGTERM to the process's exit, with the work of the flags
// in flight, and how much of it was spent beyond the longest piece of work
// (overhead-ms). One op is one stop of a freshly started process.
func BenchmarkWholeStop(b *testing.B) {
	s := shape{*requests, *requestTime, *clients, *tasks, *taskTime}
	for _, app := range []string{"lameduck", "naive"} {
		b.Run(s.String()+"/app="+app, func(b *testing.B) {
			bin, err := binary(map[string]string{"lameduck": "starter", "naive": "naiveapp"}[app])
			if err != nil {
				b.Fatal(err)
			}
			var stop, work, over time.Duration
			phases := map[string]time.Duration{}
			for range b.N {
				r, err := measureStop(bin, s)
				if err != nil {
					b.Fatal(err)
				}
				stop += r.stop
				work += r.work
				over += r.overhead()
				for _, p := range reportedPhases {
					phases[p] += r.phases[p]
				}
			}
			n := float64(b.N)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(ms(stop)/n, "stop-ms")
			b.ReportMetric(ms(work)/n, "work-ms")
			b.ReportMetric(ms(over)/n, "overhead-ms")
			for _, p := range reportedPhases {
				b.ReportMetric(ms(phases[p])/n, p+"-ms")
			}
		})
	}
}

// TestWholeStopLosesNothing runs one small stop of each program and checks
// that the harness sees every piece of work end and the stop end after it.
func TestWholeStopLosesNothing(t *testing.T) {
	s := shape{requests: 10, requestTime: 300 * time.Millisecond, clients: 20, tasks: 30, taskTime: 200 * time.Millisecond}
	for _, name := range []string{"starter", "naiveapp"} {
		bin, err := binary(name)
		if err != nil {
			t.Fatal(err)
		}
		r, err := measureStop(bin, s)
		if err != nil {
			t.Fatal(err)
		}
		if r.work <= 0 || r.stop < r.work || r.stop > 30*time.Second {
			t.Errorf("%s: stop %v, work %v: want 0 < work <= stop < 30s", name, r.stop, r.work)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
