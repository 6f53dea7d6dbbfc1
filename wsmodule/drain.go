package wsmodule

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/lameduck/lameduck/lifecycle"
)

// closeStall is how long one connection's close may hold a slot of
// websocket.closeParallelism before the drain moves on to the next
// connection anyway: a peer that does not read (full TCP buffers) keeps its
// writer blocked, and must not hold back the close frames of the others.
const closeStall = 100 * time.Millisecond

// forceWait bounds the wait for force-closed connections to end when the
// context carries no lifecycle.ForceDeadline.
const forceWait = time.Second

// Stop drains the hub; it is the hub's step in the lifecycle.HubDrain phase
// (see [Hub.Step]), and implements lifecycle.Stopper.
//
// From the moment Stop is called the hub refuses new upgrades (503). Each
// connection then writes the messages already queued, sends a close frame
// with websocket.closeCode and websocket.closeReason, and ends when the peer
// answers with its own close frame. Close frames go out at most
// websocket.closeParallelism at a time, spread over websocket.closeSpread
// with jitter when that is set. Stop returns nil the moment the last
// connection has ended.
//
// When ctx is done first, Stop closes what is left at once, records each as
// a straggler ([Hub.Stragglers]), waits for the connections' goroutines
// until lifecycle.ForceDeadline(ctx), and returns an error. A second call
// waits for the first.
func (h *Hub) Stop(ctx context.Context) error {
	h.mu.Lock()
	if h.draining {
		h.mu.Unlock()
		select {
		case <-h.drained:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("wsmodule: hub %s: waiting for the drain: %w", h.name, ctx.Err())
		}
	}
	h.draining = true
	close(h.drainStart)
	conns := slices.Clone(h.conns)
	h.checkEmpty()
	h.mu.Unlock()
	defer close(h.drained)

	start := time.Now()
	log := h.opts.log
	log.Debug("hub drain begins", zap.Int("connections", len(conns)), zap.Int("close_code", int(h.cfg.CloseCode)),
		zap.Duration("close_spread", h.cfg.CloseSpread), zap.Int("close_parallelism", h.cfg.CloseParallelism))
	h.dispatch(ctx, conns)
	select {
	case <-h.empty:
		h.wg.Wait()
		log.Info("hub drained", zap.Int("connections", len(conns)), zap.Duration("duration", time.Since(start)))
		return nil
	case <-ctx.Done():
	}

	cut := h.forceClose(time.Now())
	forceBy, ok := lifecycle.ForceDeadline(ctx)
	if !ok {
		forceBy = time.Now().Add(forceWait)
	}
	wait := time.NewTimer(time.Until(forceBy))
	defer wait.Stop()
	select {
	case <-h.empty:
		h.wg.Wait()
	case <-wait.C:
		log.Error("connections still running after the force-close: an OnMessage or OnClose callback does not return")
	}
	log.Warn("hub drain cut short", zap.Int("connections", len(conns)), zap.Int("force_closed", cut),
		zap.Duration("duration", time.Since(start)), zap.Error(ctx.Err()))
	return fmt.Errorf("wsmodule: hub %s: %d of %d connections did not complete the close handshake in time and were closed: %w",
		h.name, cut, len(conns), ctx.Err())
}

// dispatch starts the close handshake of every connection in conns, at most
// websocket.closeParallelism close frames in flight, spread over
// websocket.closeSpread with jitter.
func (h *Hub) dispatch(ctx context.Context, conns []*Conn) {
	var offsets []time.Duration
	if spread := lifecycle.SpreadWindow(ctx, h.cfg.CloseSpread); spread > 0 && len(conns) > 1 {
		rand.Shuffle(len(conns), func(i, j int) { conns[i], conns[j] = conns[j], conns[i] })
		offsets = make([]time.Duration, len(conns))
		for i := range offsets {
			offsets[i] = rand.N(spread)
		}
		slices.Sort(offsets)
	}
	slots := make(chan struct{}, h.cfg.CloseParallelism)
	start := time.Now()
	var timer *time.Timer
	for i, c := range conns {
		if offsets != nil {
			if d := offsets[i] - time.Since(start); d > 0 {
				if timer == nil {
					timer = time.NewTimer(d)
					defer timer.Stop()
				} else {
					timer.Reset(d)
				}
				select {
				case <-timer.C:
				case <-ctx.Done():
					return
				}
			}
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		var once sync.Once
		free := func() { once.Do(func() { <-slots }) }
		stall := time.AfterFunc(closeStall, free)
		c.beginClose(h.closeMsg, true, func() {
			stall.Stop()
			free()
		})
	}
}

// forceClose closes every connection left (upgrades in progress included)
// and records it as a straggler.
func (h *Hub) forceClose(now time.Time) int {
	h.mu.Lock()
	left := slices.Clone(h.conns)
	for _, c := range left {
		c.mu.Lock()
		c.cut = true
		h.stragglers = append(h.stragglers, c.stragglerLocked(now))
		c.mu.Unlock()
	}
	h.mu.Unlock()
	h.forced.Add(uint64(len(left)))
	for _, c := range left {
		_ = c.CloseNow()
	}
	return len(left)
}

// Stragglers returns the connections the drain had to cut and, while the
// drain runs, those it is still closing, each with the hub's name, the
// peer's address, how far its close got, and the connection's age. It
// implements lifecycle.StragglerReporter and is safe to call concurrently
// with [Hub.Stop]: when the coordinator abandons a drain that did not
// return in time, the report names what was still open at that moment.
// Before the drain begins it returns nothing.
func (h *Hub) Stragglers() []lifecycle.Straggler {
	now := time.Now()
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := slices.Clone(h.stragglers)
	if !h.draining {
		return out
	}
	for _, c := range h.conns {
		c.mu.Lock()
		if !c.cut {
			out = append(out, c.stragglerLocked(now))
		}
		c.mu.Unlock()
	}
	return out
}

// stragglerLocked describes c as a straggler of the drain at now. c.mu is
// held.
func (c *Conn) stragglerLocked(now time.Time) lifecycle.Straggler {
	var detail string
	switch {
	case c.ws == nil:
		detail = "remote " + c.hs.remote + ", upgrade in progress"
	case c.state == stateClosed:
		detail = "remote " + c.RemoteAddr().String() + ", closed, its reader has not ended: an OnMessage or OnClose callback may not return"
	case c.writing:
		detail = "remote " + c.RemoteAddr().String() + ", close frame not written: the peer does not read"
	case c.closeSent:
		detail = "remote " + c.RemoteAddr().String() + ", close frame sent, no answer"
	default:
		detail = "remote " + c.RemoteAddr().String() + ", close frame not sent"
	}
	return lifecycle.Straggler{Kind: "websocket", Name: c.hub.name, Detail: detail, Age: c.age(now)}
}
