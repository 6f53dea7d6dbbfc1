package httpmodule

import (
	"net/http"
	"testing"
	"time"
)

const benchRequests = 64 // distinct requests cycled through by each goroutine

func benchRequestSet() []*http.Request {
	rs := make([]*http.Request, benchRequests)
	for i := range rs {
		rs[i], _ = http.NewRequest("GET", "/bench", nil)
	}
	return rs
}

// nopResponseWriter is a ResponseWriter that does nothing, so that the
// middleware benchmark measures the middleware.
type nopResponseWriter struct{ h http.Header }

func (w *nopResponseWriter) Header() http.Header         { return w.h }
func (w *nopResponseWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopResponseWriter) WriteHeader(int)             {}

// BenchmarkServerMiddleware is the whole per-request cost that a lameduck
// server adds in front of the handler (lame-duck check, request tracking
// under a mutex with time.Now, the deferred panic check), against calling
// the handler directly. BenchmarkServe and the load tools measure what
// that is worth end to end.
func BenchmarkServerMiddleware(b *testing.B) {
	handler := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	s := NewServer("bench", testServerConfig(), handler)
	run := &serverRun{s: s, requests: map[*http.Request]time.Time{}, conns: map[*conn]struct{}{}}
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
