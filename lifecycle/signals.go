package lifecycle

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// stopSignals are the signals that stop the process.
var stopSignals = []os.Signal{syscall.SIGTERM, syscall.SIGINT}

// signalListener is the goroutine of [Coordinator.ListenSignals].
type signalListener struct {
	settle chan chan struct{} // asks it to count the signals already delivered
	quit   chan struct{}
}

// ListenSignals makes SIGTERM and SIGINT call [Coordinator.Interrupt] until
// the returned function is called.
func (c *Coordinator) ListenSignals() (stop func()) {
	ch := make(chan os.Signal, 3)
	signal.Notify(ch, stopSignals...)
	l := &signalListener{settle: make(chan chan struct{}), quit: make(chan struct{})}
	c.mu.Lock()
	c.listener = l
	c.mu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case sig := <-ch:
				c.Interrupt("signal " + sig.String())
			case done := <-l.settle:
				// os/signal sends a signal to every registered channel
				// under its handler lock, which Notify takes too: once
				// this no-op Notify returns, a signal that reached another
				// listener (Fx's) is in ch.
				// TestSignalIsTheTriggerEvenWhenFxBeganTheStopFirst
				// guards that behaviour of os/signal.
				signal.Notify(ch, stopSignals...)
				for pending := true; pending; {
					select {
					case sig := <-ch:
						c.Interrupt("signal " + sig.String())
					default:
						pending = false
					}
				}
				close(done)
			case <-l.quit:
				return
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(ch)
			c.mu.Lock()
			c.listener = nil
			c.mu.Unlock()
			close(l.quit)
			wg.Wait()
		})
	}
}

// settleSignals has the signal listener, if one runs, count every stop
// signal already delivered to the process. Fx and the coordinator both
// listen to SIGTERM; when Fx's OnStop hook comes first, this makes the
// signal, not "fx stop", the trigger of the stop it began.
func (c *Coordinator) settleSignals() {
	c.mu.Lock()
	l := c.listener
	c.mu.Unlock()
	if l == nil {
		return
	}
	done := make(chan struct{})
	select {
	case l.settle <- done:
		<-done
	case <-l.quit:
	}
}
