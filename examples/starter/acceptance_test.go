package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Durations of the acceptance scenario.
const (
	preStopDelay = 1500 * time.Millisecond // LAMEDUCK_STOP_PRE_STOP_DELAY: the window in which we still publish
	slowFor      = 3 * time.Second         // GET /slow?d=3s, in flight when SIGTERM comes
	jobsFor      = 5 * time.Second         // POST /jobs?d=5s: they outlast the shutdown phase
	budget       = 25 * time.Second        // stop.total, the default
)

// response is what a test request got.
type response struct {
	status int
	header http.Header
	body   string
	proto  string
	close  bool
}

func do(t *testing.T, c *http.Client, method, url, body string) response {
	t.Helper()
	resp, err := doCtx(context.Background(), c, method, url, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp
}

func doCtx(ctx context.Context, c *http.Client, method, url, body string) (response, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return response{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b), resp.Proto, resp.Close}, err
}

// inFlight sends a request in the background and returns once the request
// has been written to the connection: the server then serves it, even if a
// stop begins right away, since it keeps serving through the preStop delay.
func inFlight(t *testing.T, c *http.Client, url string) <-chan response {
	t.Helper()
	wrote := make(chan struct{})
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { close(wrote) },
	})
	out := make(chan response, 1)
	go func() {
		resp, err := doCtx(ctx, c, http.MethodGet, url, "")
		if err != nil {
			resp.body = err.Error()
		}
		out <- resp
	}()
	select {
	case <-wrote:
	case <-time.After(10 * time.Second):
		t.Fatalf("GET %s: request not written within 10s", url)
	}
	return out
}

func within[T any](t *testing.T, ch <-chan T, timeout time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(timeout):
		t.Fatalf("no %s within %v", what, timeout)
	}
	panic("unreachable")
}

// TestStarterAcceptance is the acceptance test of the starter, run against
// the binary: it serves every route over HTTP/1 and h2c (curl
// --http2-prior-knowledge too); on SIGTERM, /readyz turns 503 at once while
// the service keeps serving through the preStop delay, a /slow request in
// flight finishes with 200, a pending long-poll is ended with 503, the
// WebSocket client receives the last published message and then close 1001,
// the background jobs log their completion after the servers have shut
// down, the stop report's timeline is printed, and the process exits 0
// within the budget.
func TestStarterAcceptance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the starter binary")
	}
	p := startStarter(t,
		"LAMEDUCK_SERVERS_PUBLIC_ADDR=127.0.0.1:0",
		"LAMEDUCK_ADMIN_ADDR=127.0.0.1:0",
		"LAMEDUCK_STOP_PRE_STOP_DELAY="+preStopDelay.String(),
	)
	ready := p.waitLog("starter ready", 30*time.Second)
	public, admin := ready.str("public"), ready.str("admin")
	if !strings.HasPrefix(public, "http://127.0.0.1:") || !strings.HasPrefix(admin, "http://127.0.0.1:") || public == admin {
		t.Fatalf("starter ready with public %q and admin %q: want two loopback addresses", public, admin)
	}
	h1 := &http.Client{Transport: &http.Transport{}}
	defer h1.CloseIdleConnections()
	h2c := &http.Client{Transport: &http.Transport{Protocols: new(http.Protocols)}}
	h2c.Transport.(*http.Transport).Protocols.SetUnencryptedHTTP2(true)
	defer h2c.CloseIdleConnections()

	// Before the stop: every route.
	if r := do(t, h1, "GET", public+"/hello", ""); r.status != 200 || r.body != "hello from lameduck over HTTP/1.1\n" {
		t.Fatalf("GET /hello over HTTP/1: %d %q", r.status, r.body)
	}
	if r := do(t, h2c, "GET", public+"/hello", ""); r.status != 200 || r.proto != "HTTP/2.0" || r.body != "hello from lameduck over HTTP/2.0\n" {
		t.Fatalf("GET /hello over h2c: %d %s %q", r.status, r.proto, r.body)
	}
	t.Run("curl --http2-prior-knowledge", func(t *testing.T) {
		curl, err := exec.LookPath("curl")
		if err != nil {
			if os.Getenv("LAMEDUCK_E2E") == "require" {
				t.Fatal("curl is not installed and LAMEDUCK_E2E=require")
			}
			t.Skip("curl is not installed (set LAMEDUCK_E2E=require to fail instead)")
		}
		out, err := exec.Command(curl, "-sS", "--max-time", "10", "--http2-prior-knowledge", "-w", "%{http_version}", public+"/hello").CombinedOutput()
		if err != nil || string(out) != "hello from lameduck over HTTP/2.0\n2" {
			t.Fatalf("curl: %v: %q", err, out)
		}
	})
	for _, path := range []string{"/livez", "/readyz"} {
		if r := do(t, h1, "GET", admin+path, ""); r.status != 200 {
			t.Fatalf("GET %s before the stop: %d %q", path, r.status, r.body)
		}
	}

	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(public, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(budget + 10*time.Second)) // never hang the test
	if err := ws.WriteMessage(websocket.TextMessage, []byte("echo me")); err != nil {
		t.Fatal(err)
	}
	if _, m, err := ws.ReadMessage(); err != nil || string(m) != "echo me" {
		t.Fatalf("WebSocket echo: %q, %v", m, err)
	}
	received, wsEnd := make(chan string, 16), make(chan error, 1)
	go func() {
		for {
			_, m, err := ws.ReadMessage()
			if err != nil {
				wsEnd <- err
				return
			}
			received <- string(m)
		}
	}()

	if r := do(t, h1, "POST", public+"/publish", "first"); r.status != 200 || r.header.Get("Message-Id") != "1" {
		t.Fatalf("POST /publish: %d %q", r.status, r.body)
	}
	if m := within(t, received, 10*time.Second, "published message on /ws"); m != "first" {
		t.Fatalf("/ws received %q, want first", m)
	}
	if r := do(t, h1, "GET", public+"/poll?after=0", ""); r.status != 200 || r.body != "first\n" || r.header.Get("Message-Id") != "1" {
		t.Fatalf("GET /poll?after=0: %d %q", r.status, r.body)
	}
	poll := inFlight(t, h1, public+"/poll?after=1")
	if r := do(t, h1, "POST", public+"/publish", "second"); r.status != 200 {
		t.Fatalf("POST /publish: %d %q", r.status, r.body)
	}
	if r := within(t, poll, 10*time.Second, "answer to the long-poll"); r.status != 200 || r.body != "second\n" || r.header.Get("Message-Id") != "2" {
		t.Fatalf("GET /poll?after=1: %d %q", r.status, r.body)
	}
	if m := within(t, received, 10*time.Second, "published message on /ws"); m != "second" {
		t.Fatalf("/ws received %q, want second", m)
	}
	jobs := do(t, h1, "POST", fmt.Sprintf("%s/jobs?d=%v&n=2", public, jobsFor), "")
	jobNames := strings.Fields(jobs.body)
	if jobs.status != http.StatusAccepted || len(jobNames) != 2 {
		t.Fatalf("POST /jobs: %d %q, want 202 and two job names", jobs.status, jobs.body)
	}
	slow := inFlight(t, h1, fmt.Sprintf("%s/slow?d=%v", public, slowFor))

	// The stop.
	sigAt := time.Now()
	p.signal(syscall.SIGTERM)
	p.waitLog("stop begins", 10*time.Second)
	readyz := do(t, h1, "GET", admin+"/readyz", "")
	readyzAfter := time.Since(sigAt)
	if readyz.status != http.StatusServiceUnavailable {
		t.Fatalf("GET /readyz once the stop began: %d %q, want 503", readyz.status, readyz.body)
	}
	if r := do(t, h1, "GET", admin+"/livez", ""); r.status != 200 {
		t.Fatalf("GET /livez during the stop: %d, want 200", r.status)
	}
	// The preStop delay, once readiness-off has put the servers in lame-duck
	// mode: still serving, with Connection: close.
	if e := p.waitLog("stop phase ended", 10*time.Second); e.str("phase") != "readiness-off" {
		t.Fatalf("first phase to end: %v, want readiness-off", e)
	}
	if r := do(t, h1, "GET", public+"/hello", ""); r.status != 200 || !r.close {
		t.Fatalf("GET /hello during the preStop delay: %d, close %v: want 200 with Connection: close", r.status, r.close)
	}
	if r := do(t, h1, "POST", public+"/publish", "last words"); r.status != 200 || !strings.Contains(r.body, "1 WebSocket client") {
		t.Fatalf("POST /publish during the preStop delay: %d %q", r.status, r.body)
	}
	pending := inFlight(t, h1, public+"/poll?after=3") // waits for a message that never comes
	duringPreStop := time.Since(sigAt)

	if r := within(t, slow, budget, "answer to /slow"); r.status != 200 || r.body != fmt.Sprintf("slept %v\n", slowFor) {
		t.Fatalf("GET /slow in flight at SIGTERM: %d %q, want 200", r.status, r.body)
	}
	slowAfter := time.Since(sigAt)
	if r := within(t, pending, budget, "answer to the pending long-poll"); r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("GET /poll pending at the shutdown: %d %q, want 503", r.status, r.body)
	}
	if m := within(t, received, budget, "last published message on /ws"); m != "last words" {
		t.Fatalf("/ws received %q, want the last words", m)
	}
	err = within(t, wsEnd, budget, "close of /ws")
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Fatalf("/ws ended with %v, want close 1001 (going away)", err)
	}
	wsClosedAfter := time.Since(sigAt)

	code := p.wait(budget + 10*time.Second)
	exitAfter := time.Since(sigAt)
	if code != 0 {
		t.Fatalf("exit status %d, want 0", code)
	}
	if exitAfter > budget {
		t.Errorf("the starter exited %v after SIGTERM, beyond its %v budget", exitAfter, budget)
	}

	// The logs: jobs done after the servers shut down, a clean report.
	shutdownEnded := slices.IndexFunc(p.output(), func(l string) bool {
		return strings.Contains(l, `"msg":"stop phase ended","phase":"shutdown"`)
	})
	for _, name := range jobNames {
		at := slices.IndexFunc(p.output(), func(l string) bool {
			return strings.Contains(l, `"msg":"job done","job":"`+name+`"`)
		})
		if at < 0 || at < shutdownEnded {
			t.Errorf("job %s: logged its completion at line %d, want it after the shutdown phase ended (line %d)", name, at, shutdownEnded)
		}
	}
	ended := p.logs("stop ended")
	if len(ended) != 1 || ended[0]["clean"] != true {
		t.Errorf("stop ended: %v, want one clean report", ended)
	}
	timeline := p.timeline()
	if !strings.HasPrefix(timeline, "stop (") || !strings.Contains(timeline, "): clean in ") {
		t.Errorf("the printed report:\n%s\nwant a clean stop", timeline)
	}
	var phases []string
	for _, line := range strings.Split(timeline, "\n")[1:] {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[0], "+") {
			phases = append(phases, f[1])
		}
	}
	if want := []string{"readiness-off", "prestop-delay", "shutdown", "hub-drain", "wait", "final"}; !slices.Equal(phases, want) {
		t.Errorf("the printed report has the phases %v, want %v", phases, want)
	}
	t.Logf("SIGTERM -> /readyz 503: %v; publish during the preStop delay done at %v; /slow 200 at %v; /ws closed 1001 at %v; exit 0 at %v\n%s",
		readyzAfter.Round(10*time.Microsecond), duringPreStop.Round(time.Millisecond), slowAfter.Round(time.Millisecond),
		wsClosedAfter.Round(time.Millisecond), exitAfter.Round(time.Millisecond), timeline)
}

// TestStarterRejectsABadSetting: a bad LAMEDUCK_* value stops the starter
// before it listens, with status 1 and a message naming the variable.
func TestStarterRejectsABadSetting(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the starter binary")
	}
	t.Parallel()
	p := startStarter(t, "LAMEDUCK_STOP_TOTAL=soon", "LAMEDUCK_SERVERS_PUBLIC_ADDR=127.0.0.1:0", "LAMEDUCK_ADMIN_ADDR=127.0.0.1:0")
	if code := p.wait(30 * time.Second); code != 1 {
		t.Fatalf("exit status %d, want 1", code)
	}
	if out := p.stderr(); !strings.Contains(out, "LAMEDUCK_STOP_TOTAL") || !strings.Contains(out, "soon") {
		t.Fatalf("standard error does not name the bad variable:\n%s", out)
	}
}

// TestStarterReadsTheConfigFile: with LAMEDUCK_CONFIG=starter.yaml the
// starter logs for people and keeps serving through the file's 2s preStop
// delay after SIGTERM; variables still override the file's addresses.
func TestStarterReadsTheConfigFile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the starter binary")
	}
	t.Parallel()
	p := startStarter(t, "LAMEDUCK_CONFIG=starter.yaml",
		"LAMEDUCK_SERVERS_PUBLIC_ADDR=127.0.0.1:0", "LAMEDUCK_ADMIN_ADDR=127.0.0.1:0")
	var budgetLine string
	p.waitLine(30*time.Second, "console line with the stop budget", func(l string) bool {
		budgetLine = l
		return strings.Contains(l, "serving; stop budget set")
	})
	if strings.HasPrefix(budgetLine, "{") || !strings.Contains(budgetLine, `"preStopDelay": "2s"`) || !strings.Contains(budgetLine, `"total": "20s"`) {
		t.Fatalf("budget line %q: want the console format and the file's preStopDelay 2s and total 20s", budgetLine)
	}
	var readyLine string
	p.waitLine(10*time.Second, "starter ready line", func(l string) bool {
		readyLine = l
		return strings.Contains(l, "starter ready")
	})
	if !strings.Contains(readyLine, `"public": "http://127.0.0.1:`) {
		t.Fatalf("ready line %q: want the public server on 127.0.0.1, from LAMEDUCK_SERVERS_PUBLIC_ADDR", readyLine)
	}
	start := time.Now()
	p.signal(syscall.SIGTERM)
	if code := p.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit status %d, want 0", code)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("exited %v after SIGTERM: want the file's preStop delay of 2s first", took)
	}
	if tl := p.timeline(); !regexp.MustCompile(`prestop-delay +2(\.\d+)?s +completed`).MatchString(tl) {
		t.Errorf("the report does not show the 2s preStop delay:\n%s", tl)
	}
}
