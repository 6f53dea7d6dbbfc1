package kubernetes

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// podObject is the part of a Pod the suite reads.
type podObject struct {
	Metadata struct {
		Name              string            `json:"name"`
		Labels            map[string]string `json:"labels"`
		DeletionTimestamp *time.Time        `json:"deletionTimestamp"`
	} `json:"metadata"`
	Spec struct {
		NodeName string `json:"nodeName"`
	} `json:"spec"`
	Status struct {
		PodIP             string `json:"podIP"`
		ContainerStatuses []struct {
			Name         string         `json:"name"`
			Ready        bool           `json:"ready"`
			Image        string         `json:"image"`
			RestartCount int            `json:"restartCount"`
			State        containerState `json:"state"`
			LastState    containerState `json:"lastState"`
		} `json:"containerStatuses"`
	} `json:"status"`
}

type containerState struct {
	Running *struct {
		StartedAt time.Time `json:"startedAt"`
	} `json:"running"`
	Terminated *struct {
		ExitCode   int       `json:"exitCode"`
		Reason     string    `json:"reason"`
		StartedAt  time.Time `json:"startedAt"`
		FinishedAt time.Time `json:"finishedAt"`
	} `json:"terminated"`
}

// podRecord is what the suite saw of one pod, with the times at which the
// watch reported each change (the API's own timestamps have whole seconds).
type podRecord struct {
	Name, IP, Image, App string
	Node                 string
	Seen                 time.Time // first event
	Running              time.Time // container running
	Ready                time.Time // first Ready
	Deleted              time.Time // deletionTimestamp first seen
	Exited               time.Time // container terminated
	Gone                 time.Time // DELETED event
	ExitCode             int
	Reason               string
	Restarts             int
	LastExitCode         int // of the previous run, after a restart; -1 if none
	ready                bool
	logs                 *follower
}

// live reports whether the pod serves: it has been Ready and its container
// has not exited. A deleted pod serves until it exits.
func (p *podRecord) live() bool {
	return !p.Ready.IsZero() && p.Exited.IsZero() && p.IP != "" && (p.ready || !p.Deleted.IsZero())
}

// pods watches the pods of a namespace (kubectl get --watch), keeps a
// record of each, and follows the logs of each container from its start,
// so that a pod's log outlives the pod.
type pods struct {
	c      *cluster
	ns     string
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	recs    map[string]*podRecord
	changed chan struct{} // closed and replaced on every change
	err     error
}

func watchPods(t *testing.T, c *cluster, ns string) *pods {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &pods{c: c, ns: ns, cancel: cancel, done: make(chan struct{}), recs: map[string]*podRecord{}, changed: make(chan struct{})}
	cmd := exec.CommandContext(ctx, c.kubectl, "get", "pods", "-n", ns, "--watch", "--output-watch-events", "-o", "json")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		dec := json.NewDecoder(out)
		for {
			var ev struct {
				Type   string    `json:"type"`
				Object podObject `json:"object"`
			}
			if err := dec.Decode(&ev); err != nil {
				_, _ = io.Copy(io.Discard, out)
				werr := cmd.Wait()
				p.mu.Lock()
				if ctx.Err() == nil {
					p.err = fmt.Errorf("kubectl get pods --watch ended: %v, %v: %s", err, werr, stderr.String())
				}
				p.notify()
				p.mu.Unlock()
				return
			}
			p.update(ev.Type, ev.Object, time.Now())
		}
	}()
	t.Cleanup(p.close)
	return p
}

// close ends the watch and every log follower.
func (p *pods) close() {
	p.cancel()
	<-p.done
	p.mu.Lock()
	recs := p.recs
	p.mu.Unlock()
	for _, r := range recs {
		if r.logs != nil {
			r.logs.stop()
		}
	}
}

// poke tells the waiters that something changed (a log line arrived).
func (p *pods) poke() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.notify()
}

func (p *pods) notify() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *pods) update(typ string, o podObject, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.recs[o.Metadata.Name]
	if r == nil {
		r = &podRecord{Name: o.Metadata.Name, Seen: now, App: o.Metadata.Labels["app.kubernetes.io/name"], LastExitCode: -1}
		p.recs[r.Name] = r
	}
	if o.Spec.NodeName != "" {
		r.Node = o.Spec.NodeName
	}
	if o.Status.PodIP != "" {
		r.IP = o.Status.PodIP
	}
	if o.Metadata.DeletionTimestamp != nil && r.Deleted.IsZero() {
		r.Deleted = now
	}
	if typ == "DELETED" && r.Gone.IsZero() {
		r.Gone = now
	}
	for _, cs := range o.Status.ContainerStatuses {
		r.Image = cs.Image
		r.ready = cs.Ready
		r.Restarts = cs.RestartCount
		if cs.Ready && r.Ready.IsZero() {
			r.Ready = now
		}
		if (cs.State.Running != nil || cs.State.Terminated != nil) && r.Running.IsZero() {
			r.Running = now
		}
		if lt := cs.LastState.Terminated; lt != nil {
			r.LastExitCode = lt.ExitCode
		}
		if term := cs.State.Terminated; term != nil && r.Exited.IsZero() {
			r.Exited, r.ExitCode, r.Reason = now, term.ExitCode, term.Reason
		}
	}
	if r.logs == nil && !r.Running.IsZero() {
		r.logs = follow(p.c, p.ns, r.Name, p.poke)
	}
	p.notify()
}

// snapshot returns copies of the records, in the order the pods appeared.
func (p *pods) snapshot() []podRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]podRecord, 0, len(p.recs))
	for _, r := range p.recs {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seen.Before(out[j].Seen) })
	return out
}

// waitFor waits until cond holds for the records, or fails the test after
// timeout, saying what it waited for.
func (p *pods) waitFor(t *testing.T, what string, timeout time.Duration, cond func([]podRecord) bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		changed, err := p.changed, p.err
		p.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		recs := p.snapshot()
		if cond(recs) {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("after %v, still waiting for %s; pods:\n%s", timeout, what, describe(recs))
		}
	}
}

func describe(recs []podRecord) string {
	var b strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&b, "  %s %s ip=%s ready=%v deleted=%v exited=%v exit=%d gone=%v\n",
			r.Name, r.Image, r.IP, r.ready, !r.Deleted.IsZero(), !r.Exited.IsZero(), r.ExitCode, !r.Gone.IsZero())
	}
	return b.String()
}

// settled reports whether exactly n pods of app exist, all Ready, none
// deleted, all running image (if not empty), and every other pod of app is
// gone.
func settled(app string, n int, image string) func([]podRecord) bool {
	return func(recs []podRecord) bool {
		got := 0
		for _, r := range recs {
			if r.App != app || !r.Gone.IsZero() {
				continue
			}
			if !r.Deleted.IsZero() || !r.ready || (image != "" && !strings.HasSuffix(r.Image, image)) {
				return false
			}
			got++
		}
		return got == n
	}
}

// allGone reports whether every pod of app is gone and its log read to the
// end.
func allGone(app string) func([]podRecord) bool {
	return func(recs []podRecord) bool {
		for _, r := range recs {
			if r.App != app {
				continue
			}
			if r.Gone.IsZero() || (r.logs != nil && !r.logs.ended()) {
				return false
			}
		}
		return true
	}
}

// follower is `kubectl logs -f` of one pod, from its start.
type follower struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	lines  []string
}

func follow(c *cluster, ns, pod string, changed func()) *follower {
	ctx, cancel := context.WithCancel(context.Background())
	f := &follower{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer changed()
		defer close(f.done)
		// The container may not accept a log stream at once: retry a few
		// times, never after the pod is gone for good.
		for attempt := 0; attempt < 20 && ctx.Err() == nil; attempt++ {
			cmd := exec.CommandContext(ctx, c.kubectl, "logs", "-f", "-n", ns, pod)
			out, err := cmd.StdoutPipe()
			if err != nil {
				return
			}
			if cmd.Start() != nil {
				return
			}
			n := 0
			sc := bufio.NewScanner(out)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				n++
				f.mu.Lock()
				f.lines = append(f.lines, sc.Text())
				f.mu.Unlock()
				changed()
			}
			_, _ = io.Copy(io.Discard, out)
			if cmd.Wait() == nil || n > 0 {
				return
			}
			select {
			case <-time.After(250 * time.Millisecond): // the log is not there yet: ask again
			case <-ctx.Done():
			}
		}
	}()
	return f
}

func (f *follower) stop() {
	f.cancel()
	<-f.done
}

func (f *follower) ended() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// count counts the log lines that contain s.
func (f *follower) count(s string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, l := range f.lines {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

func (f *follower) text() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.lines, "\n")
}

// last returns the last log line that starts with prefix.
func (f *follower) last(prefix string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(f.lines[i], prefix) {
			return f.lines[i]
		}
	}
	return ""
}

// stopMarks reads a lameduck process's log (zap JSON, "ts" in Unix
// seconds): when its stop began (SIGTERM arrived) and when each phase
// ended. A naive replica logs none of these.
func (f *follower) stopMarks() []timelineEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []timelineEvent
	for _, l := range f.lines {
		if !strings.Contains(l, `"msg":"stop begins"`) && !strings.Contains(l, `"msg":"stop phase ended"`) {
			continue
		}
		var e struct {
			TS    float64 `json:"ts"`
			Msg   string  `json:"msg"`
			Phase string  `json:"phase"`
		}
		if json.Unmarshal([]byte(l), &e) != nil || e.TS == 0 {
			continue
		}
		what := "stop begins (SIGTERM)"
		if e.Phase != "" {
			what = e.Phase + " ended"
		}
		sec, frac := math.Modf(e.TS)
		out = append(out, timelineEvent{T: time.Unix(int64(sec), int64(frac*1e9)), What: what})
	}
	return out
}
