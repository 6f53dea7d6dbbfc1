package main

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lameduck/lameduck/wsmodule"
)

func newTestBoard(t *testing.T) *board {
	t.Helper()
	hub, err := wsmodule.NewHub("chat", wsmodule.DefaultSettings(nil))
	if err != nil {
		t.Fatal(err)
	}
	return newBoard(boardParams{Hub: hub})
}

type waitResult struct {
	msg message
	err error
}

// startWait runs b.wait in a goroutine of the bubble and returns its result
// channel once the goroutine is blocked.
func startWait(ctx context.Context, b *board, after uint64) <-chan waitResult {
	out := make(chan waitResult, 1)
	go func() {
		m, err := b.wait(ctx, after)
		out <- waitResult{m, err}
	}()
	synctest.Wait()
	return out
}

// TestBoardWakesWaitersOnPublish: waiters blocked for the next message all
// get it when it is published, and not before.
func TestBoardWakesWaitersOnPublish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBoard(t)
		w1, w2 := startWait(t.Context(), b, 0), startWait(t.Context(), b, 0)
		select {
		case r := <-w1:
			t.Fatalf("a waiter returned before any publish: %+v", r)
		default:
		}
		if m, clients, err := b.publish("hi"); err != nil || m.ID != 1 || clients != 0 {
			t.Fatalf("publish: %+v to %d clients", m, clients)
		}
		for _, w := range []<-chan waitResult{w1, w2} {
			if r := <-w; r.err != nil || r.msg != (message{1, "hi"}) {
				t.Fatalf("waiter got %+v", r)
			}
		}
	})
}

// TestBoardGivesAMissedMessageAtOnce: a poll whose after is older than the
// latest message gets the latest at once; one that is up to date waits.
func TestBoardGivesAMissedMessageAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBoard(t)
		b.publish("one")
		b.publish("two")
		if m, err := b.wait(t.Context(), 0); err != nil || m != (message{2, "two"}) {
			t.Fatalf("wait(after 0): %+v %v, want the latest, 2", m, err)
		}
		w := startWait(t.Context(), b, 2)
		b.publish("three")
		if r := <-w; r.msg != (message{3, "three"}) {
			t.Fatalf("wait(after 2): %+v", r)
		}
	})
}

// TestBoardCloseEndsEveryPoll: the board's step (close) ends the waiting
// polls, and every later one that would wait, with errStopping.
func TestBoardCloseEndsEveryPoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBoard(t)
		w := startWait(t.Context(), b, 0)
		if err := b.step().Stopper.Stop(t.Context()); err != nil {
			t.Fatal(err)
		}
		if r := <-w; !errors.Is(r.err, errStopping) {
			t.Fatalf("waiting poll after close: %+v, want errStopping", r)
		}
		if _, err := b.wait(t.Context(), 0); !errors.Is(err, errStopping) {
			t.Fatalf("poll after close: %v, want errStopping", err)
		}
		b.close() // twice is fine
	})
}

// TestBoardWaitEndsWithItsContext: a poll whose context ends returns the
// context's cause at that moment.
func TestBoardWaitEndsWithItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBoard(t)
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		start := time.Now()
		_, err := b.wait(ctx, 0)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 30*time.Second {
			t.Fatalf("wait: %v after %v, want the deadline after 30s", err, time.Since(start))
		}
	})
}
