package feed_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lameduck/lameduck/examples/plugins/feed"
	"github.com/lameduck/lameduck/lameducktest"
	"github.com/lameduck/lameduck/lifecycle"
)

// dial connects a client to the feed and reads its greeting.
func dial(t *testing.T, app *lameducktest.App, wantGreeting string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial("ws://"+app.Addr("public")+"/feed", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second)) // never hang the test
	expect(t, c, wantGreeting)
	return c
}

func expect(t *testing.T, c *websocket.Conn, want string) {
	t.Helper()
	if _, m, err := c.ReadMessage(); err != nil || string(m) != want {
		t.Fatalf("client read %q, %v; want %q", m, err, want)
	}
}

// TestPostsReachEveryClient: what one client sends, every client gets.
func TestPostsReachEveryClient(t *testing.T) {
	t.Parallel()
	app := lameducktest.Start(t, feed.Module)
	a := dial(t, app, "welcome: 1 online")
	b := dial(t, app, "welcome: 2 online")
	if err := a.WriteMessage(websocket.TextMessage, []byte("hi all")); err != nil {
		t.Fatal(err)
	}
	expect(t, a, "hi all")
	expect(t, b, "hi all")
	a.Close()
	b.Close()
	lameducktest.RequireClean(t, app.Stop())
}

// TestDrainDeliversTheAnnouncementThen1001: an announcement made just before
// the stop reaches every client before the close frame 1001, and the drain
// is clean.
func TestDrainDeliversTheAnnouncementThen1001(t *testing.T) {
	t.Parallel()
	app := lameducktest.Start(t, feed.Module)
	clients := []*websocket.Conn{dial(t, app, "welcome: 1 online"), dial(t, app, "welcome: 2 online")}
	resp, err := http.Post(app.URL("public")+"/feed/announce", "text/plain", strings.NewReader("we are moving"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "announced to 2 client(s)\n" {
		t.Fatalf("POST /feed/announce: %d %q", resp.StatusCode, body)
	}
	type end struct {
		msgs []string
		err  error
	}
	ends := make(chan end, len(clients))
	for _, c := range clients {
		go func() {
			var e end
			for {
				_, m, err := c.ReadMessage()
				if err != nil {
					e.err = err
					ends <- e
					return
				}
				e.msgs = append(e.msgs, string(m))
			}
		}()
	}
	rep := app.Stop()
	lameducktest.RequireClean(t, rep)
	for range clients {
		e := <-ends
		if len(e.msgs) != 1 || e.msgs[0] != "announcement: we are moving" || !websocket.IsCloseError(e.err, websocket.CloseGoingAway) {
			t.Errorf("client got %q then %v; want the announcement then close 1001", e.msgs, e.err)
		}
	}
	hd, _ := rep.Phase(lifecycle.HubDrain)
	if len(hd.Steps) != 1 || hd.Steps[0].Name != "ws."+feed.HubName {
		t.Errorf("hub-drain steps %+v, want ws.feed", hd.Steps)
	}
}

// TestSilentClientIsNamedInTheReport: a client that stops reading never
// answers the close frame; the drain force-closes it at its deadline and
// the report names the hub and the client's address.
func TestSilentClientIsNamedInTheReport(t *testing.T) {
	t.Parallel()
	cfg := lameducktest.Config()
	cfg.Stop.HubDrain = 300 * time.Millisecond
	app := lameducktest.StartWith(t, cfg, feed.Module)
	c := dial(t, app, "welcome: 1 online") // and never read again
	rep := app.Stop()
	cut := rep.Stragglers()
	if len(cut) != 1 || cut[0].Kind != "websocket" || cut[0].Name != feed.HubName || !strings.Contains(cut[0].Detail, c.LocalAddr().String()) {
		t.Fatalf("stragglers %v, want the feed client at %s", cut, c.LocalAddr())
	}
	if hd, _ := rep.Phase(lifecycle.HubDrain); hd.Outcome != lifecycle.PhaseForced {
		t.Errorf("hub-drain %s, want forced", hd.Outcome)
	}
}

// TestAnnounceNeedsABody: an empty announcement is refused.
func TestAnnounceNeedsABody(t *testing.T) {
	t.Parallel()
	app := lameducktest.Start(t, feed.Module)
	resp, err := http.Post(app.URL("public")+"/feed/announce", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("POST /feed/announce without a body: %d, want 400", resp.StatusCode)
	}
	lameducktest.RequireClean(t, app.Stop())
}
