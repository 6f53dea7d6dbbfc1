package bgwork

import (
	"context"
	"fmt"
)

// waitForRoom waits until the pool takes s, the stop refuses it, or ctx
// ends. p.mu is held on entry and released.
func (p *Pool) waitForRoom(ctx context.Context, s submission) error {
	w := p.newWaiterLocked(s)
	p.waiters.pushBack(w)
	p.mu.Unlock()
	select {
	case <-w.wake:
	case <-ctx.Done():
		p.mu.Lock()
		if w.state == waitWaiting {
			p.waiters.remove(w)
			p.spare = append(p.spare, w)
			p.mu.Unlock()
			p.refused.Add(1)
			return fmt.Errorf("bgwork: task %q not started: the pool stayed full until the caller's context ended: %w", s.name, context.Cause(ctx))
		}
		p.mu.Unlock()
		<-w.wake // taken or refused just now: the signal is on its way
	}
	p.mu.Lock()
	refused := w.state == waitRefused
	p.spare = append(p.spare, w)
	p.mu.Unlock()
	if refused {
		return p.refuse(s.name, ErrDraining)
	}
	return nil
}

// newWaiterLocked returns a record for a submitter that waits for room.
// p.mu is held.
func (p *Pool) newWaiterLocked(s submission) *waiter {
	var w *waiter
	if n := len(p.spare); n > 0 {
		w = p.spare[n-1]
		p.spare = p.spare[:n-1]
	} else {
		w = &waiter{wake: make(chan struct{}, 1)}
	}
	w.task, w.state = s, waitWaiting
	return w
}

// waiter is a submitter that waits for room in a full pool. Its record is
// reused. Under Pool.mu.
type waiter struct {
	task       submission
	state      waitState
	wake       chan struct{} // signalled once state is waitTaken or waitRefused
	prev, next *waiter
}

type waitState uint8

const (
	waitWaiting waitState = iota
	waitTaken             // the pool took the task
	waitRefused           // the stop refused it
)

// waiterList is an intrusive doubly linked list of waiters, oldest first.
type waiterList struct {
	head, tail *waiter
	len        int
}

func (l *waiterList) pushBack(w *waiter) {
	w.prev, w.next = l.tail, nil
	if l.tail == nil {
		l.head = w
	} else {
		l.tail.next = w
	}
	l.tail = w
	l.len++
}

func (l *waiterList) remove(w *waiter) {
	if w.prev == nil {
		l.head = w.next
	} else {
		w.prev.next = w.next
	}
	if w.next == nil {
		l.tail = w.prev
	} else {
		w.next.prev = w.prev
	}
	w.prev, w.next = nil, nil
	l.len--
}

func (l *waiterList) popFront() *waiter {
	w := l.head
	if w != nil {
		l.remove(w)
	}
	return w
}
