package lifecycle

import (
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// PhaseOutcome is how a phase ended.
type PhaseOutcome string

// Phase outcomes.
const (
	// PhaseCompleted: every step returned before the deadline.
	PhaseCompleted PhaseOutcome = "completed"
	// PhaseCutShort: the preStop delay ended early, by a second signal or
	// because the budget could not afford all of it. Nothing was lost.
	PhaseCutShort PhaseOutcome = "cut short"
	// PhaseForced: the deadline passed (or a second signal came) and steps
	// were told to force-close.
	PhaseForced PhaseOutcome = "forced"
)

// StepOutcome is how a step ended.
type StepOutcome string

// Step outcomes.
const (
	// StepOK: returned nil before the phase deadline.
	StepOK StepOutcome = "ok"
	// StepFailed: returned an error before the phase deadline.
	StepFailed StepOutcome = "failed"
	// StepPanicked: panicked; the panic was recovered.
	StepPanicked StepOutcome = "panicked"
	// StepForced: returned after its context was cancelled.
	StepForced StepOutcome = "forced"
	// StepAbandoned: did not return by its force deadline; the coordinator
	// moved on without it.
	StepAbandoned StepOutcome = "abandoned"
)

// StepReport is what one step did.
type StepReport struct {
	Name       string
	Outcome    StepOutcome
	Duration   time.Duration
	Err        string `json:",omitempty"`
	Stragglers []Straggler
}

// PhaseReport is what one phase did.
type PhaseReport struct {
	Phase Phase
	// Start is the phase's start as an offset from the stop's start.
	Start time.Duration
	// Allotted is the time the phase was given: min(its cap, time left -
	// reserve).
	Allotted time.Duration
	Duration time.Duration
	Outcome  PhaseOutcome
	Steps    []StepReport
}

// Clean reports whether every step of the phase returned in time without
// error and cut nothing off.
func (p PhaseReport) Clean() bool {
	if p.Outcome == PhaseForced {
		return false
	}
	for _, s := range p.Steps {
		if s.Outcome != StepOK || len(s.Stragglers) > 0 {
			return false
		}
	}
	return true
}

// Stragglers returns the stragglers of every step of the phase.
func (p PhaseReport) Stragglers() []Straggler {
	var out []Straggler
	for _, s := range p.Steps {
		out = append(out, s.Stragglers...)
	}
	return out
}

// StopReport is the account of one stop: each phase's start, duration and
// outcome, and whatever was cut off.
type StopReport struct {
	// Trigger says what started the stop: "signal terminated", "fx stop",
	// "Stop called".
	Trigger string
	// Start is when the stop began.
	Start time.Time
	// Budget is the time the stop was allowed (stop.total, or less if the
	// caller's deadline was earlier).
	Budget   time.Duration
	Duration time.Duration
	Phases   []PhaseReport
	// Signals is how many stop signals arrived during the stop, the first
	// included.
	Signals int
}

// Clean reports whether the stop lost nothing: no phase forced, no step
// failed, nothing cut off.
func (r *StopReport) Clean() bool {
	for _, p := range r.Phases {
		if !p.Clean() {
			return false
		}
	}
	return true
}

// Stragglers returns everything that was cut off, in phase order.
func (r *StopReport) Stragglers() []Straggler {
	var out []Straggler
	for _, p := range r.Phases {
		out = append(out, p.Stragglers()...)
	}
	return out
}

// Phase returns the report of phase p, if it ran.
func (r *StopReport) Phase(p Phase) (PhaseReport, bool) {
	for _, pr := range r.Phases {
		if pr.Phase == p {
			return pr, true
		}
	}
	return PhaseReport{}, false
}

// String renders a compact timeline for people reading logs: one line per
// phase, and under a phase each step that did not end cleanly, with what it
// cut off:
//
//	stop (signal terminated): NOT clean in 15.3s of a 25s budget
//	  +0s       readiness-off  0s       completed
//	  +0s       prestop-delay  5s       completed
//	  +5s       shutdown       10.25s   forced at 10s
//	      http.public: forced
//	        cut: request GET /slow (server public), age 12.3s
//	  ...
func (r *StopReport) String() string {
	var b strings.Builder
	verdict := "clean"
	if !r.Clean() {
		verdict = "NOT clean"
	}
	fmt.Fprintf(&b, "stop (%s): %s in %v of a %v budget", r.Trigger, verdict, round(r.Duration), r.Budget)
	for _, p := range r.Phases {
		fmt.Fprintf(&b, "\n  +%-8v %-14s %-8v %s", round(p.Start), p.Phase, round(p.Duration), p.Outcome)
		if p.Outcome == PhaseForced {
			fmt.Fprintf(&b, " at %v", round(p.Allotted))
		}
		for _, s := range p.Steps {
			if s.Outcome == StepOK && len(s.Stragglers) == 0 {
				continue
			}
			fmt.Fprintf(&b, "\n      %s: %s", s.Name, s.Outcome)
			if s.Err != "" {
				fmt.Fprintf(&b, ": %s", s.Err)
			}
			for _, st := range s.Stragglers {
				fmt.Fprintf(&b, "\n        cut: %s", st)
			}
		}
	}
	return b.String()
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// MarshalLogObject renders the report as one structured zap field.
func (r *StopReport) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("trigger", r.Trigger)
	enc.AddBool("clean", r.Clean())
	enc.AddDuration("duration", r.Duration)
	enc.AddDuration("budget", r.Budget)
	enc.AddInt("signals", r.Signals)
	return enc.AddArray("phases", zapcore.ArrayMarshalerFunc(func(ae zapcore.ArrayEncoder) error {
		for i := range r.Phases {
			if err := ae.AppendObject(&r.Phases[i]); err != nil {
				return err
			}
		}
		return nil
	}))
}

// MarshalLogObject renders the phase report as a zap object.
func (p *PhaseReport) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("phase", p.Phase.String())
	enc.AddDuration("start", p.Start)
	enc.AddDuration("duration", p.Duration)
	enc.AddDuration("allotted", p.Allotted)
	enc.AddString("outcome", string(p.Outcome))
	return enc.AddArray("steps", zapcore.ArrayMarshalerFunc(func(ae zapcore.ArrayEncoder) error {
		for _, s := range p.Steps {
			err := ae.AppendObject(zapcore.ObjectMarshalerFunc(func(e zapcore.ObjectEncoder) error {
				e.AddString("name", s.Name)
				e.AddString("outcome", string(s.Outcome))
				e.AddDuration("duration", s.Duration)
				if s.Err != "" {
					e.AddString("error", s.Err)
				}
				if len(s.Stragglers) > 0 {
					return e.AddArray("cut", zapcore.ArrayMarshalerFunc(func(se zapcore.ArrayEncoder) error {
						for _, st := range s.Stragglers {
							se.AppendString(st.String())
						}
						return nil
					}))
				}
				return nil
			}))
			if err != nil {
				return err
			}
		}
		return nil
	}))
}

// Field returns the report as a zap field named "stop".
func (r *StopReport) Field() zap.Field { return zap.Object("stop", r) }
