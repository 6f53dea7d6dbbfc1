package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/lameduck/lameduck/lameducktest"
	"github.com/lameduck/lameduck/lifecycle"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestTeamsComposeInOneApp: both teams' routes, the feed's hub, the orders'
// readiness check and the orders' background task live in one app; its stop
// drains the hub and waits for the task, cleanly.
func TestTeamsComposeInOneApp(t *testing.T) {
	t.Parallel()
	app := lameducktest.Start(t, teams)
	resp, err := http.Post(app.URL("public")+"/orders", "text/plain", strings.NewReader("book"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /orders: %d", resp.StatusCode)
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+app.Addr("public")+"/feed", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, m, err := ws.ReadMessage(); err != nil || string(m) != "welcome: 1 online" {
		t.Fatalf("feed greeting: %q %v", m, err)
	}
	resp, err = http.Get(app.URL("admin") + "/readyz?verbose")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "[+]orders.mailer ok") {
		t.Fatalf("/readyz?verbose: %d %q, want the orders team's check listed and passing", resp.StatusCode, body)
	}
	closed := make(chan error, 1)
	go func() {
		_, _, err := ws.ReadMessage()
		closed <- err
	}()
	rep := app.Stop()
	lameducktest.RequireClean(t, rep)
	if err := <-closed; !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("feed client ended with %v, want close 1001", err)
	}
	steps := map[lifecycle.Phase][]string{}
	for _, p := range rep.Phases {
		for _, s := range p.Steps {
			steps[p.Phase] = append(steps[p.Phase], s.Name)
		}
	}
	if got := steps[lifecycle.HubDrain]; len(got) != 1 || got[0] != "ws.feed" {
		t.Errorf("hub-drain steps %v, want [ws.feed]", got)
	}
	if got := steps[lifecycle.Wait]; len(got) != 1 || got[0] != "bgwork" {
		t.Errorf("wait steps %v, want [bgwork]", got)
	}
}
