package httpmodule_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/lameduck/lameduck/httpmodule"
)

// An event stream that ends with a last event and a retry hint when the
// server drains, so that the client reconnects to another replica and
// resumes from its Last-Event-ID.
func ExampleEventStream() {
	opened := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		es, err := httpmodule.NewEventStream(w, r)
		if err != nil {
			return
		}
		es.Send(httpmodule.Event{ID: "1", Data: "hello"})
		close(opened)
		select {
		case <-es.Ending(): // the drain began and this stream's turn came
			es.End(httpmodule.Event{Event: "bye", Retry: 2 * time.Second})
		case <-r.Context().Done(): // the client left
		}
	})
	srv := httpmodule.NewServer("public", httpmodule.DefaultServerSettings("127.0.0.1:0"), mux)
	if err := srv.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	resp, err := http.Get("http://" + srv.Addr().String() + "/events")
	if err != nil {
		fmt.Println(err)
		return
	}
	<-opened
	stopped := make(chan error)
	go func() { stopped <- srv.Shutdown(context.Background()) }()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			fmt.Println(strings.TrimSpace(line))
		}
	}
	resp.Body.Close()
	fmt.Println("stopped:", <-stopped)
	// Output:
	// id: 1
	// data: hello
	// event: bye
	// retry: 2000
	// stopped: <nil>
}
