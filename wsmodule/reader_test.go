package wsmodule

import (
	"fmt"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// deep uses about n KiB of stack.
//
//go:noinline
func deep(n int) int {
	var pad [1024]byte
	pad[n%len(pad)] = byte(n)
	if n == 0 {
		return int(pad[0])
	}
	return deep(n-1) + int(pad[n%len(pad)])
}

// TestReaderHandsOverAfterStackGrowth: after each burst of messages, whose
// callbacks here grow the reader's stack, a fresh reader takes over the
// wait; every message is still handled once, in order.
func TestReaderHandsOverAfterStackGrowth(t *testing.T) {
	hub := newTestHub(t, testConfig(), OnMessage(func(c *Conn, typ MessageType, data []byte) {
		deep(32) // 32 KiB of stack
		echo(c, typ, data)
	}))
	c := dial(t, serve(t, hub), nil)
	for round := range 3 {
		for i := range 50 {
			if err := c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, "%d/%d", round, i)); err != nil {
				t.Fatal(err)
			}
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for i := range 50 {
			_, data, err := c.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("%d/%d", round, i); string(data) != want {
				t.Fatalf("echo %q, want %q", data, want)
			}
		}
	}
}

// TestMessagesInOneSegment: frames that arrive together, and sit in the
// read buffer after the first is read, are handled without waiting for more
// data from the socket.
func TestMessagesInOneSegment(t *testing.T) {
	hub := newTestHub(t, testConfig(), OnMessage(echo))
	c := dial(t, serve(t, hub), nil)
	var frames []byte
	const n = 60
	for i := range n {
		payload := fmt.Sprintf("m%02d", i)
		// FIN + text; masked (client frames must be) with a zero key, so
		// the payload is sent as is.
		frames = append(frames, 0x81, 0x80|byte(len(payload)), 0, 0, 0, 0)
		frames = append(frames, payload...)
	}
	if _, err := c.NetConn().Write(frames); err != nil { // one write, one segment
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := range n {
		_, data, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("echo %d: %v", i, err)
		}
		if want := fmt.Sprintf("m%02d", i); string(data) != want {
			t.Fatalf("echo %q, want %q", data, want)
		}
	}
}

// TestKeepaliveOverTCP: over a real socket, a peer that stops answering
// pings is closed once websocket.pongTimeout passes without a word from it,
// while a peer that answers stays.
func TestKeepaliveOverTCP(t *testing.T) {
	cfg := testConfig()
	cfg.PingPeriod = 50 * time.Millisecond
	cfg.PongTimeout = 300 * time.Millisecond
	ended := make(chan time.Time, 2)
	var waiter connWaiter
	hub := newTestHub(t, cfg, OnConnect(waiter.onConnect), OnMessage(echo), OnClose(func(*Conn, error) { ended <- time.Now() }))
	url := serve(t, hub)
	healthy := dial(t, url, nil)
	mute := dial(t, url, nil)
	mute.SetPingHandler(func(string) error { return nil }) // reads pings, never answers
	pings := make(chan struct{}, 100)
	healthy.SetPingHandler(func(data string) error {
		pings <- struct{}{}
		return healthy.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	go func() { _, _ = readAll(mute) }()
	healthyMsgs := make(chan string, 1)
	go func() {
		for {
			_, data, err := healthy.ReadMessage()
			if err != nil {
				close(healthyMsgs)
				return
			}
			healthyMsgs <- string(data)
		}
	}()
	waiter.wait(t, 2)
	start := time.Now()
	var at time.Time
	select {
	case at = <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the mute peer was never closed")
	}
	if d := at.Sub(start); d < cfg.PongTimeout-50*time.Millisecond {
		t.Fatalf("mute peer closed after %v, before the pong timeout %v", d, cfg.PongTimeout)
	}
	if len(pings) < 2 {
		t.Fatalf("the healthy peer got %d pings, want several", len(pings))
	}
	if err := healthy.WriteMessage(websocket.TextMessage, []byte("alive")); err != nil {
		t.Fatal(err)
	}
	if got := <-healthyMsgs; got != "alive" {
		t.Fatalf("healthy peer: echo %q", got)
	}
	select {
	case <-ended:
		t.Fatal("the healthy peer was closed too")
	default:
	}
}
