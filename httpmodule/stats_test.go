package httpmodule

import (
	"context"
	"io"
	"maps"
	"net"
	"net/http"
	"testing"
	"time"
)

// Stats counts the requests in flight and the open connections by protocol
// from what the server tracks, and falls to zero once the server stopped.
func TestStatsCountRequestsAndConnectionsByProtocol(t *testing.T) {
	entered := make(chan struct{}, 4)
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /slow/{id}", func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		_, _ = io.WriteString(w, "done")
	})
	cfg := testServerConfig()
	cfg.Protocols = []Protocol{HTTP1, H2C}
	s := NewServer("public", cfg, mux)
	accepted := make(chan struct{}, 8)
	s.onAccept = func() { accepted <- struct{}{} }
	if got := s.Stats(); got != (ServerStats{}) {
		t.Errorf("Stats before the first start = %+v, want zero", got)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })

	results := make(chan error, 2)
	for _, c := range []*http.Client{h1Client(t), h2cClient(t, nil)} {
		go func() {
			resp, err := c.Get(url(s, "/slow/1"))
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			results <- err
		}()
	}
	// A client that connects and says nothing.
	silent, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	for range 3 {
		recv(t, accepted, "a connection accepted")
	}
	recv(t, entered, "the first request in its handler")
	recv(t, entered, "the second request in its handler")

	want := ServerStats{Requests: 2, HTTP1Conns: 1, HTTP2Conns: 1, NewConns: 1, Accepted: 3}
	if got := s.Stats(); got != want {
		t.Errorf("Stats with two requests in flight = %+v, want %+v", got, want)
	}
	if got, want := s.RequestsByRoute(), map[string]int{"GET /slow/{id}": 2}; !maps.Equal(got, want) {
		t.Errorf("RequestsByRoute = %v, want %v", got, want)
	}

	close(release)
	for range 2 {
		if err := recv(t, results, "a response"); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats(); got.Requests != 0 || got.HTTP1Conns+got.HTTP2Conns+got.NewConns != 0 || got.Accepted != 3 {
		t.Errorf("Stats once stopped = %+v, want no request and no connection, 3 accepted", got)
	}
	if got := s.RequestsByRoute(); len(got) != 0 {
		t.Errorf("RequestsByRoute once stopped = %v, want empty", got)
	}
}

// A request no route matches counts under "(no route)", never under its
// path: the keys stay bounded by the routes.
func TestRequestsByRouteWithoutARoute(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
	})
	s := NewServer("public", testServerConfig(), h)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	done := make(chan error, 1)
	client := h1Client(t)
	go func() {
		resp, err := client.Get(url(s, "/anything/at/all"))
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	recv(t, entered, "the request in its handler")
	if got, want := s.RequestsByRoute(), map[string]int{"(no route)": 1}; !maps.Equal(got, want) {
		t.Errorf("RequestsByRoute = %v, want %v", got, want)
	}
	close(release)
	if err := recv(t, done, "the response"); err != nil {
		t.Fatal(err)
	}
}
