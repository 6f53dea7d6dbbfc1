// Package tracing records lameduck's stop as OpenTelemetry spans: one span
// for the stop, a child span per phase and, under each phase, one per step,
// with the budget and the allotted times as attributes and an event for
// everything the stop cut off.
//
// The spans are made from the coordinator's events ([Observer] is a
// lifecycle.Observer), after the fact, with the times the events carry:
// the stop itself does no tracing work while it drains. A step's span
// starts with its phase (the steps of a phase start together) and lasts as
// long as the step did.
//
// The spans of a stop are worth little if the process exits before they
// are exported, which is what happens when the tracer provider is shut
// down (or simply not flushed) before the work it traces has ended. With
// Fx, [Module] flushes the provider after the coordinator's last phase and
// before the process exits: its OnStop hook is appended before the
// coordinator's, so Fx runs it after (Fx runs OnStop hooks in reverse
// order), inside stop.margin. A provider whose OnStop hook shuts it down
// is built before [Module]'s observer, which needs it, so it shuts down
// after that flush.
//
// The package is opt-in: lameduck's other packages never import it.
package tracing
