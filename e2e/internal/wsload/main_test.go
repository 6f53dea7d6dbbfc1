package main

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A client records a gap and the server's 1001, reconnects at once, and
// closes with 1000 at the end of the run; "sync" counts stay right.
func TestClientRecordsGapsClosesAndReconnects(t *testing.T) {
	var conns atomic.Int32
	second := make(chan *websocket.Conn, 1)
	done := make(chan struct{})
	var handlers sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers.Add(1)
		defer handlers.Done()
		w.Header().Set("X-Server", "r"+strconv.Itoa(int(conns.Add(1))))
		c, err := (&websocket.Upgrader{}).Upgrade(w, r, w.Header())
		if err != nil {
			return
		}
		defer c.Close()
		if _, m, err := c.ReadMessage(); err != nil || string(m) != Probe {
			t.Errorf("first message %q, %v; want the probe", m, err)
			return
		}
		_ = c.WriteMessage(websocket.TextMessage, []byte(Probe))
		if conns.Load() == 1 {
			for _, m := range []string{"1", "2", "4", "x"} { // 3 is missing, x is not a number
				_ = c.WriteMessage(websocket.TextMessage, []byte(m))
			}
			_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "bye"))
			_, _, _ = c.ReadMessage() // the client's answer
			return
		}
		_ = c.WriteMessage(websocket.TextMessage, []byte("5"))
		_ = c.WriteMessage(websocket.TextMessage, []byte("6"))
		second <- c
		// Echo close frames until the client closes.
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}))
	defer srv.Close()

	s := &state{url: "ws" + strings.TrimPrefix(srv.URL, "http"), header: "X-Server", stopping: make(chan struct{})}
	go func() {
		defer close(done)
		s.client(7)
	}()
	<-second
	deadline := time.Now().Add(5 * time.Second)
	for s.connected.Load() != 1 || s.minLast() != 6 { // until 5 and 6 arrived
		if time.Now().After(deadline) {
			t.Fatalf("connected %d, min last %d; want 1 and 6", s.connected.Load(), s.minLast())
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(s.stopping)
	<-done
	handlers.Wait()

	if len(s.out.Conns) != 2 {
		t.Fatalf("%d connections recorded, want 2: %+v", len(s.out.Conns), s.out.Conns)
	}
	first, last := s.out.Conns[0], s.out.Conns[1]
	if first.Client != 7 || first.Server != "r1" || first.By != "server" || first.Code != websocket.CloseGoingAway ||
		first.First != 1 || first.Last != 4 || first.Count != 3 || first.Gaps != 1 || first.Bad != 1 {
		t.Errorf("first connection %+v", first)
	}
	if last.Server != "r2" || last.By != "client" || last.Code != websocket.CloseNormalClosure || last.First != 5 || last.Last != 6 || last.Gaps != 0 {
		t.Errorf("second connection %+v", last)
	}
	if first.Conn >= first.Close || first.Close > last.Conn || last.Conn >= last.Close {
		t.Errorf("times out of order: %+v %+v", first, last)
	}
	if s.connected.Load() != 0 {
		t.Errorf("%d still counted as connected", s.connected.Load())
	}
}
