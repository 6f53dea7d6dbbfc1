package kubernetes

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is a client program the suite runs on this machine: loadgen or
// wsload, with its standard output kept line by line.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	exited chan struct{}

	mu      sync.Mutex
	lines   []string
	stderr  strings.Builder
	changed chan struct{}
}

func startProc(t *testing.T, name, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, exited: make(chan struct{}), changed: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.cmd.Stderr = lockedWriter{p}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, out)
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

type lockedWriter struct{ p *proc }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.stderr.Write(b)
}

// waitLine waits for a line of standard output, from line number from on,
// that matches, and returns it and its number.
func (p *proc) waitLine(t *testing.T, from int, match func(string) bool, timeout time.Duration) (string, int) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		for i := from; i < len(p.lines); i++ {
			if match(p.lines[i]) {
				l := p.lines[i]
				p.mu.Unlock()
				return l, i
			}
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-p.exited:
			p.mu.Lock()
			defer p.mu.Unlock()
			for i := from; i < len(p.lines); i++ {
				if match(p.lines[i]) {
					return p.lines[i], i
				}
			}
			t.Fatalf("%s exited (%v) before the line the suite waits for:\n%s", p.name, p.cmd.ProcessState, p.stderr.String())
		case <-deadline.C:
			t.Fatalf("%s: no such line within %v:\n%s", p.name, timeout, p.stderr.String())
		}
	}
}

func (p *proc) nlines() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.lines)
}

// finish closes standard input (or writes cmd first), waits for the exit,
// and decodes the last line that starts with prefix into v.
func (p *proc) finish(t *testing.T, cmd, prefix string, v any) {
	t.Helper()
	if cmd != "" {
		_, _ = io.WriteString(p.stdin, cmd+"\n")
	}
	_ = p.stdin.Close()
	select {
	case <-p.exited:
	case <-time.After(time.Minute):
		t.Fatalf("%s did not exit within a minute", p.name)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(p.lines[i], prefix) {
			if err := json.Unmarshal([]byte(p.lines[i]), v); err != nil {
				t.Fatalf("%s: %v", p.name, err)
			}
			return
		}
	}
	t.Fatalf("%s printed no result (%v):\n%s", p.name, p.cmd.ProcessState, p.stderr.String())
}

// loadResult is the JSON that e2e/internal/loadgen prints.
type loadResult struct {
	Requests     int64             `json:"requests"`
	OK           int64             `json:"ok"`
	Failed       int64             `json:"failed"`
	Errors       map[string]int64  `json:"errors"`
	Lines        int64             `json:"lines"`
	Retried      int64             `json:"retried"`
	Samples      map[string]string `json:"samples"`
	FailureTimes []int64           `json:"failure_times"`
	Start        int64             `json:"start"`
	End          int64             `json:"end"`
}

// kinds renders the failures by kind: "refused=12 reset=1".
func (r loadResult) kinds() string {
	var ks []string
	for k, n := range r.Errors {
		ks = append(ks, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(ks)
	if len(ks) == 0 {
		return "none"
	}
	return strings.Join(ks, " ")
}

func startLoadgen(t *testing.T, bin, name string, args ...string) *proc {
	t.Helper()
	p := startProc(t, name, bin, append(args, "-max", "5m")...)
	p.waitLine(t, 0, func(s string) bool { return s == "ready" }, 30*time.Second)
	return p
}

func finishLoadgen(t *testing.T, p *proc) loadResult {
	t.Helper()
	var r loadResult
	p.finish(t, "", "{", &r)
	return r
}

// wsConn and wsOutput are what e2e/internal/wsload prints.
type wsConn struct {
	Client int    `json:"client"`
	Conn   int64  `json:"t_conn"`
	Close  int64  `json:"t_close"`
	By     string `json:"by"`
	Code   int    `json:"code"`
	First  int64  `json:"first"`
	Last   int64  `json:"last"`
	Count  int64  `json:"count"`
	Gaps   int64  `json:"gaps"`
	Bad    int64  `json:"bad"`
	Err    string `json:"err"`
}

type wsOutput struct {
	Conns        []wsConn `json:"conns"`
	DialFailures []struct {
		Client int    `json:"client"`
		T      int64  `json:"t"`
		Status int    `json:"status"`
		Err    string `json:"err"`
	} `json:"dial_failures"`
}

// wsSync asks wsload how many clients are connected and the lowest last
// message number among them.
func wsSync(t *testing.T, p *proc) (n int, minLast int64) {
	t.Helper()
	from := p.nlines()
	if _, err := io.WriteString(p.stdin, "sync\n"); err != nil {
		t.Fatalf("wsload: %v", err)
	}
	l, _ := p.waitLine(t, from, func(s string) bool { return strings.HasPrefix(s, "sync ") }, 10*time.Second)
	if _, err := fmt.Sscanf(l, "sync %d %d", &n, &minLast); err != nil {
		t.Fatalf("wsload: %q: %v", l, err)
	}
	return n, minLast
}

// waitWS waits until all n clients are connected and have message seq (or
// later; seq < 0: connected only). The clients reconnect on their own, so
// it asks again every 100ms.
func waitWS(t *testing.T, p *proc, n int, seq int64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got, last := wsSync(t, p)
		if got == n && (seq < 0 || last >= seq) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %d of %d WebSocket clients connected, the slowest has message %d, want %d", timeout, got, n, last, seq)
		}
		time.Sleep(100 * time.Millisecond) // polling another process's state, not waiting out a delay
	}
}

// publication is one numbered message, sent to every serving pod.
type publication struct {
	Seq        int64
	Start, End int64 // Unix nanoseconds
	Pods       int
	AllOK      bool // every pod it went to accepted it (2xx)
}

// publisher sends numbered messages with POST /publish to every serving
// pod directly (its IP), one number at a time: every pod gets message n
// before any gets n+1. A WebSocket client, wherever the Service sent it,
// must receive each message every pod accepted while it was connected.
type publisher struct {
	pods   *pods
	app    string
	client *http.Client
	mu     sync.Mutex
	pubs   []publication
	seq    int64
}

func newPublisher(p *pods, app string) *publisher {
	return &publisher{pods: p, app: app, client: &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2}}}
}

func (p *publisher) run(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	defer p.client.CloseIdleConnections()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var ips []string
		for _, r := range p.pods.snapshot() {
			if r.App == p.app && r.live() {
				ips = append(ips, r.IP)
			}
		}
		p.mu.Lock()
		p.seq++
		pub := publication{Seq: p.seq, Start: time.Now().UnixNano(), Pods: len(ips), AllOK: len(ips) > 0}
		p.mu.Unlock()
		var wg sync.WaitGroup
		var okMu sync.Mutex
		for _, ip := range ips {
			wg.Go(func() {
				ok := false
				resp, err := p.client.Post("http://"+ip+":8080/publish", "text/plain", strings.NewReader(strconv.FormatInt(pub.Seq, 10)))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					ok = resp.StatusCode/100 == 2
				}
				if !ok {
					okMu.Lock()
					pub.AllOK = false
					okMu.Unlock()
				}
			})
		}
		wg.Wait()
		pub.End = time.Now().UnixNano()
		p.mu.Lock()
		p.pubs = append(p.pubs, pub)
		p.mu.Unlock()
	}
}

func (p *publisher) last() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seq
}

// wsVerdict is the check of every WebSocket connection.
type wsVerdict struct {
	clients, conns, going1001  int
	delivered, checked         int64
	abnormal, gaps, missing    int
	never1001, dialFailures    int
	published, publishedFailed int
	problems                   []string
}

func (v *wsVerdict) failures() int64 {
	return int64(v.abnormal + v.gaps + v.missing + v.never1001)
}

func (v *wsVerdict) problem(format string, args ...any) {
	if len(v.problems) < 10 {
		v.problems = append(v.problems, fmt.Sprintf(format, args...))
	}
}

func (v *wsVerdict) notes() string {
	return fmt.Sprintf("%d clients, %d connections, %d closed with 1001, %d abnormal closes, %d clients never got 1001; %d messages delivered, %d required ones checked, %d missing, %d gaps; %d failed dials retried",
		v.clients, v.conns, v.going1001, v.abnormal, v.never1001, v.delivered, v.checked, v.missing, v.gaps, v.dialFailures)
}

// checkWS checks every connection: each one the server ended got 1001 and,
// before it, every message that every serving pod accepted while it was
// open, in order and without a gap; every client got 1001 at least once.
func checkWS(pub *publisher, clients int, out wsOutput) *wsVerdict {
	pub.mu.Lock()
	pubs := append([]publication(nil), pub.pubs...)
	pub.mu.Unlock()
	v := &wsVerdict{clients: clients, conns: len(out.Conns), dialFailures: len(out.DialFailures), published: len(pubs)}
	for _, p := range pubs {
		if !p.AllOK {
			v.publishedFailed++
		}
	}
	got1001 := map[int]bool{}
	for _, c := range out.Conns {
		v.delivered += c.Count
		switch c.By {
		case "server":
			if c.Code != 1001 {
				v.abnormal++
				v.problem("client %d: closed with %d, want 1001", c.Client, c.Code)
			} else {
				v.going1001++
				got1001[c.Client] = true
			}
		case "client":
		default:
			v.abnormal++
			v.problem("client %d: connection failed without a close frame: %s", c.Client, c.Err)
		}
		if c.Gaps > 0 || c.Bad > 0 {
			v.gaps += int(c.Gaps + c.Bad)
			v.problem("client %d: %d gaps, %d bad messages in %d..%d", c.Client, c.Gaps, c.Bad, c.First, c.Last)
		}
		var missing []int64
		for _, p := range pubs {
			if p.AllOK && p.Start > c.Conn && p.End < c.Close {
				v.checked++
				if c.First < 0 || p.Seq < c.First || p.Seq > c.Last {
					missing = append(missing, p.Seq)
				}
			}
		}
		if len(missing) > 0 {
			v.missing += len(missing)
			v.problem("client %d (%s..%s): received %d..%d, missing %v", c.Client,
				time.Unix(0, c.Conn).Format("15:04:05.000"), time.Unix(0, c.Close).Format("15:04:05.000"), c.First, c.Last, missing)
		}
	}
	for id := range clients {
		if !got1001[id] {
			v.never1001++
		}
	}
	return v
}

// waitService waits until the Service answers through its ClusterIP, and,
// where the node's rules are watched, until they route to n endpoints: the
// pods are Ready before kube-proxy has written their rules, and a load
// started in between counts connections the rules refuse ("has no
// endpoints") against the service.
func waitService(t *testing.T, base string, rl *rules, n int) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(time.Minute)
	for {
		ok := !rl.active() || rl.routed(n)
		if ok {
			resp, err := client.Get(base + "/hello")
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			ok = err == nil && resp.StatusCode == http.StatusOK
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not routed to %d pods within a minute", base, n)
		}
		time.Sleep(100 * time.Millisecond) // kube-proxy's rules are not an event the suite can wait on
	}
}
