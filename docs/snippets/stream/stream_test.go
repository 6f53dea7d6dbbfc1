package stream

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/lameduck/lameduck/httpmodule"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// feed sends the items of a test, after the sequence number asked for.
type feed struct {
	asked chan int
	items chan Item
}

func (f *feed) Since(r *http.Request, seq int) <-chan Item {
	f.asked <- seq
	return f.items
}

// A client reconnecting with Last-Event-ID 3 resumes after 3, gets what is
// published, and, at the drain, the reconnect event; the stop is clean.
func TestEventsResumeAndEndAtDrain(t *testing.T) {
	f := &feed{asked: make(chan int, 1), items: make(chan Item)}
	mux := http.NewServeMux()
	mux.Handle("GET /events", Events(f))
	srv := httpmodule.NewServer("public", httpmodule.DefaultServerSettings("127.0.0.1:0"), mux)
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://"+srv.Addr().String()+"/events", nil)
	req.Header.Set("Last-Event-ID", "3")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if got := <-f.asked; got != 3 {
		t.Errorf("resumed after %d, want 3", got)
	}
	f.items <- Item{Seq: 4, Text: "four"}
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Shutdown(context.Background()) }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if want := "id: 4\ndata: four\n\nevent: reconnect\nretry: 1000\n\n"; string(b) != want {
		t.Errorf("stream %q, want %q", b, want)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
	}
}
