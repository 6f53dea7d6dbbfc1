package main

import (
	"net/http"
	"strconv"
	"time"

	"github.com/lameduck/lameduck/httpmodule"
)

// tickPeriod is the time between two events of /events.
const tickPeriod = 20 * time.Millisecond

// eventsRoute is GET /events: Server-Sent Events, "tick N" every 20ms with
// ID N, numbered from the Unix epoch so that every replica sends the same
// event under the same ID. A client that reconnects with Last-Event-ID, to
// this replica or another, resumes right after the last event it got. When
// the server drains, the stream ends with a "bye" event and a retry hint
// (httpmodule.EventStream), spread over servers.public.streamCloseSpread.
func eventsRoute() httpmodule.Route {
	return httpmodule.Route{Pattern: "GET /events", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		es, err := httpmodule.NewEventStream(w, r)
		if err != nil {
			return
		}
		period := tickPeriod.Milliseconds()
		next, err := strconv.ParseInt(es.LastEventID(), 10, 64)
		if err != nil || next <= 0 {
			next = time.Now().UnixMilli() / period
		}
		for n := next + 1; ; n++ {
			t := time.NewTimer(time.Until(time.UnixMilli(n * period)))
			select {
			case <-t.C:
				if es.Send(httpmodule.Event{ID: strconv.FormatInt(n, 10), Data: "tick " + strconv.FormatInt(n, 10)}) != nil {
					return // the client left
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
