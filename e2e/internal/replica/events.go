package main

import (
	"net/http"
	"strconv"
	"time"

	"github.com/lameduck/lameduck/e2e/internal/ticks"
	"github.com/lameduck/lameduck/httpmodule"
)

// eventsRoute is GET /events: the ticks as Server-Sent Events, from the one
// after Last-Event-ID, until the drain, when the stream ends with a "bye"
// event and a 100ms retry hint (httpmodule.EventStream).
func eventsRoute() httpmodule.Route {
	return httpmodule.Route{Pattern: "GET /events", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		es, err := httpmodule.NewEventStream(w, r)
		if err != nil {
			return
		}
		for n := ticks.After(r); ; n++ {
			t := time.NewTimer(time.Until(ticks.At(n)))
			select {
			case <-t.C:
				if es.Send(httpmodule.Event{ID: strconv.FormatInt(n, 10), Data: ticks.Data(n)}) != nil {
					return
				}
			case <-es.Ending():
				t.Stop()
				_ = es.End(httpmodule.Event{Event: "bye", Retry: 100 * time.Millisecond})
				return
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
	})}
}
