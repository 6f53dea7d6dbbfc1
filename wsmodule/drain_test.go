package wsmodule

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lameduck/lameduck/lifecycle"
)

// stopConfig returns stop settings with the given hub drain cap.
func stopConfig(hubDrain time.Duration) lifecycle.Settings {
	s := lifecycle.DefaultSettings(nil)
	s.HubDrain = hubDrain
	return s
}

// lastTime keeps the latest of several times.
type lastTime struct{ ns atomic.Int64 }

func (l *lastTime) mark() {
	now := time.Now().UnixNano()
	for {
		old := l.ns.Load()
		if now <= old || l.ns.CompareAndSwap(old, now) {
			return
		}
	}
}

func (l *lastTime) get() time.Time { return time.Unix(0, l.ns.Load()) }

// phaseEnd returns when phase p of the report ended.
func phaseEnd(t *testing.T, r *lifecycle.StopReport, p lifecycle.Phase) (lifecycle.PhaseReport, time.Time) {
	t.Helper()
	pr, ok := r.Phase(p)
	if !ok {
		t.Fatalf("no %s phase in the report:\n%v", p, r)
	}
	return pr, r.Start.Add(pr.Start + pr.Duration)
}

// TestDrainDeliversQueuedMessagesThenGoingAway: 1,000 clients; every message
// queued before the stop reaches its client, in order, before the close frame
// 1001 with the configured reason; the drain phase, run by a real
// coordinator, ends once every close handshake is complete (that it ends at
// that very instant, not at the next tick of a poll, is checked in fake time
// by TestDrainPhaseEndsWithLastHandshake).
func TestDrainDeliversQueuedMessagesThenGoingAway(t *testing.T) {
	const clients = 1000
	cfg := testConfig()
	cfg.CloseReason = "deploying, reconnect"
	var waiter connWaiter
	var lastClose lastTime
	var closed atomic.Int64
	var closeErrs sync.Map // *Conn -> error
	hub := newTestHub(t, cfg, OnConnect(waiter.onConnect), OnClose(func(c *Conn, err error) {
		closeErrs.Store(c, err)
		lastClose.mark()
		closed.Add(1)
	}))
	url := serve(t, hub)

	type result struct {
		got []string
		err error
	}
	results := make([]chan result, clients)
	sem := make(chan struct{}, 50)
	for i := range clients {
		sem <- struct{}{}
		c := dial(t, url, nil)
		<-sem
		results[i] = make(chan result, 1)
		go func() {
			got, err := readAll(c)
			results[i] <- result{got, err}
		}()
	}
	conns := waiter.wait(t, clients)

	// Queue before the stop: three messages to each connection of its own
	// (large enough that many are still queued when the drain begins), then
	// two broadcasts.
	payload := strings.Repeat("x", 4096)
	for _, c := range conns {
		for j := range 3 {
			if err := c.SendText(fmt.Sprintf("own %d %s", j, payload)); err != nil {
				t.Fatalf("send: %v", err)
			}
		}
	}
	for j := range 2 {
		if n, err := hub.Broadcast(TextMessage, []byte(fmt.Sprintf("all %d", j))); err != nil || n != clients {
			t.Fatalf("broadcast reached %d of %d: %v", n, clients, err)
		}
	}

	// A clean drain ends when its last connection does (0.1-2 s here), so
	// the cap only bounds a failing run: it is far above that, so that a
	// loaded machine cannot make a clean drain fail.
	stop := stopConfig(time.Minute)
	stop.Total = 2 * time.Minute
	coord := lifecycle.New(stop)
	if err := coord.Register(hub.Step()); err != nil {
		t.Fatal(err)
	}
	report, err := coord.Stop(context.Background())
	closedAtStop := closed.Load()
	if err != nil {
		t.Fatalf("stop: %v\n%v", err, report)
	}
	pr, end := phaseEnd(t, report, lifecycle.HubDrain)
	if !pr.Clean() || len(pr.Steps) != 1 || pr.Steps[0].Name != "ws.chat" {
		t.Fatalf("hub drain phase not clean:\n%v", report)
	}

	want := []string{"own 0 " + payload, "own 1 " + payload, "own 2 " + payload, "all 0", "all 1"}
	for i := range clients {
		r := <-results[i]
		if len(r.got) != len(want) {
			t.Fatalf("client %d got %d messages, want %d", i, len(r.got), len(want))
		}
		for j := range want {
			if r.got[j] != want[j] {
				t.Fatalf("client %d message %d = %.20q, want %.20q", i, j, r.got[j], want[j])
			}
		}
		if code, text := closeCode(r.err); code != websocket.CloseGoingAway || text != cfg.CloseReason {
			t.Fatalf("client %d ended with %v, want close 1001 %q", i, r.err, cfg.CloseReason)
		}
	}
	for _, c := range conns {
		v, _ := closeErrs.Load(c)
		if code, _ := closeCode(v.(error)); code != websocket.CloseGoingAway {
			t.Fatalf("server side of %v ended with %v, want the peer's close 1001", c.RemoteAddr(), v)
		}
	}
	if s := hub.Stats(); s.ClosedClean != clients || s.ForceClosed != 0 || s.Active != 0 {
		t.Fatalf("stats %+v: want %d clean closes, none forced, none active", s, clients)
	}
	// The phase ends only once the last connection is gone: every OnClose
	// has returned when the stop does.
	if closedAtStop != clients {
		t.Fatalf("the stop returned when %d of %d connections had ended", closedAtStop, clients)
	}
	t.Logf("drain of %d connections took %v; phase ended %v after the last close handshake",
		clients, pr.Duration, end.Sub(lastClose.get()))
}

// TestDrainForceClosesPeerThatNeverAnswers: a client that never answers the
// close frame is force-closed at the phase deadline and named in the report;
// the other clients complete their handshakes at once.
func TestDrainForceClosesPeerThatNeverAnswers(t *testing.T) {
	const others = 20
	var waiter connWaiter
	var mu sync.Mutex
	closedAt := map[string]time.Time{} // remote address -> when its connection ended
	hub := newTestHub(t, testConfig(), OnConnect(waiter.onConnect), OnClose(func(c *Conn, err error) {
		mu.Lock()
		closedAt[c.RemoteAddr().String()] = time.Now()
		mu.Unlock()
	}))
	url := serve(t, hub)

	silentConnected := time.Now() // before the server's side of it
	silent := dial(t, url, nil)
	silentClose := make(chan struct{})
	silent.SetCloseHandler(func(int, string) error { close(silentClose); return nil }) // no answer
	go func() { _, _ = readAll(silent) }()

	ends := make([]chan error, others)
	for i := range others {
		c := dial(t, url, nil)
		ends[i] = make(chan error, 1)
		go func() {
			_, err := readAll(c)
			ends[i] <- err
		}()
	}
	waiter.wait(t, others+1)

	const drainCap = 700 * time.Millisecond
	coord := lifecycle.New(stopConfig(drainCap))
	if err := coord.Register(hub.Step()); err != nil {
		t.Fatal(err)
	}
	stopStart := time.Now()
	report, err := coord.Stop(context.Background())
	if err == nil {
		t.Fatalf("stop reported clean although a peer never answered:\n%v", report)
	}
	<-silentClose // it did receive the close frame
	pr, _ := phaseEnd(t, report, lifecycle.HubDrain)
	// The step sees its context end at the deadline and force-closes; the
	// phase is forced or, if the step returned before the coordinator's own
	// timer fired, completed with a forced step. Either way it is not clean.
	if pr.Clean() || len(pr.Steps) != 1 || pr.Steps[0].Outcome != lifecycle.StepForced || pr.Duration < drainCap {
		t.Fatalf("hub drain phase after %v: want a forced step after %v:\n%v", pr.Duration, drainCap, report)
	}
	cut := report.Stragglers()
	if len(cut) != 1 {
		t.Fatalf("report names %d stragglers, want 1:\n%v", len(cut), report)
	}
	s := cut[0]
	if s.Kind != "websocket" || s.Name != "chat" || !strings.Contains(s.Detail, silent.LocalAddr().String()) ||
		!strings.Contains(s.Detail, "no answer") {
		t.Fatalf("straggler %v: want websocket chat with remote %v and no answer", s, silent.LocalAddr())
	}
	if s.Age < drainCap || s.Age > time.Since(silentConnected) {
		t.Fatalf("straggler age %v: want between %v and %v", s.Age, drainCap, time.Since(silentConnected))
	}
	for i := range others {
		if code, _ := closeCode(<-ends[i]); code != websocket.CloseGoingAway {
			t.Fatalf("client %d did not get close 1001", i)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for addr, at := range closedAt {
		if addr == silent.LocalAddr().String() {
			continue
		}
		if d := at.Sub(stopStart); d > drainCap/2 {
			t.Fatalf("client %s finished its handshake %v into the drain: held up by the silent peer", addr, d)
		}
	}
	if st := hub.Stats(); st.ClosedClean != others || st.ForceClosed != 1 {
		t.Fatalf("stats %+v: want %d clean, 1 forced", st, others)
	}
}

// stuckClient dials a client that never reads, with small socket buffers on
// both ends so that the server's writes block after a few messages. It
// returns the server side of the connection.
func stuckClient(t *testing.T, url string, waiter *connWaiter, n int) (*websocket.Conn, *Conn) {
	t.Helper()
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			_ = c.(*net.TCPConn).SetReadBuffer(4096)
		}
		return c, err
	}}
	c, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	conns := waiter.wait(t, n)
	sc := conns[n-1]
	if err := sc.ws.NetConn().(*net.TCPConn).SetWriteBuffer(4096); err != nil {
		t.Fatal(err)
	}
	return c, sc
}

// TestStuckReaderCannotStallBroadcast: a client that stops reading fills its
// TCP buffers and then its queue; broadcasts never wait for it, every other
// client receives every message, and the stuck connection is closed and
// counted as an overflow.
func TestStuckReaderCannotStallBroadcast(t *testing.T) {
	const others, messages = 20, 200
	cfg := testConfig()
	cfg.SendQueue = 8
	var waiter connWaiter
	stuckEnded := make(chan error, 1)
	var stuckServer atomic.Pointer[Conn]
	hub := newTestHub(t, cfg, OnConnect(waiter.onConnect), OnClose(func(c *Conn, err error) {
		if c == stuckServer.Load() {
			stuckEnded <- err
		}
	}))
	url := serve(t, hub)
	_, sc := stuckClient(t, url, &waiter, 1)
	stuckServer.Store(sc)

	// The others acknowledge each message so that the test broadcasts at
	// the pace of the readers, as a live feed would: only the stuck peer
	// falls behind.
	acks := make(chan int, others*messages)
	ends := make([]chan []string, others)
	for i := range others {
		c := dial(t, url, nil)
		ends[i] = make(chan []string, 1)
		go func() {
			got, _ := readAllAck(c, acks)
			ends[i] <- got
		}()
	}
	waiter.wait(t, others+1)

	payload := strings.Repeat("y", 16<<10)
	var slowest time.Duration
	for m := range messages {
		start := time.Now()
		n, err := hub.Broadcast(TextMessage, []byte(fmt.Sprintf("%04d %s", m, payload)))
		slowest = max(slowest, time.Since(start))
		if err != nil || n < others {
			t.Fatalf("broadcast %d reached %d connections: %v", m, n, err)
		}
		for range others {
			<-acks
		}
	}
	// The broadcast loop finished although one peer reads nothing, and no
	// single Broadcast waited on it (its writes block for up to
	// websocket.writeTimeout, 10s).
	if slowest > time.Second {
		t.Fatalf("a Broadcast call took %v", slowest)
	}
	select {
	case <-stuckEnded:
	case <-time.After(10 * time.Second):
		t.Fatal("the stuck connection was not closed")
	}
	if st := hub.Stats(); st.Overflows != 1 {
		t.Fatalf("stats %+v: want exactly 1 overflow", st)
	}
	if err := sc.SendText("late"); err != ErrClosed {
		t.Fatalf("Send on the overflowed connection = %v, want ErrClosed", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hub.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range others {
		got := <-ends[i]
		if len(got) != messages {
			t.Fatalf("client %d got %d messages, want %d", i, len(got), messages)
		}
		for m, msg := range got {
			if !strings.HasPrefix(msg, fmt.Sprintf("%04d ", m)) {
				t.Fatalf("client %d message %d starts %.8q", i, m, msg)
			}
		}
	}
}

// readAllAck is readAll that reports each message on acks.
func readAllAck(c *websocket.Conn, acks chan<- int) ([]string, error) {
	var got []string
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			return got, err
		}
		got = append(got, string(data))
		acks <- len(got)
	}
}

// TestStuckReaderCannotStallDrain: the drain's close frames go out even
// when a peer that reads nothing is first in line with one slot of
// parallelism; that peer is force-closed at the deadline and reported, the
// others finish at once.
func TestStuckReaderCannotStallDrain(t *testing.T) {
	const others = 20
	cfg := testConfig()
	cfg.CloseParallelism = 1
	var waiter connWaiter
	var lastOther lastTime
	var stuckServer atomic.Pointer[Conn]
	hub := newTestHub(t, cfg, OnConnect(waiter.onConnect), OnClose(func(c *Conn, err error) {
		if c != stuckServer.Load() {
			lastOther.mark()
		}
	}))
	url := serve(t, hub)
	stuck, sc := stuckClient(t, url, &waiter, 1)
	stuckServer.Store(sc)
	// Fill the stuck peer's buffers: its writer blocks mid-queue.
	big := strings.Repeat("z", 64<<10)
	for range 10 {
		if err := sc.SendText(big); err != nil {
			t.Fatal(err)
		}
	}
	ends := make([]chan error, others)
	for i := range others {
		c := dial(t, url, nil)
		ends[i] = make(chan error, 1)
		go func() {
			_, err := readAll(c)
			ends[i] <- err
		}()
	}
	waiter.wait(t, others+1)

	const drainCap = time.Second
	coord := lifecycle.New(stopConfig(drainCap))
	if err := coord.Register(hub.Step()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	report, _ := coord.Stop(context.Background())
	for i := range others {
		if code, _ := closeCode(<-ends[i]); code != websocket.CloseGoingAway {
			t.Fatalf("client %d did not get close 1001", i)
		}
	}
	if d := lastOther.get().Sub(start); d > drainCap/2 {
		t.Fatalf("the last responsive client finished %v into the drain: the stuck peer held it up", d)
	}
	cut := report.Stragglers()
	if len(cut) != 1 || !strings.Contains(cut[0].Detail, stuck.LocalAddr().String()) || !strings.Contains(cut[0].Detail, "does not read") {
		t.Fatalf("stragglers %v: want only the stuck peer %v, not reading:\n%v", cut, stuck.LocalAddr(), report)
	}
}
