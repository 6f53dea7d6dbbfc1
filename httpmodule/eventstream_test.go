package httpmodule

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lameduck/lameduck/lifecycle"
)

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Draining is closed when the shutdown begins, not at readiness off (the
// lame-duck window, when the server still gets new requests), and is nil
// for a context that no Server made.
func TestDrainingClosesAtShutdownNotAtReadinessOff(t *testing.T) {
	if Draining(context.Background()) != nil {
		t.Error("Draining of a plain context is not nil")
	}
	got := make(chan (<-chan struct{}), 1)
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /watch", func(w http.ResponseWriter, r *http.Request) {
		got <- Draining(r.Context())
		<-release
	})
	s := startServer(t, testServerConfig(), mux)
	errs := make(chan error, 1)
	go func() {
		resp, err := h1Client(t).Get(url(s, "/watch"))
		if err == nil {
			resp.Body.Close()
		}
		errs <- err
	}()
	drain := recv(t, got, "the request")
	s.EnterLameDuck() // what readiness off does
	if isClosed(drain) {
		t.Error("Draining closed at readiness off")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- s.Shutdown(context.Background()) }()
	recv(t, drain, "Draining to close at shutdown")
	close(release)
	if err := recv(t, errs, "the response"); err != nil {
		t.Error(err)
	}
	if err := recv(t, stopped, "Shutdown"); err != nil {
		t.Error(err)
	}
}

// sseRoute serves an event stream that sends an event for each value
// received from publish, and ends with a "bye" event when the drain
// begins. With ignoreDrain set it is the naive stream that waits only for
// its context.
func sseRoute(publish <-chan string, opened chan<- struct{}, ignoreDrain bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		es, err := NewEventStream(w, r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		opened <- struct{}{}
		ending := es.Ending()
		if ignoreDrain {
			ending = nil
		}
		for {
			select {
			case id := <-publish:
				if err := es.Send(Event{ID: id, Data: "event " + id + "\nsecond line"}); err != nil {
					return
				}
			case <-ending:
				es.End(Event{Event: "bye", Data: "server draining"})
				return
			case <-r.Context().Done():
				return
			}
		}
	}
}

// parseSSE reads the events of a text/event-stream until EOF.
func parseSSE(r io.Reader) (events []Event, err error) {
	sc := bufio.NewScanner(r)
	var ev Event
	var data []string
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			ev.Data = strings.Join(data, "\n")
			events = append(events, ev)
			ev, data = Event{}, nil
			continue
		}
		field, value, _ := strings.Cut(line, ": ")
		switch field {
		case "id":
			ev.ID = value
		case "event":
			ev.Event = value
		case "data":
			data = append(data, value)
		case "retry":
			var ms int
			fmt.Sscan(value, &ms)
			ev.Retry = time.Duration(ms) * time.Millisecond
		}
	}
	return events, sc.Err()
}

// curl -N reads an event stream through the drain: every event published
// arrives, once and in order, then the last event with its retry hint,
// and curl sees the response end cleanly (exit 0); the stop is clean. The
// naive stream that ignores the drain is cut at the phase deadline and
// named in the report, which shows the test can see a cut stream.
func TestCurlEventStreamEndsCleanlyAtDrain(t *testing.T) {
	curl := curlPath(t)
	for _, naive := range []bool{false, true} {
		t.Run(fmt.Sprint("naive=", naive), func(t *testing.T) {
			publish, opened := make(chan string), make(chan struct{}, 1)
			mux := http.NewServeMux()
			mux.Handle("GET /events", sseRoute(publish, opened, naive))
			s := startServer(t, testServerConfig(), mux)
			stop := testStop(10 * time.Second)
			if naive {
				stop = testStop(time.Second)
			}
			c, _ := coordinator(t, stop, s)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, curl, "-N", "--silent", "--show-error", url(s, "/events"))
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			parsed := make(chan []Event, 1)
			go func() {
				evs, _ := parseSSE(stdout)
				parsed <- evs
			}()
			recv(t, opened, "the stream to open")
			const n = 50
			for i := range n {
				publish <- fmt.Sprint(i) // the handler has taken it
			}
			rep := recv(t, stopAsync(c), "the stop")
			evs := recv(t, parsed, "curl's output")
			werr := cmd.Wait()
			if naive {
				if rep.Clean() || !strings.Contains(rep.String(), "GET /events") || !strings.Contains(rep.String(), "cancelled the context of 1 request") {
					t.Errorf("the naive stream was cut; want a report that says so and names GET /events:\n%s", rep)
				}
				return
			}
			if werr != nil {
				t.Errorf("curl: %v (%s): the stream did not end cleanly", werr, stderr.String())
			}
			if len(evs) != n+1 {
				t.Fatalf("curl got %d events, want %d and the last: %+v", len(evs), n, evs)
			}
			for i, ev := range evs[:n] {
				if want := fmt.Sprint(i); ev.ID != want || ev.Data != "event "+want+"\nsecond line" {
					t.Errorf("event %d: %+v, want id %s", i, ev, want)
				}
			}
			if last := evs[n]; last.Event != "bye" || last.Retry != DefaultRetry {
				t.Errorf("last event %+v, want bye with retry %v", last, DefaultRetry)
			}
			if !rep.Clean() {
				t.Errorf("stop not clean:\n%s", rep)
			}
		})
	}
}

// The ends of event streams are spread over streamCloseSpread with
// jitter, within the window and not all at once, and every stream still
// ends in the phase. In fake time, so the window is exact.
func TestEventStreamsEndSpreadOverWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const streams = 20
		const spread = 2 * time.Second
		publish, opened := make(chan string), make(chan struct{}, streams)
		mux := http.NewServeMux()
		mux.Handle("GET /events", sseRoute(publish, opened, false))
		s, pn := startPipeServer(t, mux)
		s.cfg.StreamCloseSpread = spread
		c, events := coordinator(t, testStop(10*time.Second), s)
		var mu sync.Mutex
		var ends []time.Time
		var wg sync.WaitGroup
		for range streams {
			wg.Go(func() {
				resp, err := pn.client(t, false).Get("http://pipe/events")
				if err != nil {
					t.Error(err)
					return
				}
				evs, err := parseSSE(resp.Body)
				resp.Body.Close()
				mu.Lock()
				ends = append(ends, time.Now())
				mu.Unlock()
				if err != nil || len(evs) != 1 || evs[0].Event != "bye" {
					t.Errorf("stream: %+v, %v; want the bye event alone", evs, err)
				}
			})
		}
		for range streams {
			<-opened
		}
		done := stopAsync(c)
		start := waitFor(t, events, lifecycle.PhaseStarted, lifecycle.Shutdown).Time
		wg.Wait()
		rep := <-done
		if !rep.Clean() {
			t.Errorf("stop not clean:\n%s", rep)
		}
		distinct := map[time.Time]bool{}
		for _, e := range ends {
			distinct[e] = true
			if d := e.Sub(start); d < 0 || d >= spread {
				t.Errorf("a stream ended %v into the shutdown, want within the %v spread", d, spread)
			}
		}
		if len(distinct) < streams/2 {
			t.Errorf("the %d streams ended at %d distinct instants, want them spread", streams, len(distinct))
		}
	})
}
