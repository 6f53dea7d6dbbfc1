package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// sseClient is one event-stream client: curl -N, started again after each
// stream ends with the Last-Event-ID of the last event it got, after the
// retry hint the server sent, as an EventSource does. It checks that the
// ticks it gets are consecutive across every reconnection: none missed,
// none twice.
type sseClient struct {
	url string

	events    int64 // events received
	gaps      int64 // events missing between two received
	repeats   int64 // events received again
	mismatch  int64 // events whose data is not their id's
	streams   int   // streams that delivered events
	byes      int   // streams that ended with the "bye" event and a clean end
	cut       int   // streams that ended otherwise
	refused   int   // connections that got no stream (HTTP error, refused)
	last      int64 // the last event's ID
	firstErrs []string
}

func (c *sseClient) note(format string, args ...any) {
	if len(c.firstErrs) < 3 {
		c.firstErrs = append(c.firstErrs, fmt.Sprintf(format, args...))
	}
}

// run connects again and again until ctx is done; the stream that ctx
// cuts is not counted.
func (c *sseClient) run(ctx context.Context) {
	retry := 100 * time.Millisecond
	for ctx.Err() == nil {
		args := []string{"-N", "--silent", "--show-error", "--fail", "--max-time", "300", c.url}
		if c.last > 0 {
			args = append(args, "-H", "Last-Event-ID: "+strconv.FormatInt(c.last, 10))
		}
		cmd := exec.CommandContext(ctx, "curl", args...)
		out, err := cmd.StdoutPipe()
		if err != nil {
			c.note("curl: %v", err)
			return
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			c.note("curl: %v", err)
			return
		}
		got, bye := 0, false
		var id int64
		var data, event string
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			field, value, _ := strings.Cut(sc.Text(), ": ")
			switch field {
			case "id":
				id, _ = strconv.ParseInt(value, 10, 64)
			case "data":
				data = value
			case "event":
				event = value
			case "retry":
				if ms, err := strconv.Atoi(value); err == nil {
					retry = time.Duration(ms) * time.Millisecond
				}
			case "": // the end of an event
				switch {
				case event == "bye":
					bye = true
				case id > 0:
					got++
					c.events++
					switch {
					case c.last > 0 && id > c.last+1:
						c.gaps += id - c.last - 1
						c.note("gap: %d after %d", id, c.last)
					case c.last > 0 && id <= c.last:
						c.repeats++
						c.note("repeat: %d after %d", id, c.last)
					}
					if data != "tick "+strconv.FormatInt(id, 10) {
						c.mismatch++
					}
					c.last = id
				}
				id, data, event = 0, "", ""
			}
		}
		err = cmd.Wait()
		if ctx.Err() != nil {
			return // cut by the test's end
		}
		switch {
		case got == 0 && !bye:
			c.refused++
			c.note("no stream: %v %s", err, strings.TrimSpace(stderr.String()))
		case bye && err == nil:
			c.streams++
			c.byes++
		default:
			c.streams++
			c.cut++
			var ee *exec.ExitError
			if errors.As(err, &ee) || err != nil {
				c.note("stream cut after %d events: %v %s", got, err, strings.TrimSpace(stderr.String()))
			} else {
				c.note("stream ended after %d events without the last event", got)
			}
		}
		t := time.NewTimer(retry) // the reconnection delay the server asked for
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
}

// sseRun is the outcome of one rolling restart under event streams.
type sseRun struct {
	clients  []*sseClient
	restarts int
	maxStop  time.Duration
}

func (r sseRun) sum(f func(*sseClient) int64) int64 {
	var n int64
	for _, c := range r.clients {
		n += f(c)
	}
	return n
}

func (r sseRun) failures() int64 {
	return r.sum(func(c *sseClient) int64 { return c.gaps + c.repeats + c.mismatch + int64(c.cut+c.refused) })
}

func (r sseRun) notes() string {
	return fmt.Sprintf("%d clients, %d streams: %d ended with the last event, %d cut; %d reconnections got no stream; %d events missed, %d twice",
		len(r.clients), r.sum(func(c *sseClient) int64 { return int64(c.streams) }), r.sum(func(c *sseClient) int64 { return int64(c.byes) }),
		r.sum(func(c *sseClient) int64 { return int64(c.cut) }), r.sum(func(c *sseClient) int64 { return int64(c.refused) }),
		r.sum(func(c *sseClient) int64 { return c.gaps }), r.sum(func(c *sseClient) int64 { return c.repeats }))
}

// sseRollingRestart runs 3 replicas of kind k behind HAProxy (HTTP mode,
// no retries), n curl clients on /events throughout, and restarts the
// replicas one at a time.
func sseRollingRestart(t *testing.T, k kind, n int, d time.Duration) sseRun {
	t.Helper()
	f := startFleet(t, k, 3, lbOptions{}, "LAMEDUCK_SERVERS_PUBLIC_STREAM_CLOSE_SPREAD=300ms")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	run := sseRun{}
	for range n {
		c := &sseClient{url: "http://" + f.lb.Addr + "/events"}
		run.clients = append(run.clients, c)
		wg.Go(func() { c.run(ctx) })
	}
	until := make(chan struct{})
	timer := time.AfterFunc(d, func() { close(until) })
	defer timer.Stop()
	run.restarts = f.roll(t, until, restartCadence, len(f.replicas))
	cancel()
	wg.Wait()
	run.maxStop = f.maxStop()
	t.Logf("%s replicas: %d restarts, %d events; %s", k.Name, run.restarts, run.sum(func(c *sseClient) int64 { return c.events }), run.notes())
	for _, c := range run.clients {
		for _, e := range c.firstErrs {
			t.Logf("  client: %s", e)
		}
	}
	return run
}

// Scenario 9: Server-Sent Events through a rolling restart. Each client
// is curl -N, reconnecting with Last-Event-ID after each stream ends, as an
// EventSource does. With lameduck replicas every stream of a stopping
// replica ends with its last event and a retry hint at the drain (spread
// over 300ms), the client resumes on another replica, and no tick is missed
// or received twice; the naive replicas' streams are cut when the process
// exits at the end of its Shutdown's 10s.
func TestRollingRestartEventStreams(t *testing.T) {
	suite(t, "haproxy", "curl")
	b := bins(t)
	const scenario = "9. rolling restart, Server-Sent Events (curl -N, reconnecting with Last-Event-ID)"
	clients := max(4, int(10*scale()))
	d := scaled(15*time.Second, 5*time.Second)
	t.Run("lameduck", func(t *testing.T) {
		r := sseRollingRestart(t, lameduckKind(b), clients, d)
		if f := r.failures(); f != 0 {
			t.Errorf("lameduck replicas: %d failures, want 0: %s", f, r.notes())
		}
		if r.sum(func(c *sseClient) int64 { return int64(c.byes) }) == 0 || r.restarts < 3 {
			t.Errorf("not a test: no stream ended at a drain in %d restarts: %s", r.restarts, r.notes())
		}
		record(t, row{Scenario: scenario, Replica: "lameduck", Requests: r.sum(func(c *sseClient) int64 { return c.events }), Unit: "events",
			Failures: r.failures(), Restarts: r.restarts, MaxStop: r.maxStop, Notes: r.notes()})
	})
	t.Run("naive", func(t *testing.T) {
		r := sseRollingRestart(t, naiveKind(b), clients, d)
		if r.failures() == 0 {
			t.Errorf("naive replicas: no stream cut in %d restarts: the suite should see the cut streams of a plain Shutdown", r.restarts)
		}
		record(t, row{Scenario: scenario, Replica: "naive", Requests: r.sum(func(c *sseClient) int64 { return c.events }), Unit: "events",
			Failures: r.failures(), Restarts: r.restarts, MaxStop: r.maxStop, Notes: r.notes()})
	})
}
