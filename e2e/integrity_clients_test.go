package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lameduck/lameduck/e2e/internal/body"
)

// The clients of the integrity scenario: Go's net/http client, curl and
// h2load, none written here. Each case is one client asking for bodies of
// one size (or a mix of sizes) on its own connection, with its own seeds.

// bodySpec is a body the cases ask for: its size, and whether the server
// streams it in flushed chunks.
type bodySpec struct {
	Size   int
	Stream bool
}

func (b bodySpec) String() string {
	s := sizeName(b.Size)
	if b.Stream {
		s = "streamed " + s
	}
	return s
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	default:
		return fmt.Sprintf("%d B", n)
	}
}

// stream is one response a case asks for.
type stream struct {
	Seed uint64
	Body bodySpec
}

func (s stream) path() string {
	return "/download?" + body.Query(s.Seed, s.Body.Size, s.Body.Stream) + "&hold=1"
}

// streamResult is what one response brought.
type streamResult struct {
	Check  body.Result
	Status int
	Err    string    // the client's error, if any
	Done   time.Time // when the client had the whole response (curl, h2load: when it exited)
}

func (r streamResult) ok() bool {
	return r.Err == "" && r.Status == http.StatusOK && r.Check.Outcome == body.OK
}

// icase is one case: a client, a protocol and the streams it sends at once
// on one connection (h2c) or on one connection each (HTTP/1).
type icase struct {
	Client  string // "go", "curl", "h2load"
	Streams []stream
	// Conc names the case's concurrency: 1, 3, 100.
	Conc int
	// Mixed: the streams have different sizes.
	Mixed bool
}

func (c icase) bytes() int64 {
	var n int64
	for _, s := range c.Streams {
		n += int64(s.Body.Size)
	}
	return n
}

func (c icase) sizeLabel() string {
	if c.Mixed {
		return fmt.Sprintf("mixed (%d sizes, %s in all)", len(c.Streams), sizeName(int(c.bytes())))
	}
	return c.Streams[0].Body.String()
}

// caseResult is a case once run.
type caseResult struct {
	icase
	Results []streamResult
	// Checksummed: every body was compared byte for byte; false for
	// h2load, which counts the body bytes of all streams together.
	Checksummed bool
	Checked     int64 // body bytes compared (received)
	Truncated   int   // streams whose body is the start of the right one, short
	Failed      int   // streams without a whole, correct 200 otherwise
	// BeforeShutdown counts the streams that were done before the
	// shutdown began.
	BeforeShutdown int
	Detail         string
}

func (r *caseResult) tally() {
	r.Truncated, r.Failed, r.Checked = 0, 0, 0
	var details []string
	for i, s := range r.Results {
		r.Checked += int64(s.Check.Got)
		if s.ok() {
			continue
		}
		if s.Check.Outcome == body.Truncated {
			r.Truncated++
		} else {
			r.Failed++
		}
		if len(details) < 3 {
			d := fmt.Sprintf("stream %d (%s): status %d, %v", i, r.Streams[i].Body, s.Status, s.Check)
			if s.Err != "" {
				d += ", error: " + s.Err
			}
			details = append(details, d)
		}
	}
	if len(details) > 0 && r.Detail == "" {
		r.Detail = strings.Join(details, "; ")
	}
}

func (r *caseResult) lost() int { return r.Truncated + r.Failed }

// readBody reads at most want+1 KiB of a response body and checks it.
func readBody(rd io.Reader, s stream) (body.Result, error) {
	got, err := io.ReadAll(io.LimitReader(rd, int64(s.Body.Size)+1024))
	return body.Check(s.Seed, s.Body.Size, got), err
}

// goCase runs a case with Go's net/http client: a Transport of its own
// (HTTP/1, or h2c with prior knowledge), every stream at once. An h2c case
// first sends a warm-up request, so that its streams share the one
// connection it opened.
func goCase(ctx context.Context, base string, h2c bool, c icase) caseResult {
	tr := &http.Transport{
		Protocols:           new(http.Protocols),
		DisableCompression:  true,
		MaxIdleConnsPerHost: len(c.Streams),
	}
	var dials atomic.Int32
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return d.DialContext(ctx, network, addr)
	}
	if h2c {
		tr.Protocols.SetUnencryptedHTTP2(true)
	} else {
		tr.Protocols.SetHTTP1(true)
	}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr}
	res := caseResult{icase: c, Results: make([]streamResult, len(c.Streams)), Checksummed: true}
	if h2c {
		if err := warmUp(ctx, cl, base); err != nil {
			for i := range res.Results {
				res.Results[i] = streamResult{Err: "warm-up: " + err.Error(), Check: body.Check(0, 0, nil)}
			}
			res.tally()
			return res
		}
	}
	var wg sync.WaitGroup
	for i, s := range c.Streams {
		wg.Go(func() {
			res.Results[i] = goStream(ctx, cl, base, h2c, s)
			res.Results[i].Done = time.Now()
		})
	}
	wg.Wait()
	res.tally()
	if n := dials.Load(); h2c && n != 1 && res.Detail != "" {
		res.Detail += fmt.Sprintf(" (%d connections)", n)
	}
	return res
}

func warmUp(ctx context.Context, cl *http.Client, base string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/canary", nil)
	if err != nil {
		return err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

func goStream(ctx context.Context, cl *http.Client, base string, h2c bool, s stream) streamResult {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+s.path(), nil)
	if err != nil {
		return streamResult{Err: err.Error(), Check: body.Check(s.Seed, s.Body.Size, nil)}
	}
	resp, err := cl.Do(req)
	if err != nil {
		return streamResult{Err: err.Error(), Check: body.Check(s.Seed, s.Body.Size, nil)}
	}
	defer resp.Body.Close()
	check, err := readBody(resp.Body, s)
	r := streamResult{Check: check, Status: resp.StatusCode}
	if err != nil {
		r.Err = err.Error()
	}
	wantMajor := 1
	if h2c {
		wantMajor = 2
	}
	if resp.ProtoMajor != wantMajor {
		r.addErr("answered over " + resp.Proto)
	}
	if got, want := resp.Header.Get("Content-Digest"), body.Digest(body.Bytes(s.Seed, s.Body.Size)); got != want {
		r.addErr(fmt.Sprintf("Content-Digest %q, want %q", got, want))
	}
	return r
}

func (r *streamResult) addErr(msg string) {
	if r.Err != "" {
		r.Err += "; "
	}
	r.Err += msg
}

// curlRun is a curl process fetching one stream into a file.
type curlRun struct {
	p    *proc
	file string
	s    stream
}

// startCurl starts curl (--http1.1 or --http2-prior-knowledge) for one
// stream.
func startCurl(t *testing.T, dir, base string, h2c bool, s stream) *curlRun {
	t.Helper()
	file := filepath.Join(dir, fmt.Sprintf("curl-%d.body", s.Seed))
	proto := "--http1.1"
	if h2c {
		proto = "--http2-prior-knowledge"
	}
	args := []string{"-sS", proto, "--max-time", "60", "-o", file, "-w", "status=%{http_code} http=%{http_version}\n", base + s.path()}
	return &curlRun{p: startProc(t, "curl", "curl", args, nil), file: file, s: s}
}

// result waits for curl's exit and checks the body it wrote.
func (c *curlRun) result(t *testing.T) streamResult {
	t.Helper()
	code := c.p.wait(t, 90*time.Second)
	out := c.p.log.String()
	got, _ := os.ReadFile(c.file)
	r := streamResult{Check: body.Check(c.s.Seed, c.s.Body.Size, got), Done: c.p.end}
	for _, f := range strings.Fields(out) {
		if v, ok := strings.CutPrefix(f, "status="); ok {
			r.Status, _ = strconv.Atoi(v)
		}
	}
	if code != 0 {
		r.Err = fmt.Sprintf("curl exited %d: %s", code, strings.TrimSpace(tail(out, 3)))
	}
	return r
}

// h2loadRun is an h2load process sending every stream of a case at once on
// one connection: -c 1 -m <streams>, one URI per stream (h2load uses them
// in turn).
type h2loadRun struct {
	p *proc
	c icase
}

func startH2load(t *testing.T, base string, c icase) *h2loadRun {
	t.Helper()
	n := strconv.Itoa(len(c.Streams))
	args := []string{"-n", n, "-c", "1", "-m", n, "-t", "1"}
	for _, s := range c.Streams {
		args = append(args, base+s.path())
	}
	return &h2loadRun{p: startProc(t, "h2load", "h2load", args, nil), c: c}
}

// result waits for h2load's exit and compares its counts: every stream
// succeeded with a 2xx, and the body bytes of all of them add up to the
// sum of their sizes. h2load cannot check a body's content, nor say which
// stream lost bytes.
func (h *h2loadRun) result(t *testing.T) caseResult {
	t.Helper()
	code := h.p.wait(t, 90*time.Second)
	out := h.p.log.String()
	res := caseResult{icase: h.c, Results: make([]streamResult, len(h.c.Streams))}
	for i := range res.Results {
		res.Results[i].Done = h.p.end
	}
	r, err := parseH2load(out)
	data, derr := parseH2loadData(out)
	n := int64(len(h.c.Streams))
	want := h.c.bytes()
	switch {
	case code != 0 || err != nil || derr != nil:
		res.Failed = len(h.c.Streams)
		res.Detail = fmt.Sprintf("h2load exited %d: %v %v: %s", code, err, derr, tail(out, 5))
	default:
		res.Checked = data
		bad := int(n - min(r.Succeeded, r.S2xx))
		if data != want && bad == 0 {
			bad = 1 // some stream lost bytes; h2load does not say which
		}
		if data < want {
			res.Truncated = bad
		} else {
			res.Failed = bad
		}
		if bad > 0 {
			res.Detail = fmt.Sprintf("h2load: %d of %d streams succeeded, %d 2xx, %d body bytes of %d (%s)",
				r.Succeeded, n, r.S2xx, data, want, r.kinds())
		}
	}
	return res
}

// parseH2loadData reads the body bytes from h2load's "traffic:" line:
// "traffic: 4.39KB (4497) total, 67B (67) headers (space savings 82.69%), 4.20KB (4297) data".
func parseH2loadData(out string) (int64, error) {
	for _, line := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(line, "traffic: ")
		if !ok {
			continue
		}
		i := strings.LastIndex(rest, ") data")
		j := strings.LastIndex(rest[:max(i, 0)], "(")
		if i < 0 || j < 0 {
			break
		}
		return strconv.ParseInt(rest[j+1:i], 10, 64)
	}
	return 0, fmt.Errorf("h2load: no traffic line in its output:\n%s", tail(out, 10))
}
