package wsmodule

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lameduck/lameduck/config"
	"github.com/lameduck/lameduck/lifecycle"
)

// stopConfig returns stop settings with the given hub drain cap.
func stopConfig(hubDrain time.Duration) config.Stop {
	s := config.Default(nil).Stop
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
// coordinator, ends right after the last close handshake.
func TestDrainDeliversQueuedMessagesThenGoingAway(t *testing.T) {
	const clients = 1000
	cfg := testConfig()
	cfg.CloseReason = "deploying, reconnect"
	var waiter connWaiter
	var lastClose lastTime
	var closeErrs sync.Map // *Conn -> error
	hub := newTestHub(t, cfg, OnConnect(waiter.onConnect), OnClose(func(c *Conn, err error) {
		closeErrs.Store(c, err)
		lastClose.mark()
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

	coord := lifecycle.New(stopConfig(10 * time.Second))
	if err := coord.Register(hub.Step()); err != nil {
		t.Fatal(err)
	}
	report, err := coord.Stop(context.Background())
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
	// The phase ends when the last connection is gone, not at the next tick
	// of a poll: the gap is microseconds; the bound is generous for -race on
	// a loaded 2-core machine and still far below a 200ms poll interval.
	gap := end.Sub(lastClose.get())
	t.Logf("drain of %d connections took %v; phase ended %v after the last close handshake", clients, pr.Duration, gap)
	if gap < 0 || gap > 100*time.Millisecond {
		t.Fatalf("drain phase ended %v after the last close handshake; want at most 100ms", gap)
	}
}
