package wsmodule

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lameduck/lameduck/lifecycle"
)

// TestBroadcastReachesClientOnceDialReturns: a broadcast made the moment the
// client's Dial returns reaches that client, first, in every one of many
// iterations over real loopback sockets. The test then sends a marker to
// the connection (its OnConnect has run, so the hub certainly tracks it): a
// client whose first message is the marker missed the broadcast.
func TestBroadcastReachesClientOnceDialReturns(t *testing.T) {
	const workers, iterations = 4, 150
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		// One hub per worker, so that a broadcast reaches only the
		// worker's own connections; the workers keep both cores busy,
		// which widens any window between the handshake and the hub.
		conns := make(chan *Conn, 1)
		hub := newTestHub(t, testConfig(), OnConnect(func(c *Conn) { conns <- c }))
		url := serve(t, hub)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- dialThenBroadcast(hub, url, conns, w, iterations)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// dialThenBroadcast runs n iterations of Dial, Broadcast, marker; see
// TestBroadcastReachesClientOnceDialReturns.
func dialThenBroadcast(hub *Hub, url string, conns <-chan *Conn, worker, n int) error {
	for i := range n {
		client, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			return fmt.Errorf("worker %d iteration %d: dial: %w", worker, i, err)
		}
		want := fmt.Sprintf("broadcast %d/%d", worker, i)
		if _, err := hub.Broadcast(TextMessage, []byte(want)); err != nil {
			client.Close()
			return err
		}
		var sc *Conn
		select {
		case sc = <-conns:
		case <-time.After(10 * time.Second):
			client.Close()
			return fmt.Errorf("worker %d iteration %d: OnConnect did not run", worker, i)
		}
		if err := sc.SendText("marker"); err != nil {
			client.Close()
			return fmt.Errorf("worker %d iteration %d: send marker: %w", worker, i, err)
		}
		_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, got, err := client.ReadMessage()
		client.Close()
		if err != nil {
			return fmt.Errorf("worker %d iteration %d: read: %w", worker, i, err)
		}
		if string(got) != want {
			return fmt.Errorf("worker %d iteration %d: first message %q, want %q: a broadcast made after Dial returned missed the connection", worker, i, got, want)
		}
	}
	return nil
}

// stallAfterHandshake is middleware that takes the connection over for the
// hub with a net.Conn whose first Write (the handshake's 101 response) goes
// out, then signals written and waits for release: the schedule in which
// the server is preempted right after the response left, as long as the test
// wants.
type stallAfterHandshake struct {
	http.ResponseWriter
	written chan struct{}
	release chan struct{}
}

func (s *stallAfterHandshake) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *stallAfterHandshake) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err != nil {
		return conn, brw, err
	}
	return &stallConn{Conn: conn, written: s.written, release: s.release}, brw, nil
}

type stallConn struct {
	net.Conn
	once    sync.Once
	written chan struct{}
	release chan struct{}
}

func (s *stallConn) Write(p []byte) (int, error) {
	n, err := s.Conn.Write(p)
	s.once.Do(func() {
		close(s.written)
		<-s.release
	})
	return n, err
}

// stalledHub serves hub behind stallAfterHandshake: each upgrade stalls
// after its 101 response until the test closes the release channel it gets
// from the returned channel.
func stalledHub(hub *Hub) (http.Handler, <-chan chan struct{}) {
	stalls := make(chan chan struct{}, 16)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := &stallAfterHandshake{ResponseWriter: w, written: make(chan struct{}), release: make(chan struct{})}
		go func() {
			<-s.written
			stalls <- s.release
		}()
		hub.ServeHTTP(s, r)
	}), stalls
}

// TestBroadcastDuringStalledUpgrade: the server writes the 101 response and
// then stalls before Upgrade returns; a broadcast made when the client's
// Dial has returned is counted for the connection, reaches it first once the
// server goes on, and Stats count the connection only once its upgrade is
// complete.
func TestBroadcastDuringStalledUpgrade(t *testing.T) {
	conns := make(chan *Conn, 1)
	hub := newTestHub(t, testConfig(), OnConnect(func(c *Conn) { conns <- c }))
	handler, stalls := stalledHub(hub)
	mux := http.NewServeMux()
	mux.Handle("/ws", handler)
	url := serveHandler(t, mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hub.Stop(ctx)
	})

	client := dial(t, url, nil)
	release := <-stalls
	n, err := hub.Broadcast(TextMessage, []byte("hello"))
	if err != nil || n != 1 {
		t.Fatalf("broadcast while the upgrade finishes reached %d connections (%v), want 1", n, err)
	}
	if st := hub.Stats(); st.Active != 0 || st.Accepted != 0 || hub.Len() != 0 {
		t.Fatalf("stats %+v, Len %d while the upgrade is not complete: want none active or accepted", st, hub.Len())
	}
	visited := 0
	hub.Each(func(*Conn) bool { visited++; return true })
	if visited != 0 {
		t.Fatalf("Each visited %d connections while the upgrade is not complete, want 0", visited)
	}
	close(release)
	sc := <-conns
	if err := sc.SendText("marker"); err != nil {
		t.Fatal(err)
	}
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, want := range []string{"hello", "marker"} {
		_, got, err := client.ReadMessage()
		if err != nil || string(got) != want {
			t.Fatalf("client read %q, %v; want %q", got, err, want)
		}
	}
	if st := hub.Stats(); st.Active != 1 || st.Accepted != 1 {
		t.Fatalf("stats %+v: want 1 active, 1 accepted", st)
	}
}

// TestUpgradeDuringDrainStartIsDrained: the drain begins while an upgrade
// has written its 101 response but not returned. The connection is named
// by Stragglers meanwhile, then gets what was broadcast to it and the
// drain's close frame, and the drain ends cleanly.
func TestUpgradeDuringDrainStartIsDrained(t *testing.T) {
	hub := newTestHub(t, testConfig())
	handler, stalls := stalledHub(hub)
	mux := http.NewServeMux()
	mux.Handle("/ws", handler)
	url := serveHandler(t, mux)

	client := dial(t, url, nil)
	release := <-stalls
	if n, err := hub.Broadcast(TextMessage, []byte("before the drain")); err != nil || n != 1 {
		t.Fatalf("broadcast reached %d: %v", n, err)
	}
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stopped <- hub.Stop(ctx)
	}()
	<-hub.Draining()
	cut := hub.Stragglers()
	if len(cut) != 1 || !strings.Contains(cut[0].Detail, "upgrade in progress") || !strings.Contains(cut[0].Detail, client.LocalAddr().String()) {
		t.Fatalf("stragglers during the drain %v: want the upgrade in progress from %v", cut, client.LocalAddr())
	}
	close(release)
	got, err := readAll(client)
	if len(got) != 1 || got[0] != "before the drain" {
		t.Fatalf("client got %q, want the broadcast", got)
	}
	if code, _ := closeCode(err); code != websocket.CloseGoingAway {
		t.Fatalf("client ended with %v, want close 1001", err)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if st := hub.Stats(); st.Accepted != 1 || st.ClosedClean != 1 || st.ForceClosed != 0 || st.Active != 0 {
		t.Fatalf("stats %+v: want 1 accepted and closed cleanly", st)
	}
	if cut := hub.Stragglers(); len(cut) != 0 {
		t.Fatalf("stragglers after a clean drain: %v", cut)
	}
}

// TestUpgradeRacingDrainIsRefusedOrDrained: an upgrade request and the
// start of the drain race, many times over real loopback sockets; each
// upgrade is either refused with 503 or completed and then drained with
// 1001, and the drain always ends cleanly.
func TestUpgradeRacingDrainIsRefusedOrDrained(t *testing.T) {
	const iterations = 100
	var refused, drained int
	for i := range iterations {
		hub := newTestHub(t, testConfig())
		stopped := make(chan error, 1)
		mux := http.NewServeMux()
		mux.Handle("/ws", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// The drain begins the moment the request reaches the hub.
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				stopped <- hub.Stop(ctx)
			}()
			hub.ServeHTTP(w, r)
		}))
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		served := make(chan struct{})
		go func() {
			defer close(served)
			_ = srv.Serve(ln)
		}()

		client, resp, err := websocket.DefaultDialer.Dial("ws://"+ln.Addr().String()+"/ws", nil)
		switch {
		case err == nil:
			_, rerr := readAll(client)
			client.Close()
			if code, _ := closeCode(rerr); code != websocket.CloseGoingAway {
				t.Fatalf("iteration %d: upgraded connection ended with %v, want the drain's 1001", i, rerr)
			}
			drained++
		case resp != nil && resp.StatusCode == http.StatusServiceUnavailable:
			refused++
		default:
			t.Fatalf("iteration %d: dial: %v (response %v), want an upgrade or 503", i, err, resp)
		}
		if err := <-stopped; err != nil {
			t.Fatalf("iteration %d: drain: %v", i, err)
		}
		st := hub.Stats()
		if st.Accepted+st.Rejected != 1 || st.ClosedClean != st.Accepted || st.ForceClosed != 0 || st.Active != 0 {
			t.Fatalf("iteration %d: stats %+v: want one upgrade accepted and closed cleanly, or rejected", i, st)
		}
		_ = srv.Close()
		<-served
	}
	t.Logf("%d upgrades refused, %d drained", refused, drained)
}

// lateDrain is a hub drain that ignores its phase's deadline (as if its
// force-close were slow): the coordinator abandons it at the force
// deadline.
type lateDrain struct {
	*Hub
	ctx context.Context
}

func (l lateDrain) Stop(context.Context) error { return l.Hub.Stop(l.ctx) }

// TestStragglersOfAbandonedDrain: the coordinator abandons a drain that
// ignores its deadline; its report names the connection the drain was still
// closing at that moment (a peer that never answers the close frame). Once
// the drain force-closes that connection, Stragglers names it once.
func TestStragglersOfAbandonedDrain(t *testing.T) {
	var waiter connWaiter
	hub := newTestHub(t, testConfig(), OnConnect(waiter.onConnect))
	url := serve(t, hub)
	silent := dial(t, url, nil)
	silent.SetCloseHandler(func(int, string) error { return nil }) // no answer
	go func() { _, _ = readAll(silent) }()
	polite := dial(t, url, nil)
	politeEnd := make(chan error, 1)
	go func() {
		_, err := readAll(polite)
		politeEnd <- err
	}()
	waiter.wait(t, 2)
	if cut := hub.Stragglers(); len(cut) != 0 {
		t.Fatalf("stragglers before the drain: %v", cut)
	}

	drainCtx, endDrain := context.WithCancel(context.Background())
	defer endDrain()
	const drainCap = 700 * time.Millisecond
	coord := lifecycle.New(stopConfig(drainCap))
	if err := coord.Register(lifecycle.Step{Phase: lifecycle.HubDrain, Name: "ws.chat", Stopper: lateDrain{hub, drainCtx}}); err != nil {
		t.Fatal(err)
	}
	report, err := coord.Stop(context.Background())
	if err == nil {
		t.Fatalf("stop reported clean although the drain was abandoned:\n%v", report)
	}
	pr, _ := phaseEnd(t, report, lifecycle.HubDrain)
	if len(pr.Steps) != 1 || pr.Steps[0].Outcome != lifecycle.StepAbandoned {
		t.Fatalf("hub drain phase: want an abandoned step:\n%v", report)
	}
	cut := report.Stragglers()
	if len(cut) != 1 || cut[0].Kind != "websocket" || cut[0].Name != "chat" ||
		!strings.Contains(cut[0].Detail, silent.LocalAddr().String()) || !strings.Contains(cut[0].Detail, "close frame sent, no answer") ||
		cut[0].Age < drainCap {
		t.Fatalf("report names %v: want the silent peer %v, close frame sent, no answer, age at least %v:\n%v", cut, silent.LocalAddr(), drainCap, report)
	}
	if code, _ := closeCode(<-politeEnd); code != websocket.CloseGoingAway {
		t.Fatal("the polite peer did not get close 1001")
	}

	// The late drain still runs; end it: it force-closes the silent peer.
	endDrain()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hub.Stop(ctx); err != nil { // waits for the first call
		t.Fatal(err)
	}
	after := hub.Stragglers()
	if len(after) != 1 || after[0].Detail != cut[0].Detail {
		t.Fatalf("stragglers after the force-close %v: want the silent peer once", after)
	}
	if st := hub.Stats(); st.ForceClosed != 1 || st.ClosedClean != 1 || st.Active != 0 {
		t.Fatalf("stats %+v: want 1 forced, 1 clean, none active", st)
	}
}
