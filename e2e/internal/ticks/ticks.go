// Package ticks is the event feed of the reliability suite's event-stream
// scenario: event N is "tick N", due at N periods after the Unix epoch, the
// same on every replica, so that a client that reconnects to another
// replica with Last-Event-ID resumes exactly after the last event it got,
// and a gap or a repeat shows.
package ticks

import (
	"net/http"
	"strconv"
	"time"
)

// Period is the time between two ticks.
const Period = 20 * time.Millisecond

// Now is the latest tick that is due.
func Now() int64 { return time.Now().UnixMilli() / Period.Milliseconds() }

// At is when tick n is due.
func At(n int64) time.Time { return time.UnixMilli(n * Period.Milliseconds()) }

// Data is the payload of tick n.
func Data(n int64) string { return "tick " + strconv.FormatInt(n, 10) }

// After returns the tick after the request's Last-Event-ID, or the next
// one to be due if it sent none.
func After(r *http.Request) int64 {
	last, err := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64)
	if err != nil || last <= 0 {
		last = Now()
	}
	return last + 1
}
