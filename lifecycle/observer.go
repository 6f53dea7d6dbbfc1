package lifecycle

import "time"

// EventKind says what an [Event] reports.
type EventKind int

// Kinds of events. An observer sees, in this order: StopBegan, then
// PhaseStarted and PhaseEnded for each phase, then StopEnded.
const (
	// PhaseStarted: a phase began; Event.Deadline is its deadline.
	PhaseStarted EventKind = iota + 1
	// PhaseEnded: a phase ended; Event.PhaseReport says how.
	PhaseEnded
	// StopEnded: the stop ended; Event.Report is the whole report.
	StopEnded
	// StopBegan: the stop began, before its first phase; Event.Deadline is
	// the end of the budget.
	StopBegan
)

// Event is something the coordinator reports to observers while it stops.
type Event struct {
	Kind  EventKind
	Phase Phase
	// Time is when it happened: the stop's or the phase's start, or its
	// end.
	Time time.Time
	// Deadline is the phase's deadline (PhaseStarted) or the end of the
	// budget (StopBegan).
	Deadline time.Time
	// Trigger says what began the stop, as [StopReport.Trigger] does.
	Trigger string
	// Budget is the time the stop is allowed, as known when the event
	// happened: it shrinks when a caller's deadline is earlier than the
	// budget's end (see [Coordinator.Stop]).
	Budget      time.Duration
	PhaseReport *PhaseReport
	Report      *StopReport
}

// Observer receives the coordinator's events, for example to count them as
// metrics. ObserveStop is called synchronously from the stop, one event at
// a time, and must not block.
type Observer interface {
	ObserveStop(Event)
}

// ObserverFunc adapts a function to [Observer].
type ObserverFunc func(Event)

// ObserveStop calls f(e).
func (f ObserverFunc) ObserveStop(e Event) { f(e) }
