// Command loadgen sends HTTP/1 or h2c requests at a steady rate and counts
// every outcome by kind, which wrk and h2load cannot do: connection refused,
// reset, EOF, timeout, GOAWAY or stream errors, each non-2xx status, and
// bodies that arrived truncated or corrupted. The reliability suite
// (package e2e) runs it next to wrk and h2load during rolling restarts.
//
//	loadgen -url http://127.0.0.1:8080/hello -proto http1 -c 16 -rate 2000
//	loadgen -url http://127.0.0.1:8080/download -sizes 0,4090,16385,100000
//	loadgen -url http://10.96.0.10/hello -new-conn -c 4 -rate 100
//
// With -new-conn (HTTP/1 only), every request goes on a connection of its
// own: behind a Kubernetes Service, whose rules pick a pod for each new
// connection, every request is routed afresh, so the count shows when the
// rules still send connections to a pod that no longer accepts them.
//
// With -sizes, each request asks for a body that internal/body defines
// (query seed=<n>&size=<s>, the sizes in turn, a new seed each time) and the
// body is checked by its length and SHA-256, and against the Content-Digest
// header: a short body counts as "truncated", a wrong one as "corrupt".
//
// It prints "ready" on stdout after its first successful response and, when
// it ends (after -d, when its standard input closes, or on SIGTERM), a JSON
// [Result] on the last line. It stops by itself after -max (default 10m).
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lameduck/lameduck/e2e/internal/body"
)

// Result is what loadgen prints when it ends.
type Result struct {
	// Requests counts the requests whose outcome is known: OK + Failed.
	Requests int64 `json:"requests"`
	// OK counts 2xx responses whose body was read completely.
	OK int64 `json:"ok"`
	// Failed counts every other outcome.
	Failed int64 `json:"failed"`
	// Errors counts failures by kind (see Classify), with "status_NNN" for
	// each non-2xx status.
	Errors map[string]int64 `json:"errors"`
	// Lines counts the lines of 2xx response bodies that start with
	// -count-prefix (for POST /jobs: the names of the jobs started).
	Lines int64 `json:"lines"`
	// Bytes counts the body bytes checked against the expected body (with
	// -sizes).
	Bytes int64 `json:"bytes"`
	// Retried counts requests that the Go client sent on more than one
	// connection (its transparent retry of a request that a closing
	// connection never processed). They are not failures: they succeeded or
	// failed on their last attempt.
	Retried int64 `json:"retried"`
	// Samples holds the first error messages of each kind.
	Samples map[string]string `json:"samples,omitempty"`
	// FailureTimes are the Unix nanosecond times of the first 10,000
	// failures.
	FailureTimes []int64 `json:"failure_times,omitempty"`
	// Start and End are Unix nanoseconds.
	Start int64 `json:"start"`
	End   int64 `json:"end"`
}

type counter struct {
	mu  sync.Mutex
	res Result
}

func (c *counter) add(o outcome) {
	kind, err, retried := o.kind, o.err, o.retried
	c.mu.Lock()
	defer c.mu.Unlock()
	c.res.Requests++
	c.res.Lines += o.lines
	c.res.Bytes += o.bytes
	if retried {
		c.res.Retried++
	}
	if kind == "" {
		c.res.OK++
		return
	}
	c.res.Failed++
	c.res.Errors[kind]++
	if _, ok := c.res.Samples[kind]; !ok && err != nil {
		c.res.Samples[kind] = err.Error()
	}
	if len(c.res.FailureTimes) < 10000 {
		c.res.FailureTimes = append(c.res.FailureTimes, time.Now().UnixNano())
	}
}

func main() {
	var (
		target  = flag.String("url", "", "URL to request (required)")
		method  = flag.String("method", "GET", "request method")
		proto   = flag.String("proto", "http1", "http1 (keep-alive connections), h2c (HTTP/2 with prior knowledge) or h2 (HTTP/2 over TLS, certificate not verified)")
		conc    = flag.Int("c", 16, "concurrent requests")
		rate    = flag.Int("rate", 0, "requests per second over all workers; 0: as fast as possible")
		dur     = flag.Duration("d", 0, "run this long; 0: until standard input closes or SIGTERM")
		timeout = flag.Duration("timeout", 10*time.Second, "per-request timeout")
		maxRun  = flag.Duration("max", 10*time.Minute, "hard limit on the run")
		prefix  = flag.String("count-prefix", "", "count the lines of 2xx bodies that start with this")
		sizes   = flag.String("sizes", "", "comma-separated body sizes: ask for checkable bodies (internal/body) of these sizes in turn")
		seed    = flag.Uint64("seed", 1, "the first body's seed, with -sizes")
		newConn = flag.Bool("new-conn", false, "HTTP/1 only: a new connection for every request (no keep-alive)")
	)
	flag.Parse()
	if *target == "" || *conc < 1 {
		flag.Usage()
		os.Exit(2)
	}
	tr, err := transport(*proto, *conc)
	if err == nil && *newConn {
		err = newConnections(tr, *proto)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	defer tr.CloseIdleConnections()

	ctx, cancel := context.WithTimeout(context.Background(), *maxRun)
	defer cancel()
	if *dur > 0 {
		ctx, cancel = context.WithTimeout(ctx, *dur)
		defer cancel()
	} else {
		go func() { // end when the parent closes our standard input
			_, _ = io.Copy(io.Discard, os.Stdin)
			cancel()
		}()
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		cancel()
	}()

	g := &gen{tr: tr, method: *method, target: *target, timeout: *timeout, prefix: *prefix}
	if *sizes != "" {
		if g.sizes, err = parseSizes(*sizes); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen: -sizes:", err)
			os.Exit(2)
		}
		g.seed.Store(*seed - 1)
	}
	res := g.run(ctx, *conc, *rate, func() { fmt.Println("ready") })
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}

func transport(proto string, conc int) (*http.Transport, error) {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        conc,
		MaxIdleConnsPerHost: conc,
		IdleConnTimeout:     90 * time.Second,
		Protocols:           new(http.Protocols),
	}
	switch proto {
	case "http1":
		tr.Protocols.SetHTTP1(true)
	case "h2c":
		tr.Protocols.SetUnencryptedHTTP2(true)
	case "h2":
		// HTTP/2 over TLS, to the suite's throwaway certificate on
		// loopback: not verified.
		tr.Protocols.SetHTTP2(true)
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	default:
		return nil, fmt.Errorf("-proto %q: want http1, h2c or h2 (over TLS)", proto)
	}
	return tr, nil
}

// newConnections makes tr open a connection for every request.
func newConnections(tr *http.Transport, proto string) error {
	if proto != "http1" {
		return fmt.Errorf("-new-conn with -proto %s: want -proto http1 (an h2c connection carries every request)", proto)
	}
	tr.DisableKeepAlives = true
	return nil
}

// parseSizes reads "0,4090,16385".
func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 || n > body.MaxSize {
			return nil, fmt.Errorf("%q: want sizes from 0 to %d bytes, separated by commas", f, body.MaxSize)
		}
		out = append(out, n)
	}
	return out, nil
}

// gen sends one kind of request. Each request is bounded by timeout.
type gen struct {
	tr      http.RoundTripper
	method  string
	target  string
	timeout time.Duration
	prefix  string // count the body lines that start with it
	// sizes, if set, are the sizes of the checkable bodies to ask for,
	// in turn; seed is the last seed used.
	sizes []int
	seed  atomic.Uint64
}

// outcome is one request's outcome: its failure kind ("" for success), the
// error behind it, whether the client sent it on more than one connection,
// the body lines that start with the prefix, and the body bytes checked.
type outcome struct {
	kind    string
	err     error
	retried bool
	lines   int64
	bytes   int64
}

// run sends requests from conc workers, rate per second in all (0: no
// limit), until ctx ends, and returns the counts. ready is called once,
// after the first success.
func (g *gen) run(ctx context.Context, conc, rate int, ready func()) Result {
	c := &counter{res: Result{Errors: map[string]int64{}, Samples: map[string]string{}, Start: time.Now().UnixNano()}}
	tokens := pace(ctx, rate, conc)
	var once sync.Once
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for {
				if tokens != nil {
					select {
					case <-tokens:
					case <-ctx.Done():
						return
					}
				}
				if ctx.Err() != nil {
					return
				}
				// A request in flight when the run ends is finished, not
				// cancelled: the server may have acted on it (started a
				// job), and the count must say so.
				o := g.do(context.WithoutCancel(ctx))
				c.add(o)
				if o.kind == "" {
					once.Do(ready)
				}
			}
		})
	}
	wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.res.End = time.Now().UnixNano()
	return c.res
}

// pace returns a channel that yields rate tokens per second, or nil for no
// limit.
func pace(ctx context.Context, rate, conc int) <-chan struct{} {
	if rate <= 0 {
		return nil
	}
	tokens := make(chan struct{}, conc)
	go func() {
		const tick = 5 * time.Millisecond
		t := time.NewTicker(tick)
		defer t.Stop()
		start := time.Now()
		sent := 0
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				due := int(now.Sub(start).Seconds() * float64(rate))
				for ; sent < due; sent++ {
					select {
					case tokens <- struct{}{}:
					case <-ctx.Done():
						return
					default: // workers are behind: drop the token rather than burst later
					}
				}
			}
		}
	}()
	return tokens
}

// do sends one request and returns its outcome.
func (g *gen) do(ctx context.Context) outcome {
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	var conns atomic.Int32
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { conns.Add(1) }})
	target, want := g.target, -1
	var seed uint64
	if len(g.sizes) > 0 {
		seed = g.seed.Add(1)
		want = g.sizes[seed%uint64(len(g.sizes))]
		target += "?" + body.Query(seed, want, false)
	}
	req, err := http.NewRequestWithContext(ctx, g.method, target, nil)
	if err != nil {
		return outcome{kind: "other", err: err}
	}
	resp, err := g.tr.RoundTrip(req)
	if err != nil {
		return outcome{kind: Classify(err), err: err, retried: conns.Load() > 1}
	}
	defer resp.Body.Close()
	o := outcome{retried: conns.Load() > 1}
	if want >= 0 {
		got, rerr := io.ReadAll(io.LimitReader(resp.Body, int64(want)+1024))
		err = rerr
		if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
			o.kind, o.bytes, o.err = checkBody(seed, want, got, resp.Header.Get("Content-Digest"), rerr)
			if o.kind != "" {
				return o
			}
		}
	} else {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if g.prefix != "" && strings.HasPrefix(sc.Text(), g.prefix) {
				o.lines++
			}
		}
		err = sc.Err()
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return outcome{kind: fmt.Sprintf("status_%d", resp.StatusCode), err: fmt.Errorf("%s %s: %s", g.method, target, resp.Status), retried: o.retried}
	}
	if err != nil {
		return outcome{kind: Classify(err), err: err, retried: o.retried}
	}
	return o
}

// checkBody checks a body against the body of (seed, size) and its digest
// header, and returns the failure kind ("" if every byte is right) and the
// bytes checked. A short body whose bytes are right is "truncated" whatever
// error ended it.
func checkBody(seed uint64, size int, got []byte, digest string, readErr error) (kind string, checked int64, err error) {
	want := body.Bytes(seed, size)
	r := body.CheckAgainst(want, got)
	switch {
	case r.Outcome == body.Truncated:
		return "truncated", int64(r.Got), fmt.Errorf("seed %d: %v (%v)", seed, r, readErr)
	case r.Outcome == body.Corrupt:
		return "corrupt", int64(r.Got), fmt.Errorf("seed %d: %v", seed, r)
	case readErr != nil:
		return Classify(readErr), int64(r.Got), readErr
	case digest != body.Digest(want):
		return "corrupt", int64(r.Got), fmt.Errorf("seed %d: Content-Digest %q, want %q", seed, digest, body.Digest(want))
	}
	return "", int64(r.Got), nil
}

// Classify names the kind of a request error: refused, reset, broken_pipe,
// eof, timeout, goaway, stream_error, canceled or other.
func Classify(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, syscall.EPIPE):
		return "broken_pipe"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	s := err.Error()
	switch {
	case strings.Contains(s, "GOAWAY"):
		return "goaway"
	case strings.Contains(s, "stream error"), strings.Contains(s, "RST_STREAM"):
		return "stream_error"
	case strings.Contains(s, "server closed idle connection"), strings.Contains(s, "connection lost"):
		return "eof"
	}
	return "other"
}
