// Package stream shows streaming handlers that end cleanly when their
// server drains, as docs/httpmodule.md shows.
package stream

import (
	"net/http"
	"strconv"

	"github.com/lameduck/lameduck/httpmodule"
)

// Feed stands for a source of events, each with a sequence number.
type Feed interface {
	// Since returns a channel of the events after seq, closed when the
	// request's context is done.
	Since(r *http.Request, seq int) <-chan Item
}

// Item is one event of the feed.
type Item struct {
	Seq  int
	Text string
}

// snippet:start sse
// Events serves the feed as Server-Sent Events. When the server drains,
// each stream, at its turn in servers.<name>.streamCloseSpread, gets a last
// event and a retry hint, and its client reconnects elsewhere and resumes
// from Last-Event-ID: nothing published is missed, nothing is sent twice.
func Events(feed Feed) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		es, err := httpmodule.NewEventStream(w, r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		after, _ := strconv.Atoi(es.LastEventID()) // 0 on the first connection
		items := feed.Since(r, after)
		for {
			select {
			case it, ok := <-items:
				if !ok {
					return
				}
				if es.Send(httpmodule.Event{ID: strconv.Itoa(it.Seq), Data: it.Text}) != nil {
					return // the client left
				}
			case <-es.Ending():
				es.End(httpmodule.Event{Event: "reconnect"})
				return
			case <-r.Context().Done():
				return
			}
		}
	}
}

// snippet:end sse

// snippet:start download
// Download streams chunks until the source ends; when the drain begins it
// finishes the chunk it is on and stops with a trailer that tells the
// client where to resume, instead of being cut at the phase deadline.
func Download(next func() ([]byte, bool)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Resume-At")
		sent := 0
		for {
			select {
			case <-httpmodule.Draining(r.Context()):
				w.Header().Set("X-Resume-At", strconv.Itoa(sent))
				return
			default:
			}
			chunk, more := next()
			n, err := w.Write(chunk)
			sent += n
			if err != nil || !more {
				return
			}
		}
	}
}

// snippet:end download
