package stop

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// shape is the work in flight when the stop begins.
type shape struct {
	requests    int           // GET /slow requests in flight
	requestTime time.Duration // how long each takes
	clients     int           // WebSocket clients connected to /ws
	tasks       int           // background jobs running (POST /jobs)
	taskTime    time.Duration // how long each takes
}

func (s shape) String() string {
	return fmt.Sprintf("requests=%dx%v/clients=%d/tasks=%dx%v", s.requests, s.requestTime, s.clients, s.tasks, s.taskTime)
}

// result is one measured stop, every time counted from the SIGTERM.
type result struct {
	stop time.Duration // until the process exited
	work time.Duration // until the last request or job ended
	// phases are the durations the program logged for the phases of its
	// stop ("stop phase ended"), and "exit": from its "stop ended" line to
	// the process's exit.
	phases map[string]time.Duration
}

// overhead is the time the stop took beyond the longest piece of work: what
// the sequence itself costs.
func (r result) overhead() time.Duration { return r.stop - r.work }

// binaries are the programs the benchmark runs, built once per test binary
// into a directory that TestMain removes.
var binaries struct {
	once sync.Once
	dir  string
	err  error
}

// binary returns the path of the built program name: "starter",
// "naiveapp" or "wsclients".
func binary(name string) (string, error) {
	binaries.once.Do(func() {
		binaries.dir, binaries.err = os.MkdirTemp("", "bench-stop-")
		if binaries.err != nil {
			return
		}
		for _, b := range []struct{ name, dir, pkg string }{
			{"starter", "../..", "./examples/starter"},
			{"wsclients", "../..", "./wsmodule/internal/wsclients"},
			{"naiveapp", ".", "./naiveapp"},
		} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binaries.dir, b.name), b.pkg)
			cmd.Dir = b.dir
			if out, err := cmd.CombinedOutput(); err != nil {
				binaries.err = fmt.Errorf("go build %s: %w\n%s", b.pkg, err, out)
				return
			}
		}
	})
	return filepath.Join(binaries.dir, name), binaries.err
}

// appEnv is the environment of the service under test: ours without any
// lameduck setting or Kubernetes marker that would change the defaults, plus
// loopback addresses on port 0 and no preStop delay.
func appEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LAMEDUCK_") && !strings.HasPrefix(kv, "KUBERNETES_SERVICE_HOST=") {
			env = append(env, kv)
		}
	}
	return append(env,
		"LAMEDUCK_SERVERS_PUBLIC_ADDR=127.0.0.1:0", "LAMEDUCK_ADMIN_ADDR=127.0.0.1:0",
		"LAMEDUCK_STOP_PRE_STOP_DELAY=0s", "NAIVE_ADDR=127.0.0.1:0")
}

// app is a running service whose JSON log lines on standard error are read
// as they come.
type app struct {
	cmd    *exec.Cmd
	ready  chan string   // the public URL, once
	exited chan struct{} // closed once the process has exited
	exitAt time.Time     // when it had, valid once exited is closed
	err    error         // cmd.Wait's result, valid once exited is closed

	mu      sync.Mutex
	jobEnds []time.Time              // the time of every "job done" line
	phases  map[string]time.Duration // "stop phase ended" lines
	ended   time.Time                // the time of the "stop ended" line
	tail    []string                 // the last lines, for error messages
}

// logLine is what the benchmark reads from a JSON log line.
type logLine struct {
	Msg      string      `json:"msg"`
	TS       float64     `json:"ts"`
	Public   string      `json:"public"`
	Phase    string      `json:"phase"`
	Duration logDuration `json:"duration"`
}

// logDuration is a duration in a JSON log line: lameduck writes it as Go
// does ("4.52s"), zap's production default as a number of seconds.
type logDuration time.Duration

func (d *logDuration) UnmarshalJSON(b []byte) error {
	var secs float64
	if json.Unmarshal(b, &secs) == nil {
		*d = logDuration(secs * float64(time.Second))
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = logDuration(v)
	return err
}

func (l logLine) time() time.Time {
	sec, frac := math.Modf(l.TS)
	return time.Unix(int64(sec), int64(frac*1e9))
}

func startApp(bin string) (*app, error) {
	cmd := exec.Command(bin)
	cmd.Env = appEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	a := &app{cmd: cmd, ready: make(chan string, 1), exited: make(chan struct{}), phases: map[string]time.Duration{}}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			a.line(sc.Bytes())
		}
		a.err = cmd.Wait()
		a.exitAt = time.Now()
		close(a.exited)
	}()
	return a, nil
}

func (a *app) line(b []byte) {
	var l logLine
	_ = json.Unmarshal(b, &l)
	a.mu.Lock()
	defer a.mu.Unlock()
	switch l.Msg {
	case "starter ready":
		a.ready <- l.Public
	case "job done":
		a.jobEnds = append(a.jobEnds, l.time())
	case "stop phase ended":
		a.phases[l.Phase] = time.Duration(l.Duration)
	case "stop ended":
		a.ended = l.time()
	}
	a.tail = append(a.tail, string(b))
	if len(a.tail) > 40 {
		a.tail = a.tail[1:]
	}
}

func (a *app) lastLines() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return strings.Join(a.tail, "\n")
}

// kill ends the process if it still runs and waits for it.
func (a *app) kill() {
	select {
	case <-a.exited:
	default:
		_ = a.cmd.Process.Kill()
		<-a.exited
	}
}

// wsClients is a running wsclients process.
type wsClients struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

func startClients(url string, n int) (*wsClients, error) {
	bin, err := binary("wsclients")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-url", url, "-n", strconv.Itoa(n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &wsClients{cmd: cmd, stdin: stdin, lines: make(chan string, 2)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	return c, nil
}

// next returns the next line the clients print, or an error after timeout.
func (c *wsClients) next(timeout time.Duration) (string, error) {
	select {
	case l, ok := <-c.lines:
		if !ok {
			return "", errors.New("wsclients ended without a line")
		}
		return l, nil
	case <-time.After(timeout):
		return "", fmt.Errorf("wsclients: no line within %v", timeout)
	}
}

// end closes the clients' standard input, which ends them, and waits.
func (c *wsClients) end() {
	_ = c.stdin.Close()
	_ = c.cmd.Wait()
}

// slowResult is the outcome of one GET /slow.
type slowResult struct {
	end time.Time
	err error
}

// measureStop starts the program bin (the starter or the naive app), puts
// the work of s in flight, sends SIGTERM and measures the stop. It returns
// an error if any piece of work was lost: a request that did not end with
// 200, a WebSocket client that did not get close 1001, a job that did not
// log its end, or an exit status other than 0.
func measureStop(bin string, s shape) (res result, err error) {
	const setup = time.Minute
	a, err := startApp(bin)
	if err != nil {
		return res, err
	}
	defer func() {
		a.kill()
		if err != nil {
			err = fmt.Errorf("%s: %w\nlast lines of its standard error:\n%s", filepath.Base(bin), err, a.lastLines())
		}
	}()
	var base string
	select {
	case base = <-a.ready:
	case <-a.exited:
		return res, fmt.Errorf("exited before it was ready: %v", a.err)
	case <-time.After(setup):
		return res, errors.New("not ready within a minute")
	}

	// WebSocket clients, in a process of their own.
	cl, err := startClients("ws"+strings.TrimPrefix(base, "http")+"/ws", s.clients)
	if err != nil {
		return res, err
	}
	defer cl.end()
	if l, err := cl.next(setup); err != nil || l != fmt.Sprintf("ready %d", s.clients) {
		return res, fmt.Errorf("wsclients: %q %v", l, err)
	}

	// Slow requests, each on a connection of its own; each counts as sent
	// once its request is written.
	tr := &http.Transport{MaxIdleConnsPerHost: s.requests, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var wrote sync.WaitGroup
	slow := make(chan slowResult, s.requests)
	ctx, cancel := context.WithTimeout(context.Background(), setup)
	defer cancel()
	for range s.requests {
		wrote.Add(1)
		var once sync.Once
		trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(wrote.Done) }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), "GET",
			base+"/slow?d="+s.requestTime.String(), nil)
		go func() {
			defer once.Do(wrote.Done)
			resp, err := client.Do(req)
			if err != nil {
				slow <- slowResult{err: err}
				return
			}
			body, err := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("GET /slow: %s: %s", resp.Status, body)
			}
			slow <- slowResult{end: time.Now(), err: err}
		}()
	}
	wrote.Wait()

	// Background jobs, at most 100 per request (the starter's limit).
	for left := s.tasks; left > 0; left -= 100 {
		n := min(left, 100)
		resp, err := client.Post(fmt.Sprintf("%s/jobs?d=%v&n=%d", base, s.taskTime, n), "text/plain", nil)
		if err != nil {
			return res, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return res, fmt.Errorf("POST /jobs: %s", resp.Status)
		}
	}
	// A request on a new connection answered means the server has accepted
	// every connection dialled before it: the slow requests are the
	// server's now, whatever it does with its listener.
	resp, err := client.Get(base + "/hello")
	if err != nil {
		return res, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()

	sigAt := time.Now()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return res, err
	}
	select {
	case <-a.exited:
	case <-time.After(setup):
		return res, errors.New("did not exit within a minute of SIGTERM")
	}
	if a.err != nil {
		return res, fmt.Errorf("exit: %w", a.err)
	}
	last := time.Time{}
	for range s.requests {
		r := <-slow
		if r.err != nil {
			return res, r.err
		}
		last = later(last, r.end)
	}
	if l, err := cl.next(setup); err != nil || l != fmt.Sprintf("done %d closes=1001:%d", s.clients, s.clients) {
		return res, fmt.Errorf("wsclients: %q, want every client closed with 1001 (%v)", l, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.jobEnds) != s.tasks {
		return res, fmt.Errorf("%d of %d jobs logged their end", len(a.jobEnds), s.tasks)
	}
	for _, t := range a.jobEnds {
		last = later(last, t)
	}
	if a.ended.IsZero() {
		return res, errors.New(`no "stop ended" log line`)
	}
	a.phases["exit"] = a.exitAt.Sub(a.ended)
	return result{stop: a.exitAt.Sub(sigAt), work: last.Sub(sigAt), phases: a.phases}, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
