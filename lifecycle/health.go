package lifecycle

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ReadinessCheck is a named condition that must hold for the instance to
// receive traffic, for example "the database answers". /readyz runs every
// check on each probe.
type ReadinessCheck struct {
	// Name appears in /readyz?verbose output: "[+]db ok".
	Name string
	// Check returns nil when ready. ctx ends with the probe's request.
	Check func(ctx context.Context) error
}

// CheckTimeout bounds each readiness check run by /readyz.
const CheckTimeout = 2 * time.Second

// Health answers the Kubernetes probes. /livez is 200 until the process
// exits. /readyz is 503 until the application has started, 200 while it
// serves and every readiness check passes, and 503 from the moment the stop
// begins. Both accept ?verbose and then list each named check, in the style
// of the Kubernetes API server:
//
//	[+]ping ok
//	[-]shutdown failed: the stop has begun
//	readyz check failed
type Health struct {
	started  atomic.Bool
	stopping <-chan struct{}

	mu     sync.Mutex
	checks []ReadinessCheck
}

func newHealth(stopping <-chan struct{}) *Health {
	return &Health{stopping: stopping}
}

// MarkStarted opens the start-up gate: until it is called, /readyz answers
// 503. The Fx module calls it when the coordinator's OnStart hook runs, after
// every server and resource that registered a step has started.
func (h *Health) MarkStarted() { h.started.Store(true) }

// Started reports whether the start-up gate is open ([Health.MarkStarted]).
func (h *Health) Started() bool { return h.started.Load() }

// AddReadinessCheck adds checks that /readyz runs.
func (h *Health) AddReadinessCheck(checks ...ReadinessCheck) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks = append(h.checks, checks...)
}

// Stopping reports whether the stop has begun.
func (h *Health) Stopping() bool {
	select {
	case <-h.stopping:
		return true
	default:
		return false
	}
}

// CheckResult is the outcome of one readiness check.
type CheckResult struct {
	Name string
	// Err is nil when the check passed.
	Err error
}

// Ready runs the readiness checks and returns each result, built-in ones
// ("started", "shutdown") first, and whether all passed.
func (h *Health) Ready(ctx context.Context) ([]CheckResult, bool) {
	var results []CheckResult
	ok := true
	add := func(name string, err error) {
		results = append(results, CheckResult{Name: name, Err: err})
		ok = ok && err == nil
	}
	if h.started.Load() {
		add("started", nil)
	} else {
		add("started", fmt.Errorf("the application is starting"))
	}
	if h.Stopping() {
		add("shutdown", fmt.Errorf("the stop has begun"))
	} else {
		add("shutdown", nil)
	}
	h.mu.Lock()
	checks := h.checks
	h.mu.Unlock()
	for _, c := range checks {
		add(c.Name, runCheck(ctx, c))
	}
	return results, ok
}

func runCheck(ctx context.Context, c ReadinessCheck) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	return c.Check(ctx)
}

// Readyz returns the handler for /readyz.
func (h *Health) Readyz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		results, ok := h.Ready(r.Context())
		write(w, r, "readyz", results, ok)
	})
}

// Livez returns the handler for /livez: 200 as long as the process can
// answer.
func (h *Health) Livez() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		write(w, r, "livez", []CheckResult{{Name: "ping"}}, true)
	})
}

func write(w http.ResponseWriter, r *http.Request, probe string, results []CheckResult, ok bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	var b strings.Builder
	_, verbose := r.URL.Query()["verbose"]
	if verbose {
		for _, c := range results {
			if c.Err == nil {
				fmt.Fprintf(&b, "[+]%s ok\n", c.Name)
			} else {
				fmt.Fprintf(&b, "[-]%s failed: %v\n", c.Name, c.Err)
			}
		}
	}
	switch {
	case ok && verbose:
		fmt.Fprintf(&b, "%s check passed\n", probe)
	case ok:
		b.WriteString("ok\n")
	case verbose:
		fmt.Fprintf(&b, "%s check failed\n", probe)
	default:
		for _, c := range results {
			if c.Err != nil {
				fmt.Fprintf(&b, "[-]%s failed: %v\n", c.Name, c.Err)
			}
		}
		fmt.Fprintf(&b, "%s check failed\n", probe)
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(b.String()))
	}
}
