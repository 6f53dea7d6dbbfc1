package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/lameduck/lameduck/e2e/internal/ticks"
)

// events is GET /events as it is commonly written by hand: the ticks as
// Server-Sent Events from the one after Last-Event-ID, until the client
// leaves or the request's context ends.
func events(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	for n := ticks.After(r); ; n++ {
		t := time.NewTimer(time.Until(ticks.At(n)))
		select {
		case <-t.C:
			if _, err := fmt.Fprintf(w, "id: %d\ndata: %s\n\n", n, ticks.Data(n)); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
}
