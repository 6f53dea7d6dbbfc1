package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/lameduck/lameduck/bgwork"
	"github.com/lameduck/lameduck/httpmodule"
)

// Limits of the query parameters, so that one request cannot tie the
// service up.
const (
	maxDuration = time.Minute
	maxJobs     = 100
)

// slowRoute answers GET /slow?d=2s after d. It honours its context: when the
// stop's shutdown phase reaches its deadline (or the client goes away) it
// answers 503 at once instead of holding the server up.
func slowRoute() httpmodule.Route {
	return httpmodule.Route{Pattern: "GET /slow", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, err := durationParam(r, "d", 2*time.Second)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-timer.C:
			fmt.Fprintf(w, "slept %v\n", d)
		case <-r.Context().Done():
			w.Header().Set("Retry-After", "1")
			http.Error(w, "stopped before the end: "+context.Cause(r.Context()).Error(), http.StatusServiceUnavailable)
		}
	})}
}

// jobSeq numbers the jobs, so that each task has a name of its own in the
// logs and, if the stop has to cut it off, in the stop report.
var jobSeq atomic.Uint64

// jobsRoute answers POST /jobs?d=1s&n=1 with 202 and runs n background tasks
// of duration d on the task pool. They outlive the request; the stop waits
// for them after the servers and hubs are done.
func jobsRoute(pool *bgwork.Pool, log *zap.Logger) httpmodule.Route {
	return httpmodule.Route{Pattern: "POST /jobs", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, err := durationParam(r, "d", time.Second)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		n, err := countParam(r, "n", 1, maxJobs)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var started []string
		for range n {
			name := fmt.Sprintf("job-%d", jobSeq.Add(1))
			err = pool.Go(r.Context(), name, func(ctx context.Context) error {
				return sleepJob(ctx, log, name, d)
			})
			if err != nil { // the stop has begun, the pool is full, or the client left
				break
			}
			started = append(started, name)
		}
		if len(started) == 0 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		for _, name := range started {
			fmt.Fprintln(w, name)
		}
		if err != nil {
			fmt.Fprintf(w, "only %d of %d started: %v\n", len(started), n, err)
		}
	})}
}

// sleepJob stands for real background work: it takes d, or stops early
// when the pool cancels it at the wait phase's deadline.
func sleepJob(ctx context.Context, log *zap.Logger, name string, d time.Duration) error {
	start := time.Now()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		log.Info("job done", zap.String("job", name), zap.Duration("took", time.Since(start)))
		return nil
	case <-ctx.Done():
		return context.Cause(ctx) // the pool logs it with the job's name
	}
}

// durationParam parses the query parameter key as a duration from 0 to
// maxDuration, or returns def when it is absent.
func durationParam(r *http.Request, key string, def time.Duration) (time.Duration, error) {
	s := r.URL.Query().Get(key)
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > maxDuration {
		return 0, fmt.Errorf("%s: want a duration from 0 to %v, such as 2s or 500ms", key, maxDuration)
	}
	return d, nil
}

// countParam parses the query parameter key as an integer from 1 to limit, or
// returns def when it is absent.
func countParam(r *http.Request, key string, def, limit int) (int, error) {
	s := r.URL.Query().Get(key)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > limit {
		return 0, fmt.Errorf("%s: want an integer from 1 to %d", key, limit)
	}
	return n, nil
}
