package e2e

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// loadResult is the JSON that internal/loadgen prints (its Result).
type loadResult struct {
	Requests     int64             `json:"requests"`
	OK           int64             `json:"ok"`
	Failed       int64             `json:"failed"`
	Errors       map[string]int64  `json:"errors"`
	Lines        int64             `json:"lines"`
	Bytes        int64             `json:"bytes"`
	Retried      int64             `json:"retried"`
	Samples      map[string]string `json:"samples"`
	FailureTimes []int64           `json:"failure_times"`
	Start        int64             `json:"start"`
	End          int64             `json:"end"`
}

// kinds renders the failures by kind: "status_503=12 reset=1".
func (r loadResult) kinds() string {
	var ks []string
	for k, n := range r.Errors {
		ks = append(ks, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(ks)
	return strings.Join(ks, " ")
}

type loadgen struct{ p *proc }

// startLoadgen starts internal/loadgen with args and waits for its first
// successful response.
func startLoadgen(t *testing.T, b binaries, name string, args ...string) *loadgen {
	t.Helper()
	p := startProc(t, name, b.Loadgen, args, nil)
	if _, _, ok := p.log.waitFor(0, func(s string) bool { return s == "ready" }, 15*time.Second, p.exited); !ok {
		t.Fatalf("%s: no successful request within 15s (%s):\n%s", name, p.exitDesc(), tail(p.log.String(), 20))
	}
	return &loadgen{p: p}
}

// finish ends the load and returns the counts.
func (l *loadgen) finish(t *testing.T) loadResult {
	t.Helper()
	_ = l.p.stdin.Close()
	l.p.wait(t, 30*time.Second)
	var r loadResult
	l.p.readJSONLine(t, "{", &r, time.Second)
	return r
}

// wrkResult is what wrk printed.
type wrkResult struct {
	Requests                      int64
	Connect, Read, Write, Timeout int64 // socket errors
	Non2xx3xx                     int64
	Duration                      string
}

func (r wrkResult) Failures() int64 { return r.Connect + r.Read + r.Write + r.Timeout + r.Non2xx3xx }

func (r wrkResult) kinds() string {
	return fmt.Sprintf("connect=%d read=%d write=%d timeout=%d non-2xx/3xx=%d", r.Connect, r.Read, r.Write, r.Timeout, r.Non2xx3xx)
}

var (
	wrkRequests = regexp.MustCompile(`(?m)^\s*(\d+) requests in ([0-9.]+\w+),`)
	wrkSocket   = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkNon2xx   = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses: (\d+)`)
)

// parseWrk reads wrk's report.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	m := wrkRequests.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("wrk: no request count in its output:\n%s", out)
	}
	r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	r.Duration = m[2]
	if m := wrkSocket.FindStringSubmatch(out); m != nil {
		r.Connect, _ = strconv.ParseInt(m[1], 10, 64)
		r.Read, _ = strconv.ParseInt(m[2], 10, 64)
		r.Write, _ = strconv.ParseInt(m[3], 10, 64)
		r.Timeout, _ = strconv.ParseInt(m[4], 10, 64)
	}
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		r.Non2xx3xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	return r, nil
}

// h2loadResult is what h2load printed.
type h2loadResult struct {
	Total, Started, Done, Succeeded, Failed, Errored, Timeout int64
	S2xx, S3xx, S4xx, S5xx                                    int64
}

// Failures counts every stream that did not end with a 2xx: h2load's
// "failed" (non-2xx/3xx statuses, and "errored": resets and network
// failures, timeouts included) and 3xx, which /hello never answers.
func (r h2loadResult) Failures() int64 { return r.Failed + r.S3xx }

func (r h2loadResult) kinds() string {
	return fmt.Sprintf("failed=%d errored=%d timeout=%d not-done=%d 3xx=%d 4xx=%d 5xx=%d",
		r.Failed, r.Errored, r.Timeout, r.Started-r.Done, r.S3xx, r.S4xx, r.S5xx)
}

var (
	h2Requests = regexp.MustCompile(`(?m)^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout`)
	h2Status   = regexp.MustCompile(`(?m)^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx`)
)

// parseH2load reads h2load's report.
func parseH2load(out string) (h2loadResult, error) {
	var r h2loadResult
	m := h2Requests.FindStringSubmatch(out)
	s := h2Status.FindStringSubmatch(out)
	if m == nil || s == nil {
		return r, fmt.Errorf("h2load: no request counts in its output:\n%s", out)
	}
	for i, p := range []*int64{&r.Total, &r.Started, &r.Done, &r.Succeeded, &r.Failed, &r.Errored, &r.Timeout} {
		*p, _ = strconv.ParseInt(m[i+1], 10, 64)
	}
	for i, p := range []*int64{&r.S2xx, &r.S3xx, &r.S4xx, &r.S5xx} {
		*p, _ = strconv.ParseInt(s[i+1], 10, 64)
	}
	return r, nil
}
