package wsmodule

import (
	"context"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lameduck/lameduck/lifecycle"
)

// pipeServer serves a hub with a real net/http server over net.Pipe
// connections, so that timing logic runs in synctest's fake time.
type pipeServer struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	srv   *http.Server
	hub   *Hub
}

func (p *pipeServer) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	}
}

func (p *pipeServer) Close() error {
	p.once.Do(func() { close(p.done) })
	return nil
}

func (p *pipeServer) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// newPipeServer starts serving hub at /ws. Call it inside a synctest
// bubble; the cleanup drains the hub and stops the server.
func newPipeServer(t *testing.T, hub *Hub) *pipeServer {
	return newPipeServerHandler(t, hub, hub)
}

// newPipeServerHandler is newPipeServer with handler, which serves hub, at
// /ws.
func newPipeServerHandler(t *testing.T, hub *Hub, handler http.Handler) *pipeServer {
	p := &pipeServer{conns: make(chan net.Conn), done: make(chan struct{}), hub: hub}
	mux := http.NewServeMux()
	mux.Handle("/ws", handler)
	p.srv = &http.Server{Handler: mux}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = p.srv.Serve(p)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = hub.Stop(ctx)
		_ = p.srv.Close()
		<-served
	})
	return p
}

// dial connects a gorilla client over a new pipe and waits until the hub's
// OnConnect has run for it, so that connections are numbered in dial order.
func (p *pipeServer) dial(t *testing.T) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		server, client := net.Pipe()
		select {
		case p.conns <- server:
			return client, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}}
	c, _, err := d.Dial("ws://pipe/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	synctest.Wait()
	return c
}

// closeTimes records, per connection index, how long after start its
// connection ended.
type closeTimes struct {
	start time.Time
	mu    sync.Mutex
	conns []*Conn
	ended map[*Conn]time.Duration
}

func newCloseTimes() *closeTimes {
	return &closeTimes{start: time.Now(), ended: map[*Conn]time.Duration{}}
}

func (ct *closeTimes) options() []Option {
	return []Option{
		OnConnect(func(c *Conn) {
			ct.mu.Lock()
			ct.conns = append(ct.conns, c)
			ct.mu.Unlock()
		}),
		OnClose(func(c *Conn, _ error) {
			ct.mu.Lock()
			ct.ended[c] = time.Since(ct.start)
			ct.mu.Unlock()
		}),
	}
}

// at returns when connection i ended and whether it has.
func (ct *closeTimes) at(i int) (time.Duration, bool) {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	d, ok := ct.ended[ct.conns[i]]
	return d, ok
}

func (ct *closeTimes) conn(i int) *Conn {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	return ct.conns[i]
}

// TestKeepaliveClosesPeerThatStopsAnsweringPings: a peer that reads but
// never answers pings is closed exactly websocket.pongTimeout after it last
// sent anything; a peer that answers stays connected.
func TestKeepaliveClosesPeerThatStopsAnsweringPings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig() // ping every 30s, pong within 60s
		ct := newCloseTimes()
		hub := newTestHub(t, cfg, ct.options()...)
		p := newPipeServer(t, hub)

		healthy := p.dial(t)
		mute := p.dial(t)
		mute.SetPingHandler(func(string) error { return nil })
		muteSpoke := make(chan struct{})
		go func() {
			// The mute peer sends one message at 45s, then nothing.
			time.Sleep(45 * time.Second)
			_ = mute.WriteMessage(websocket.TextMessage, []byte("hello"))
			close(muteSpoke)
		}()
		go func() { _, _ = readAll(healthy) }()
		go func() { _, _ = readAll(mute) }()

		time.Sleep(10 * time.Minute)
		<-muteSpoke
		if d, ok := ct.at(1); !ok || d != 45*time.Second+cfg.PongTimeout {
			t.Fatalf("mute peer ended at %v (ended: %v), want %v", d, ok, 45*time.Second+cfg.PongTimeout)
		}
		if _, ok := ct.at(0); ok || hub.Len() != 1 {
			t.Fatalf("the healthy peer was closed, or the hub tracks %d connections", hub.Len())
		}
	})
}

// TestSendQueueOverflow: when websocket.sendQueue messages wait for a peer
// that does not read, Send fails with ErrQueueFull, the connection closes
// (a second later, when the 1013 close frame could not be written either)
// and is counted; later sends get ErrClosed.
func TestSendQueueOverflow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.SendQueue = 4
		ct := newCloseTimes()
		hub := newTestHub(t, cfg, ct.options()...)
		p := newPipeServer(t, hub)
		p.dial(t) // never reads
		synctest.Wait()
		c := ct.conn(0)
		start := time.Now()
		for i := range cfg.SendQueue {
			if err := c.SendText("m"); err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
		}
		synctest.Wait()
		if st := hub.Stats(); st.Queued != cfg.SendQueue {
			t.Fatalf("stats %+v: want %d messages queued for the peer that does not read", st, cfg.SendQueue)
		}
		if err := c.SendText("one too many"); err != ErrQueueFull {
			t.Fatalf("send past the queue = %v, want ErrQueueFull", err)
		}
		if err := c.SendText("after"); err != ErrClosed {
			t.Fatalf("send after the overflow = %v, want ErrClosed", err)
		}
		if err := c.Send(MessageType(websocket.PingMessage), nil); err == nil {
			t.Fatal("Send accepted a control message type")
		}
		time.Sleep(time.Minute)
		if d, ok := ct.at(0); !ok || d != time.Second {
			t.Fatalf("overflowed connection ended after %v (ended %v), want 1s", d-start.Sub(ct.start), ok)
		}
		if st := hub.Stats(); st.Overflows != 1 || st.Active != 0 || st.Queued != 0 {
			t.Fatalf("stats %+v: want 1 overflow, none active, nothing queued", st)
		}
	})
}

// TestDrainEndsWithLastHandshake: in fake time, the drain returns at the
// very instant the slowest peer answers: no poll interval is added.
func TestDrainEndsWithLastHandshake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hub := newTestHub(t, testConfig())
		p := newPipeServer(t, hub)
		const clients = 10
		for i := range clients {
			c := p.dial(t)
			delay := time.Duration(i+1) * 70 * time.Millisecond
			c.SetCloseHandler(func(code int, _ string) error {
				time.Sleep(delay)
				return c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
			})
			go func() { _, _ = readAll(c) }()
		}
		synctest.Wait()
		start := time.Now()
		if err := hub.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != clients*70*time.Millisecond {
			t.Fatalf("drain took %v, want exactly %v (the slowest answer)", d, clients*70*time.Millisecond)
		}
	})
}

// TestDrainPhaseEndsWithLastHandshake: in fake time, the hub drain phase
// run by a real coordinator ends at the very instant the slowest peer's
// close handshake completes: no poll interval is added.
func TestDrainPhaseEndsWithLastHandshake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ct := newCloseTimes()
		hub := newTestHub(t, testConfig(), ct.options()...)
		p := newPipeServer(t, hub)
		const clients = 10
		for i := range clients {
			c := p.dial(t)
			delay := time.Duration(clients-i) * 70 * time.Millisecond
			c.SetCloseHandler(func(code int, _ string) error {
				time.Sleep(delay)
				return c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
			})
			go func() { _, _ = readAll(c) }()
		}
		synctest.Wait()
		coord := lifecycle.New(stopConfig(10 * time.Second))
		if err := coord.Register(hub.Step()); err != nil {
			t.Fatal(err)
		}
		report, err := coord.Stop(context.Background())
		if err != nil {
			t.Fatalf("stop: %v\n%v", err, report)
		}
		pr, end := phaseEnd(t, report, lifecycle.HubDrain)
		var last time.Duration
		for i := range clients {
			d, ok := ct.at(i)
			if !ok {
				t.Fatalf("connection %d had not ended when the stop returned", i)
			}
			last = max(last, d)
		}
		if !pr.Clean() || !end.Equal(ct.start.Add(last)) {
			t.Fatalf("hub drain phase ended %v after the last close handshake, want 0:\n%v", end.Sub(ct.start.Add(last)), report)
		}
	})
}

// TestDrainSpreadsCloseFrames: with websocket.closeSpread set, close frames
// go out at random times over the window, and the drain still ends with the
// last handshake.
func TestDrainSpreadsCloseFrames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.CloseSpread = 2 * time.Second
		hub := newTestHub(t, cfg)
		p := newPipeServer(t, hub)
		const clients = 50
		var mu sync.Mutex
		var got []time.Duration
		var start time.Time
		for range clients {
			c := p.dial(t)
			def := c.CloseHandler()
			c.SetCloseHandler(func(code int, text string) error {
				mu.Lock()
				got = append(got, time.Since(start))
				mu.Unlock()
				return def(code, text)
			})
			go func() { _, _ = readAll(c) }()
		}
		synctest.Wait()
		start = time.Now()
		if err := hub.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
		if len(got) != clients || got[len(got)-1] >= cfg.CloseSpread || got[len(got)-1]-got[0] < cfg.CloseSpread/2 {
			t.Fatalf("close frames received at %v: want %d spread over [0, %v)", got, clients, cfg.CloseSpread)
		}
		distinct := map[time.Duration]bool{}
		for _, d := range got {
			distinct[d] = true
		}
		if len(distinct) < clients/2 {
			t.Fatalf("close frames came in only %d distinct instants: %v", len(distinct), got)
		}
		if took != got[len(got)-1] {
			t.Fatalf("drain took %v, want exactly the last close at %v", took, got[len(got)-1])
		}
	})
}

// TestDrainParallelismSkipsStalledPeer: with one slot of parallelism and a
// peer that reads nothing first in line, the others' close frames go out
// once that close has stalled for closeStall; the stalled peer is cut at the
// deadline and reported.
func TestDrainParallelismSkipsStalledPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.CloseParallelism = 1
		ct := newCloseTimes()
		hub := newTestHub(t, cfg, ct.options()...)
		p := newPipeServer(t, hub)
		p.dial(t) // reads nothing: the close frame cannot be written
		synctest.Wait()
		const others = 5
		for range others {
			c := p.dial(t)
			go func() { _, _ = readAll(c) }()
		}
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		ct.start = start
		err := hub.Stop(ctx)
		if err == nil || time.Since(start) != time.Second {
			t.Fatalf("Stop = %v after %v, want an error at the 1s deadline", err, time.Since(start))
		}
		for i := 1; i <= others; i++ {
			if d, ok := ct.at(i); !ok || d != closeStall {
				t.Fatalf("peer %d ended at %v (ended %v), want %v", i, d, ok, closeStall)
			}
		}
		cut := hub.Stragglers()
		if len(cut) != 1 || cut[0].Age != time.Second || !strings.Contains(cut[0].Detail, "does not read") {
			t.Fatalf("stragglers %v: want the stalled peer, age 1s, not reading", cut)
		}
	})
}

// TestConnCloseWaitsForAnswer: Conn.Close writes what is queued, then the
// close frame; a peer that answers ends the connection cleanly, one that
// does not is dropped after websocket.handshakeTimeout, even if it keeps
// sending messages.
func TestConnCloseWaitsForAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		ct := newCloseTimes()
		hub := newTestHub(t, cfg, ct.options()...)
		p := newPipeServer(t, hub)
		polite := p.dial(t)
		silent := p.dial(t)
		silent.SetCloseHandler(func(int, string) error { return nil })
		chatty := p.dial(t)
		chatty.SetCloseHandler(func(int, string) error { return nil })
		politeEnd := make(chan []string, 1)
		go func() {
			got, err := readAll(polite)
			if code, text := closeCode(err); code == 4000 && text == "bye" {
				got = append(got, "closed 4000 bye")
			}
			politeEnd <- got
		}()
		go func() { _, _ = readAll(silent) }()
		go func() { _, _ = readAll(chatty) }()
		go func() {
			// Talks every second but never answers the close frame.
			for chatty.WriteMessage(websocket.TextMessage, []byte("still here")) == nil {
				time.Sleep(time.Second)
			}
		}()
		synctest.Wait()
		c := ct.conn(0)
		if err := c.Close(websocket.CloseNoStatusReceived, ""); err == nil {
			t.Fatal("Close accepted code 1005, which must not be sent")
		}
		if err := c.Close(4000, strings.Repeat("x", 124)); err == nil {
			t.Fatal("Close accepted a 124-byte reason")
		}
		for i := range 3 {
			c := ct.conn(i)
			if err := c.SendText("last words"); err != nil {
				t.Fatal(err)
			}
			if err := c.Close(4000, "bye"); err != nil {
				t.Fatal(err)
			}
			if err := c.Close(4000, "bye"); err != ErrClosed {
				t.Fatalf("second Close = %v, want ErrClosed", err)
			}
		}
		if got := <-politeEnd; len(got) != 2 || got[0] != "last words" || got[1] != "closed 4000 bye" {
			t.Fatalf("polite peer got %q", got)
		}
		time.Sleep(time.Minute)
		if d, ok := ct.at(0); !ok || d != 0 {
			t.Fatalf("polite peer ended at %v (ended %v), want at once", d, ok)
		}
		for i, name := range []string{1: "silent", 2: "chatty"} {
			if i == 0 {
				continue
			}
			if d, ok := ct.at(i); !ok || d != cfg.HandshakeTimeout {
				t.Fatalf("%s peer ended at %v (ended %v), want %v", name, d, ok, cfg.HandshakeTimeout)
			}
		}
		if st := hub.Stats(); st.ClosedClean != 1 {
			t.Fatalf("stats %+v: want 1 clean close", st)
		}
	})
}

// TestForceCloseDuringUpgrade: the drain's deadline passes while an upgrade
// has written its response but not returned. The connection is cut and
// reported as an upgrade in progress, counted as force-closed, and the drain
// ends the moment the upgrade returns, without a close handshake.
func TestForceCloseDuringUpgrade(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ct := newCloseTimes()
		hub := newTestHub(t, testConfig(), ct.options()...)
		handler, stalls := stalledHub(hub)
		p := newPipeServerHandler(t, hub, handler)
		client := p.dial(t)
		release := <-stalls

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		stopped := make(chan error, 1)
		go func() { stopped <- hub.Stop(ctx) }()
		time.Sleep(time.Second)
		synctest.Wait()
		cut := hub.Stragglers()
		if len(cut) != 1 || !strings.Contains(cut[0].Detail, "upgrade in progress") || cut[0].Age != time.Second {
			t.Fatalf("stragglers at the deadline %v: want the upgrade in progress, age 1s", cut)
		}
		if st := hub.Stats(); st.ForceClosed != 1 || st.Accepted != 0 || st.Active != 0 {
			t.Fatalf("stats %+v at the deadline: want 1 forced, none accepted or active", st)
		}

		close(release)
		if err := <-stopped; err == nil || time.Since(start) != time.Second {
			t.Fatalf("Stop = %v after %v, want an error at the 1s deadline", err, time.Since(start))
		}
		if _, err := readAll(client); websocket.IsCloseError(err, websocket.CloseGoingAway) {
			t.Fatalf("the cut connection got the drain's close frame: %v", err)
		}
		if st := hub.Stats(); st.ForceClosed != 1 || st.Accepted != 1 || st.ClosedClean != 0 || st.Active != 0 {
			t.Fatalf("stats %+v: want the upgrade accepted and force-closed, none active", st)
		}
		if cut := hub.Stragglers(); len(cut) != 1 {
			t.Fatalf("stragglers after the drain %v: want the cut upgrade once", cut)
		}
	})
}
