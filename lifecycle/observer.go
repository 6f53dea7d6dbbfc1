package lifecycle

import "time"

// EventKind says what an [Event] reports.
type EventKind int

// Kinds of events.
const (
	// PhaseStarted: a phase began; Event.Deadline is its deadline.
	PhaseStarted EventKind = iota + 1
	// PhaseEnded: a phase ended; Event.PhaseReport says how.
	PhaseEnded
	// StopEnded: the stop ended; Event.Report is the whole report.
	StopEnded
)

// Event is something the coordinator reports to observers while it stops.
type Event struct {
	Kind        EventKind
	Phase       Phase
	Deadline    time.Time
	PhaseReport *PhaseReport
	Report      *StopReport
}

// Observer receives the coordinator's events, for example to count them as
// metrics. ObserveStop is called synchronously from the stop and must not
// block.
type Observer interface {
	ObserveStop(Event)
}

// ObserverFunc adapts a function to [Observer].
type ObserverFunc func(Event)

// ObserveStop calls f(e).
func (f ObserverFunc) ObserveStop(e Event) { f(e) }
