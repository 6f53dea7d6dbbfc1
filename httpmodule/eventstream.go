package httpmodule

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Event is one Server-Sent Event (the "text/event-stream" format of the
// HTML standard). Empty fields are left out.
type Event struct {
	// ID is the event's id, which the client sends back as Last-Event-ID
	// when it reconnects. No newlines.
	ID string
	// Event is the event type; empty means "message". No newlines.
	Event string
	// Data is the payload; a newline in it becomes a second "data:" line,
	// which the client joins back with a newline.
	Data string
	// Retry tells the client how long to wait before it reconnects.
	Retry time.Duration
}

// DefaultRetry is the reconnection delay [EventStream.End] sends when its
// event sets none: long enough that a client does not reconnect before
// its load balancer has taken this replica out, short enough that a
// watcher misses little.
const DefaultRetry = time.Second

// EventStream is a Server-Sent Events response that ends cleanly when its
// server drains: [EventStream.Ending] is closed once the drain has begun
// and this stream's turn has come (the server's streamCloseSpread, with
// jitter, so that clients do not all reconnect to the remaining replicas at
// once); the handler then calls [EventStream.End], which sends a last event
// with a retry hint, and returns. The client reconnects, through its load
// balancer, to another replica and resumes from Last-Event-ID. A stream
// still open when the phase deadline cuts it is named in the stop report
// like any request.
//
// Use it from the handler's goroutine only, as the http.ResponseWriter.
type EventStream struct {
	w      http.ResponseWriter
	rc     *http.ResponseController
	r      *http.Request
	ending chan struct{}
}

// NewEventStream starts an event stream on w: it sends the status and the
// headers (Content-Type: text/event-stream, Cache-Control: no-cache) at
// once, so that the client knows the stream is open. It fails if w cannot
// flush.
func NewEventStream(w http.ResponseWriter, r *http.Request) (*EventStream, error) {
	es := &EventStream{w: w, rc: http.NewResponseController(w), r: r, ending: make(chan struct{})}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if err := es.rc.Flush(); err != nil {
		return nil, fmt.Errorf("httpmodule: event stream: %w", err)
	}
	if d, ok := r.Context().Value(drainingKey{}).(*drainState); ok {
		go es.await(d)
	}
	return es, nil
}

// await closes ending when the drain has begun and this stream's random
// delay in the spread window has passed; it returns when the request ends.
func (es *EventStream) await(d *drainState) {
	done := es.r.Context().Done()
	select {
	case <-d.ch:
	case <-done:
		return
	}
	if d.spread > 0 {
		t := time.NewTimer(rand.N(d.spread))
		defer t.Stop()
		select {
		case <-t.C:
		case <-done:
			return
		}
	}
	close(es.ending)
}

// Ending returns a channel that is closed when the stream should end
// because the server drains. It is never closed for a request that no
// [Server] of this package serves.
func (es *EventStream) Ending() <-chan struct{} { return es.ending }

// LastEventID returns the Last-Event-ID the client sent: the ID of the
// last event it received before it reconnected, or "".
func (es *EventStream) LastEventID() string { return es.r.Header.Get("Last-Event-ID") }

// Send writes ev and flushes it to the client.
func (es *EventStream) Send(ev Event) error {
	if strings.ContainsAny(ev.ID, "\r\n\x00") || strings.ContainsAny(ev.Event, "\r\n") {
		return errors.New("httpmodule: event stream: an event's ID and type cannot contain a newline")
	}
	var b strings.Builder
	if ev.ID != "" {
		b.WriteString("id: " + ev.ID + "\n")
	}
	if ev.Event != "" {
		b.WriteString("event: " + ev.Event + "\n")
	}
	if ev.Retry > 0 {
		b.WriteString("retry: " + strconv.FormatInt(ev.Retry.Milliseconds(), 10) + "\n")
	}
	if ev.Data != "" || ev.ID == "" && ev.Event == "" && ev.Retry == 0 {
		data := strings.ReplaceAll(ev.Data, "\r\n", "\n")
		for line := range strings.SplitSeq(data, "\n") {
			b.WriteString("data: " + line + "\n")
		}
	}
	b.WriteString("\n")
	if _, err := es.w.Write([]byte(b.String())); err != nil {
		return err
	}
	return es.rc.Flush()
}

// End sends last, with a retry hint of [DefaultRetry] unless last sets
// one, so that the client reconnects elsewhere soon; the handler then
// returns, which ends the response cleanly. An event without ID or data is
// sent as its retry line alone (clients dispatch nothing for it).
func (es *EventStream) End(last Event) error {
	if last.Retry == 0 {
		last.Retry = DefaultRetry
	}
	return es.Send(last)
}
