package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// wsConn is one client connection, as internal/wsload and
// testdata/wsclient.js record it.
type wsConn struct {
	Client int    `json:"client"`
	Server string `json:"server"`
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
		Status int    `json:"status"`
		Err    string `json:"err"`
	} `json:"dial_failures"`
}

// wsClients is a process holding WebSocket clients: internal/wsload
// (gorilla) or testdata/wsclient.js (Node's ws).
type wsClients struct {
	name string
	n    int
	p    *proc
}

// connected asks the process how many of its clients are connected now,
// and the lowest number of the last message each of those received (-1 if
// one received none).
func (w *wsClients) connected(t *testing.T) (n int, minLast int64) {
	t.Helper()
	from := len(w.p.log.Lines())
	if _, err := io.WriteString(w.p.stdin, "sync\n"); err != nil {
		t.Fatalf("%s: %v (%s):\n%s", w.name, err, w.p.exitDesc(), tail(w.p.log.String(), 20))
	}
	ln, _, ok := w.p.log.waitFor(from, func(s string) bool { return strings.HasPrefix(s, "sync ") }, 10*time.Second, w.p.exited)
	if !ok {
		t.Fatalf("%s: no answer to sync (%s):\n%s", w.name, w.p.exitDesc(), tail(w.p.log.String(), 20))
	}
	if _, err := fmt.Sscanf(ln.Text, "sync %d %d", &n, &minLast); err != nil {
		t.Fatalf("%s: %q: %v", w.name, ln.Text, err)
	}
	return n, minLast
}

// finish closes every client (1000) and returns the records.
func (w *wsClients) finish(t *testing.T) wsOutput {
	t.Helper()
	if _, err := io.WriteString(w.p.stdin, "stop\n"); err != nil {
		t.Fatalf("%s: %v", w.name, err)
	}
	w.p.wait(t, 30*time.Second)
	var out wsOutput
	w.p.readJSONLine(t, `{"conns"`, &out, time.Second)
	return out
}

// waitConnected waits until every client of every process is connected
// and has received message seq (or later); seq < 0 waits for the
// connections only.
func waitConnected(t *testing.T, procs []*wsClients, seq int64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got, want, lowest := 0, 0, int64(-1)
		for i, w := range procs {
			n, l := w.connected(t)
			got += n
			want += w.n
			if i == 0 || l < lowest {
				lowest = l
			}
		}
		if got == want && (seq < 0 || lowest >= seq) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %d of %d WebSocket clients connected, the slowest has message %d of %d", timeout, got, want, lowest, seq)
		}
		time.Sleep(20 * time.Millisecond) // the clients reconnect on their own; ask again
	}
}

// publication is one POST /publish of message Seq to one replica.
type publication struct {
	Seq        int64
	Start, End int64 // Unix nanoseconds
	OK         bool
}

// publisher sends numbered messages to every replica directly, one number
// at a time: each replica gets message n (in parallel) before any gets n+1.
// It records, per replica slot, what each replica accepted and when.
type publisher struct {
	slots  []slot
	client *http.Client
	mu     sync.Mutex
	seq    int64
	log    map[string][]publication
}

func newPublisher(slots []slot) *publisher {
	return &publisher{slots: slots, log: map[string][]publication{},
		client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2}}}
}

// run publishes one message every interval until ctx ends.
func (p *publisher) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	defer p.client.CloseIdleConnections()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		p.seq++
		seq := p.seq
		p.mu.Unlock()
		var wg sync.WaitGroup
		for _, s := range p.slots {
			wg.Go(func() {
				pub := publication{Seq: seq, Start: time.Now().UnixNano()}
				resp, err := p.client.Post("http://"+s.Addr()+"/publish", "text/plain", strings.NewReader(strconv.FormatInt(seq, 10)))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					pub.OK = resp.StatusCode/100 == 2
				}
				pub.End = time.Now().UnixNano()
				p.mu.Lock()
				p.log[s.Name] = append(p.log[s.Name], pub)
				p.mu.Unlock()
			})
		}
		wg.Wait()
	}
}

// required returns the messages that a connection to the replica of slot
// name, open from conn to close, must have received: those the replica
// accepted (2xx) in a request that began after the connection was set up
// (the client had the server's echo of its first message, so the hub
// tracked it) and ended before its close frame arrived.
func (p *publisher) required(name string, conn, close int64) []int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []int64
	for _, pub := range p.log[name] {
		if pub.OK && pub.Start > conn && pub.End < close {
			out = append(out, pub.Seq)
		}
	}
	return out
}

// wsVerdict is the check of every connection of every client.
type wsVerdict struct {
	clients, conns, going, byClient int
	delivered, checked              int64
	abnormal, gaps, bad, missing    int
	noReconnect, never1001          int
	problems                        []string
}

func (v *wsVerdict) failures() int64 {
	return int64(v.abnormal + v.gaps + v.bad + v.missing + v.noReconnect + v.never1001)
}

func (v *wsVerdict) problem(format string, args ...any) {
	if len(v.problems) < 20 {
		v.problems = append(v.problems, fmt.Sprintf(format, args...))
	}
}

// check checks the connections of every client (numbered 0..clients-1):
// every connection the server ended got close code 1001 and, before it,
// every message its replica accepted while it was open, in order and
// without a gap; every client got 1001 at least once, and was connected
// again at the end.
func check(pub *publisher, clients int, conns []wsConn) *wsVerdict {
	v := &wsVerdict{clients: clients, conns: len(conns)}
	byClient := map[int][]wsConn{}
	for _, c := range conns {
		byClient[c.Client] = append(byClient[c.Client], c)
		v.delivered += c.Count
		switch c.By {
		case "server":
			if c.Code != 1001 {
				v.abnormal++
				v.problem("client %d on %s: closed with %d, want 1001", c.Client, c.Server, c.Code)
			}
			v.going++
		case "client":
			v.byClient++
		default:
			v.abnormal++
			v.problem("client %d on %s: connection failed without a close frame (code %d): %s", c.Client, c.Server, c.Code, c.Err)
		}
		if c.Gaps > 0 || c.Bad > 0 {
			v.gaps += int(c.Gaps)
			v.bad += int(c.Bad)
			v.problem("client %d on %s: %d gaps, %d bad messages in %d..%d", c.Client, c.Server, c.Gaps, c.Bad, c.First, c.Last)
		}
		if c.Server == "" {
			v.abnormal++
			v.problem("client %d: no X-Server header in the handshake: cannot tell which replica served it", c.Client)
		}
		var missing []int64
		req := pub.required(c.Server, c.Conn, c.Close)
		v.checked += int64(len(req))
		for _, seq := range req {
			if c.First < 0 || seq < c.First || seq > c.Last {
				missing = append(missing, seq)
			}
		}
		if len(missing) > 0 {
			v.missing += len(missing)
			v.problem("client %d on %s (%s..%s): received %d..%d, missing %v",
				c.Client, c.Server, time.Unix(0, c.Conn).Format("15:04:05.000"), time.Unix(0, c.Close).Format("15:04:05.000"), c.First, c.Last, missing)
		}
	}
	for id := range clients {
		cs := byClient[id]
		sort.Slice(cs, func(i, j int) bool { return cs[i].Conn < cs[j].Conn })
		got1001 := false
		for _, c := range cs {
			got1001 = got1001 || c.By == "server" && c.Code == 1001
		}
		if !got1001 {
			v.never1001++
			v.problem("client %d: never got 1001 (%d connections)", id, len(cs))
		}
		if len(cs) == 0 || cs[len(cs)-1].By != "client" {
			v.noReconnect++
			v.problem("client %d: not connected at the end", id)
		}
	}
	return v
}

// Scenario 3: WebSocket clients across the replicas (gorilla's, and Node's
// ws for a fifth of them) receive numbered messages that a publisher sends
// to every replica; during a rolling restart every client gets 1001,
// reconnects through HAProxy, and no connection misses a message its
// replica accepted while it was open. The same with naive replicas shows
// what a plain Shutdown does to WebSocket clients.
func TestRollingRestartWebSocket(t *testing.T) {
	suite(t, "haproxy", "node")
	b := bins(t)
	const scenario = "3. rolling restart, WebSocket (gorilla + Node ws clients)"
	t.Run("lameduck", func(t *testing.T) {
		v, f := rollingRestartWS(t, lameduckKind(b))
		for _, p := range v.problems {
			t.Error(p)
		}
		if v.going < v.clients || v.checked == 0 {
			t.Errorf("not a test: %d connections ended with 1001 (want at least one per client, %d), %d messages checked", v.going, v.clients, v.checked)
		}
		record(t, row{Scenario: scenario, Replica: "lameduck", Requests: v.delivered, Unit: "messages", Failures: v.failures(),
			Restarts: len(f.stops), MaxStop: f.maxStop(), Notes: v.notes()})
	})
	t.Run("naive", func(t *testing.T) {
		v, f := rollingRestartWS(t, naiveKind(b))
		if v.failures() == 0 {
			t.Errorf("naive replicas: no WebSocket client saw a failure in %d restarts: the suite should see that a plain Shutdown drops WebSocket connections", len(f.stops))
		}
		record(t, row{Scenario: scenario, Replica: "naive", Requests: v.delivered, Unit: "messages", Failures: v.failures(),
			Restarts: len(f.stops), MaxStop: f.maxStop(), Notes: v.notes()})
	})
}

func (v *wsVerdict) notes() string {
	return fmt.Sprintf("%d clients, %d connections, %d closed with 1001; %d closed without a close frame or with another code, %d gaps, %d of %d required messages missing, %d clients never got 1001",
		v.clients, v.conns, v.going, v.abnormal, v.gaps, v.missing, v.checked, v.never1001)
}

// rollingRestartWS runs the WebSocket scenario against 3 replicas of kind k
// and returns the verdict.
func rollingRestartWS(t *testing.T, k kind) (*wsVerdict, *fleet) {
	t.Helper()
	b := bins(t)
	total := scaledN(500, 100)
	nodeN := total / 5
	goN := total - nodeN
	rounds := scaledN(1, 1)

	f := startFleet(t, k, 3, lbOptions{})
	url := "ws://" + f.lb.Addr + "/ws"
	script := filepath.Join(b.Root, "e2e", "testdata", "wsclient.js")
	procs := []*wsClients{
		{name: "wsload", n: goN, p: startProc(t, "wsload", b.Wsload, []string{"-url", url, "-n", strconv.Itoa(goN), "-first", "0", "-max", "10m"}, nil)},
		{name: "node-ws", n: nodeN, p: startProc(t, "node-ws", "node", []string{script, url, strconv.Itoa(nodeN), strconv.Itoa(goN), "X-Server"},
			[]string{"NODE_PATH=" + nodePath + ":" + os.Getenv("NODE_PATH")})},
	}
	waitConnected(t, procs, -1, 30*time.Second)

	pub := newPublisher(f.slots())
	ctx, cancel := context.WithCancel(context.Background())
	published := make(chan struct{})
	go func() {
		defer close(published)
		pub.run(ctx, 20*time.Millisecond)
	}()
	defer func() { cancel(); <-published }()
	waitPublished(t, pub, 25) // every client has messages before the first restart

	for range rounds {
		for i := range f.replicas {
			f.restart(t, i)
			waitConnected(t, procs, -1, 30*time.Second)
		}
	}
	waitPublished(t, pub, pub.count()+25) // and after the last one
	cancel()
	<-published
	// Before the clients close, every message accepted is delivered: the
	// check counts what a connection ended by its client must have too.
	waitConnected(t, procs, pub.count(), 30*time.Second)

	var conns []wsConn
	dialFailures := 0
	for _, w := range procs {
		out := w.finish(t)
		conns = append(conns, out.Conns...)
		dialFailures += len(out.DialFailures)
	}
	v := check(pub, total, conns)
	t.Logf("%s replicas: %d clients (%d gorilla, %d node ws), %d connections: %d ended by the server during the restarts, %d by the clients at the end; %d messages published, %d delivered, %d checked; %d reconnection attempts refused",
		k.Name, total, goN, nodeN, v.conns, v.going, v.byClient, pub.count(), v.delivered, v.checked, dialFailures)
	return v, f
}

// count returns the number of messages published so far.
func (p *publisher) count() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seq
}

// waitPublished waits until n messages have been published.
func waitPublished(t *testing.T, p *publisher, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for p.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d messages published after 30s", p.count(), n)
		}
		time.Sleep(10 * time.Millisecond) // the publisher's own pace
	}
}
