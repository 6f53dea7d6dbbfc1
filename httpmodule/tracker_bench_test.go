package httpmodule

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
)

// The request-tracking benchmarks compare, per request (enter + exit):
//   - lameduck: the slot tracker, which can name every request in flight;
//   - mutex-map: a mutex-guarded map, which can name them too;
//   - atomic-counter: one shared counter, which can only count them.
// All of them stamp the request with the same coarse clock where they
// record a start, so that the comparison is of the data structures.

const benchRequests = 64 // distinct requests cycled through by each goroutine

func benchRequestSet() []*http.Request {
	rs := make([]*http.Request, benchRequests)
	for i := range rs {
		rs[i], _ = http.NewRequest("GET", "/bench", nil)
	}
	return rs
}

type trackImpl interface {
	enter(*http.Request) int
	exit(int, *http.Request)
}

type mutexMapTracker struct {
	clock *coarseClock
	mu    sync.Mutex
	m     map[*http.Request]int64
}

func (t *mutexMapTracker) enter(r *http.Request) int {
	st := t.clock.coarse()
	t.mu.Lock()
	t.m[r] = st
	t.mu.Unlock()
	return 0
}

func (t *mutexMapTracker) exit(_ int, r *http.Request) {
	t.mu.Lock()
	delete(t.m, r)
	t.mu.Unlock()
}

type counterTracker struct{ n atomic.Int64 }

func (t *counterTracker) enter(*http.Request) int { t.n.Add(1); return 0 }
func (t *counterTracker) exit(int, *http.Request) { t.n.Add(-1) }

func trackImpls() []struct {
	name string
	new  func(*coarseClock) trackImpl
} {
	return []struct {
		name string
		new  func(*coarseClock) trackImpl
	}{
		{"impl=lameduck", func(c *coarseClock) trackImpl { return newTracker(c, make(chan struct{}, 1)) }},
		{"impl=mutex-map", func(c *coarseClock) trackImpl { return &mutexMapTracker{clock: c, m: map[*http.Request]int64{}} }},
		{"impl=atomic-counter", func(*coarseClock) trackImpl { return &counterTracker{} }},
	}
}

func BenchmarkTrackSerial(b *testing.B) {
	for _, impl := range trackImpls() {
		b.Run(impl.name, func(b *testing.B) {
			clock := newCoarseClock()
			clock.start()
			defer clock.stop()
			t := impl.new(clock)
			rs := benchRequestSet()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r := rs[i%benchRequests]
				t.exit(t.enter(r), r)
				i++
			}
		})
	}
}

func BenchmarkTrackParallel(b *testing.B) {
	for _, impl := range trackImpls() {
		b.Run(impl.name, func(b *testing.B) {
			clock := newCoarseClock()
			clock.start()
			defer clock.stop()
			t := impl.new(clock)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				rs := benchRequestSet()
				i := 0
				for pb.Next() {
					r := rs[i%benchRequests]
					t.exit(t.enter(r), r)
					i++
				}
			})
		})
	}
}

// nopResponseWriter is a ResponseWriter that does nothing, so that the
// middleware benchmark measures the middleware.
type nopResponseWriter struct{ h http.Header }

func (w *nopResponseWriter) Header() http.Header         { return w.h }
func (w *nopResponseWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopResponseWriter) WriteHeader(int)             {}

// BenchmarkServerMiddleware is the whole per-request cost that a lameduck
// server adds in front of the handler (lame-duck check, tracking, defer),
// against calling the handler directly.
func BenchmarkServerMiddleware(b *testing.B) {
	handler := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	processClock.start()
	defer processClock.stop()
	s := NewServer("bench", testServerConfig(), handler)
	run := &serverRun{s: s, tracker: newTracker(processClock, make(chan struct{}, 1))}
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{{"impl=lameduck", run}, {"impl=bare", handler}} {
		b.Run("serial/"+tc.name, func(b *testing.B) {
			rs := benchRequestSet()
			w := &nopResponseWriter{h: http.Header{}}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				tc.h.ServeHTTP(w, rs[i%benchRequests])
				i++
			}
		})
		b.Run("parallel/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				rs := benchRequestSet()
				w := &nopResponseWriter{h: http.Header{}}
				i := 0
				for pb.Next() {
					tc.h.ServeHTTP(w, rs[i%benchRequests])
					i++
				}
			})
		})
	}
}
