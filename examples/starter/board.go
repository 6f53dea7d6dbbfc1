package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	"go.uber.org/fx"

	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lifecycle"
	"github.com/lameduck/lameduck/wsmodule"
)

// maxMessage caps the body of POST /publish.
const maxMessage = 64 << 10

// errStopping is what a long-poll or a publish gets once the board has
// closed: the service is stopping, another replica will answer.
var errStopping = errors.New("the service is stopping: send it again, another replica will answer")

// message is one published message. IDs count from 1.
type message struct {
	ID   uint64
	Text string
}

// board passes every published message to the WebSocket hub and to the
// long-polls waiting for it. It keeps the latest message: a poll that names
// the last ID it saw gets the latest message at once if it missed one.
type board struct {
	hub *wsmodule.Hub

	mu     sync.Mutex
	last   message       // ID 0 before the first message
	next   chan struct{} // closed when a message is published or the board closes
	closed bool
}

// boardParams are the board's dependencies: the hub that Declare named
// "chat".
type boardParams struct {
	fx.In
	Hub *wsmodule.Hub `name:"chat"`
}

func newBoard(p boardParams) *board {
	return &board{hub: p.Hub, next: make(chan struct{})}
}

// publish numbers text, broadcasts it to the hub's connections and wakes
// the waiting polls. It returns the message and how many WebSocket clients
// it was queued for, or errStopping once the board has closed: the polls
// that would have got it are gone.
func (b *board) publish(text string) (message, int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return message{}, 0, errStopping
	}
	b.last = message{ID: b.last.ID + 1, Text: text}
	// Broadcast only queues, so it is cheap to hold the lock: clients get
	// messages in ID order.
	n, _ := b.hub.Broadcast(wsmodule.TextMessage, []byte(text))
	close(b.next)
	b.next = make(chan struct{})
	return b.last, n, nil
}

// wait returns the latest message if its ID is greater than after, or
// waits for the next one. It returns errStopping once the board has closed,
// and ctx's error if ctx ends first.
func (b *board) wait(ctx context.Context, after uint64) (message, error) {
	for {
		b.mu.Lock()
		last, next, closed := b.last, b.next, b.closed
		b.mu.Unlock()
		switch {
		case last.ID > after:
			return last, nil
		case closed:
			return message{}, errStopping
		}
		select {
		case <-next:
		case <-ctx.Done():
			return message{}, context.Cause(ctx)
		}
	}
}

// latest returns the ID of the latest message.
func (b *board) latest() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last.ID
}

// close ends every waiting poll, and those that come later, with
// errStopping.
func (b *board) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		close(b.next)
	}
}

// step closes the board when the servers shut down. A long-poll is a
// request that would otherwise hold the shutdown phase until its deadline;
// ended at once, its client polls another replica. Steps of one phase run
// together, so the servers' shutdown sees the polls end.
func (b *board) step() lifecycle.Step {
	return lifecycle.NewStep(lifecycle.Shutdown, "starter.polls", func(context.Context) error {
		b.close()
		return nil
	})
}

// pollRoute answers GET /poll?after=N with the first message after message
// N: at once if there is one, or when it is published. Without after, it
// waits for the next message. The message's ID is in the Message-Id header.
func (b *board) pollRoute() httpmodule.Route {
	return httpmodule.Route{Pattern: "GET /poll", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		after := b.latest()
		if s := r.URL.Query().Get("after"); s != "" {
			var err error
			if after, err = strconv.ParseUint(s, 10, 64); err != nil {
				http.Error(w, "after: want the ID of the last message seen, such as 0", http.StatusBadRequest)
				return
			}
		}
		msg, err := b.wait(r.Context(), after)
		if err != nil {
			w.Header().Set("Retry-After", "0")
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Message-Id", strconv.FormatUint(msg.ID, 10))
		fmt.Fprintln(w, msg.Text)
	})}
}

// publishRoute answers POST /publish: the body is the message. Once the
// stop has closed the board it answers 503 with Retry-After, like /poll.
func (b *board) publishRoute() httpmodule.Route {
	return httpmodule.Route{Pattern: "POST /publish", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxMessage))
		if err != nil || len(body) == 0 {
			http.Error(w, fmt.Sprintf("the body is the message: 1 byte to %d KiB", maxMessage>>10), http.StatusBadRequest)
			return
		}
		msg, clients, err := b.publish(string(body))
		if err != nil {
			w.Header().Set("Retry-After", "0")
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Message-Id", strconv.FormatUint(msg.ID, 10))
		fmt.Fprintf(w, "message %d sent to %d WebSocket client(s)\n", msg.ID, clients)
	})}
}
