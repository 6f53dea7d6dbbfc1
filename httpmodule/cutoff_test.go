package httpmodule

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lameduck/lameduck/lifecycle"
)

// A handler that ignores its context is cut off at the force deadline and
// named in the stop report with its server, method, route pattern and age.
func TestHandlerIgnoringContextIsCutAndNamed(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	handlerDone := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stuck/{id}", func(w http.ResponseWriter, r *http.Request) {
		defer close(handlerDone)
		close(entered)
		<-release // ignores r.Context()
	})
	s := startServer(t, testServerConfig(), mux)
	const shutdown = 300 * time.Millisecond
	c, _ := coordinator(t, testStop(shutdown), s)
	client := h1Client(t)

	clientErr := make(chan error, 1)
	go func() {
		resp, err := client.Get(url(s, "/stuck/42"))
		if err == nil {
			resp.Body.Close()
		}
		clientErr <- err
	}()
	<-entered
	rep := <-stopAsync(c)
	close(release)
	<-handlerDone
	if err := <-clientErr; err == nil {
		t.Error("the client of the cut request got a response; want an error (connection closed)")
	}

	sh, _ := rep.Phase(lifecycle.Shutdown)
	if sh.Outcome != lifecycle.PhaseForced {
		t.Errorf("shutdown phase outcome %s, want forced", sh.Outcome)
	}
	cut := rep.Stragglers()
	if len(cut) != 1 {
		t.Fatalf("stragglers %v, want the one stuck request\n%s", cut, rep)
	}
	st := cut[0]
	if st.Kind != "request" || st.Name != "GET /stuck/{id}" || !strings.Contains(st.Detail, "server public") ||
		!strings.Contains(st.Detail, "/stuck/42") || st.Age < shutdown-10*time.Millisecond {
		t.Errorf("straggler %+v, want request GET /stuck/{id} on server public, aged at least %v", st, shutdown)
	}
	if rep.Clean() {
		t.Error("report says clean although a request was cut")
	}
}

// A long-poll that honours its context returns when the shutdown phase
// reaches its deadline: request contexts derive from the server's base
// context, which the stop cancels then.
func TestLongPollReturnsAtShutdownDeadline(t *testing.T) {
	entered := make(chan struct{})
	var returnedAt time.Time
	mux := http.NewServeMux()
	mux.HandleFunc("GET /poll", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
		returnedAt = time.Now()
		w.WriteHeader(http.StatusNoContent)
	})
	s := startServer(t, testServerConfig(), mux)
	const shutdown = 400 * time.Millisecond
	c, events := coordinator(t, testStop(shutdown), s)
	client := h1Client(t)

	type result struct {
		status int
		err    error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := client.Get(url(s, "/poll"))
		if err != nil {
			got <- result{err: err}
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		got <- result{status: resp.StatusCode}
	}()
	<-entered
	done := stopAsync(c)
	started := waitFor(t, events, lifecycle.PhaseStarted, lifecycle.Shutdown)
	r := <-got
	rep := <-done
	if r.err != nil || r.status != http.StatusNoContent {
		t.Fatalf("long-poll: status %d err %v, want 204", r.status, r.err)
	}
	// The deadline is the phase's; the handler must return at it, not
	// before and not at the force deadline.
	if early := started.Deadline.Sub(returnedAt); early > 0 {
		t.Errorf("long-poll returned %v before the shutdown deadline", early)
	}
	if late := returnedAt.Sub(started.Deadline); late > 100*time.Millisecond {
		t.Errorf("long-poll returned %v after the shutdown deadline", late)
	}
	if cut := rep.Stragglers(); len(cut) != 0 {
		t.Errorf("stragglers %v, want none: the long-poll returned", cut)
	}
}

// Stop latency: with no preStop delay and one request that ends at t, the
// shutdown phase ends right after t, not at the next tick of Shutdown's
// polling (which would be up to 500ms later). The bound here is generous
// for a loaded machine; BenchmarkShutdownAfterLastRequest measures it.
func TestShutdownEndsRightAfterLastRequest(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var endedAt time.Time
	mux := http.NewServeMux()
	mux.HandleFunc("GET /work", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "ok")
		endedAt = time.Now()
	})
	s := startServer(t, testServerConfig(), mux)
	c, events := coordinator(t, testStop(10*time.Second), s)
	client := h1Client(t)

	go func() {
		resp, err := client.Get(url(s, "/work"))
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	<-entered
	done := stopAsync(c)
	waitFor(t, events, lifecycle.PhaseStarted, lifecycle.Shutdown)
	// Let Shutdown's polling back off to its 500ms steps first.
	time.AfterFunc(300*time.Millisecond, func() { close(release) })
	ended := waitFor(t, events, lifecycle.PhaseEnded, lifecycle.Shutdown)
	rep := <-done
	phaseEnd := rep.Start.Add(ended.PhaseReport.Start + ended.PhaseReport.Duration)
	if lag := phaseEnd.Sub(endedAt); lag > 100*time.Millisecond || lag < 0 {
		t.Errorf("shutdown phase ended %v after the last request; want within 100ms (plain Shutdown: up to 500ms)", lag)
	}
	if !rep.Clean() {
		t.Errorf("stop not clean:\n%s", rep)
	}
}

var _ = context.Background
