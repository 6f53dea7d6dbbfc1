package lifecycle

import "fmt"

// Phase is one stage of the stop sequence. Phases run strictly in order;
// the steps of one phase run in parallel.
type Phase int

// The phases of the stop, in the order they run.
const (
	// ReadinessOff turns /readyz to 503 and makes HTTP/1 responses carry
	// "Connection: close", so that load balancers and clients move away
	// while every request is still served.
	ReadinessOff Phase = iota
	// PreStopDelay keeps serving normally for the configured delay, while
	// endpoints and load balancers de-register the instance. A second
	// signal or the budget cuts it short.
	PreStopDelay
	// Shutdown stops the servers: listeners close, idle connections close,
	// in-flight requests finish. At the phase deadline request contexts are
	// cancelled and what is left is closed.
	Shutdown
	// HubDrain drains WebSocket hubs: queued messages are flushed, close
	// frames sent and answered. It runs after Shutdown because handlers may
	// publish to hubs until they return.
	HubDrain
	// Wait waits for background tasks. It runs after HubDrain because
	// handlers and WebSocket connections may start tasks until they end.
	Wait
	// Final stops what must answer until the end, such as the admin server
	// with the health probes. It runs in the budget's reserve.
	Final
)

var phaseNames = [...]string{"readiness-off", "prestop-delay", "shutdown", "hub-drain", "wait", "final"}

// Phases returns every phase, in the order they run.
func Phases() []Phase {
	return []Phase{ReadinessOff, PreStopDelay, Shutdown, HubDrain, Wait, Final}
}

// String returns the phase's name as it appears in logs and reports, e.g.
// "hub-drain".
func (p Phase) String() string {
	if p.valid() {
		return phaseNames[p]
	}
	return fmt.Sprintf("Phase(%d)", int(p))
}

func (p Phase) valid() bool { return p >= ReadinessOff && p <= Final }
