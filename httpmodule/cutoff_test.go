package httpmodule

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
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
// reaches its deadline, not before and not at the force deadline: request
// contexts derive from the server's base context, which the stop cancels
// then. In fake time, over net.Pipe, "when" is exact.
func TestLongPollReturnsAtShutdownDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		entered := make(chan struct{})
		var returnedAt time.Time
		mux := http.NewServeMux()
		mux.HandleFunc("GET /poll", func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			<-r.Context().Done()
			returnedAt = time.Now()
			w.WriteHeader(http.StatusNoContent)
		})
		s, pn := startPipeServer(t, mux)
		const shutdown = 400 * time.Millisecond
		c, events := coordinator(t, testStop(shutdown), s)
		client := pn.client(t, false)

		got := make(chan int, 1)
		go func() {
			resp, err := client.Get("http://pipe/poll")
			if err != nil {
				got <- 0
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			got <- resp.StatusCode
		}()
		<-entered
		done := stopAsync(c)
		started := waitFor(t, events, lifecycle.PhaseStarted, lifecycle.Shutdown)
		if status := <-got; status != http.StatusNoContent {
			t.Fatalf("long-poll: status %d, want 204", status)
		}
		rep := <-done
		if !returnedAt.Equal(started.Deadline) {
			t.Errorf("long-poll returned %v after the shutdown deadline, want at it", returnedAt.Sub(started.Deadline))
		}
		if cut := rep.Stragglers(); len(cut) != 0 {
			t.Errorf("stragglers %v, want none: the long-poll returned", cut)
		}
	})
}

// Stop latency: with no preStop delay and one request that ends at t, the
// shutdown phase ends at t, not at the next tick of Shutdown's polling
// (which backs off to 500ms steps). In fake time, over net.Pipe, the lag is
// exactly zero; BenchmarkShutdownAfterLastRequest measures it on real
// sockets.
func TestShutdownEndsRightAfterLastRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		entered, release := make(chan struct{}), make(chan struct{})
		var endedAt time.Time
		mux := http.NewServeMux()
		mux.HandleFunc("GET /work", func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			<-release
			io.WriteString(w, "ok")
			endedAt = time.Now()
		})
		s, pn := startPipeServer(t, mux)
		c, events := coordinator(t, testStop(10*time.Second), s)
		client := pn.client(t, false)

		go func() {
			resp, err := client.Get("http://pipe/work")
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
		<-entered
		done := stopAsync(c)
		waitFor(t, events, lifecycle.PhaseStarted, lifecycle.Shutdown)
		time.Sleep(300 * time.Millisecond) // Shutdown's polling backs off meanwhile
		close(release)
		ended := waitFor(t, events, lifecycle.PhaseEnded, lifecycle.Shutdown)
		rep := <-done
		phaseEnd := rep.Start.Add(ended.PhaseReport.Start + ended.PhaseReport.Duration)
		if lag := phaseEnd.Sub(endedAt); lag != 0 {
			t.Errorf("shutdown phase ended %v after the last request; want at once (plain Shutdown: at its next poll, up to 500ms)", lag)
		}
		if !rep.Clean() {
			t.Errorf("stop not clean:\n%s", rep)
		}
	})
}
