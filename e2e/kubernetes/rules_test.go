package kubernetes

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// rules watches kube-proxy's iptables rules on this node: for each pod IP,
// when a Service chain (KUBE-SVC-...) first and last sent traffic to it.
// kube-proxy writes the endpoint into the rule's comment
// ("ns/starter:http -> 10.244.0.5:8080"). It needs root on a node whose
// kube-proxy runs in iptables mode; elsewhere it measures nothing.
type rules struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	seen   map[string]*ruleSpan // "IP:port" -> span
	// noEndpoints are the polls that found a REJECT rule of the
	// namespace's Service ("has no endpoints"): kube-proxy refuses its
	// connections then.
	noEndpoints []time.Time
}

type ruleSpan struct {
	First, Last time.Time // first and last poll that saw it
	Gone        time.Time // first poll after Last that did not
}

const rulePoll = 100 * time.Millisecond

func watchRules(ns string) *rules {
	ctx, cancel := context.WithCancel(context.Background())
	r := &rules{cancel: cancel, done: make(chan struct{}), seen: map[string]*ruleSpan{}}
	if _, err := exec.LookPath("iptables-save"); err != nil || os.Geteuid() != 0 {
		close(r.done)
		return r
	}
	go func() {
		defer close(r.done)
		tick := time.NewTicker(rulePoll)
		defer tick.Stop()
		for {
			out, err := exec.CommandContext(ctx, "iptables-save").Output()
			now := time.Now()
			if err == nil {
				r.update(string(out), ns+"/", now)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return r
}

func (r *rules) update(out, prefix string, now time.Time) {
	present := map[string]bool{}
	reject := false
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, prefix) && strings.Contains(l, "has no endpoints") {
			reject = true
		}
		if !strings.HasPrefix(l, "-A KUBE-SVC-") || !strings.Contains(l, prefix) {
			continue
		}
		_, after, ok := strings.Cut(l, " -> ")
		if !ok {
			continue
		}
		ep, _, _ := strings.Cut(after, "\"")
		present[strings.TrimSpace(ep)] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if reject {
		r.noEndpoints = append(r.noEndpoints, now)
	}
	for ep := range present {
		s := r.seen[ep]
		if s == nil {
			s = &ruleSpan{First: now}
			r.seen[ep] = s
		}
		s.Last, s.Gone = now, time.Time{}
	}
	for ep, s := range r.seen {
		if !present[ep] && s.Gone.IsZero() {
			s.Gone = now
		}
	}
}

func (r *rules) stop() {
	r.cancel()
	<-r.done
}

// span returns what the rules said of the endpoint ip:port.
func (r *rules) span(ep string) (ruleSpan, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.seen[ep]
	if !ok {
		return ruleSpan{}, false
	}
	return *s, true
}

// active reports whether the rules are being watched.
func (r *rules) active() bool {
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

// routed reports whether the Service's rules send traffic to n endpoints
// and refuse none of it (no "has no endpoints" REJECT rule in the last
// poll).
func (r *rules) routed(n int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := 0
	var last time.Time
	for _, s := range r.seen {
		if s.Gone.IsZero() {
			got++
		}
		if s.Last.After(last) {
			last = s.Last
		}
	}
	if len(r.noEndpoints) > 0 && !r.noEndpoints[len(r.noEndpoints)-1].Before(last) {
		return false
	}
	return got == n
}
