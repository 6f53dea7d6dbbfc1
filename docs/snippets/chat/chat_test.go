package chat

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/lameduck/lameduck/lameducktest"
	"github.com/lameduck/lameduck/lifecycle"
	"github.com/lameduck/lameduck/wsmodule"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The chat hub relays a message to the room and drains when the app stops.
func TestChat(t *testing.T) {
	app := lameducktest.Start(t, Chat, Feed)
	c, _, err := websocket.DefaultDialer.Dial("ws://"+app.Addr("public")+"/ws/chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, m, err := c.ReadMessage(); err != nil || string(m) != "hi" {
		t.Fatalf("relay: %q %v", m, err)
	}
	ended := make(chan error, 1)
	go func() { // a client answers the drain's close frame when it reads
		_, _, err := c.ReadMessage()
		ended <- err
	}()
	lameducktest.RequireClean(t, app.Stop())
	if err := <-ended; !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("the client ended with %v, want close 1001", err)
	}
}

// Without Fx: the echo hub and a publish route, drained by a coordinator.
func TestEchoWithoutFx(t *testing.T) {
	mux := http.NewServeMux()
	c := lifecycle.New(lifecycle.DefaultSettings(nil))
	if err := echo(wsmodule.DefaultSettings(nil), mux, c); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	hub, _ := wsmodule.NewHub("news", wsmodule.DefaultSettings(nil))
	rec := httptest.NewRecorder()
	publish(hub)(rec, httptest.NewRequest("POST", "/publish", strings.NewReader("x")))
	if !strings.Contains(rec.Body.String(), "queued for 0 connections") {
		t.Errorf("publish: %q", rec.Body.String())
	}
	if rep, err := c.Stop(context.Background()); err != nil || !rep.Clean() {
		t.Fatalf("stop: %v", err)
	}
}
