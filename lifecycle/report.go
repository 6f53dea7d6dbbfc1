package lifecycle

import (
	"encoding/json"
	"errors"
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
	// PhaseForced: the deadline passed (or a second signal came) before
	// every step returned, and the steps were told to force-close
	// (PhaseReport.ForcedBy says which). The phase lost something only if
	// a step did not end cleanly: see [PhaseReport.Clean].
	PhaseForced PhaseOutcome = "forced"
)

// ForceCause says what forced a phase.
type ForceCause string

// What forces a phase.
const (
	// ForcedByDeadline: the phase's deadline passed.
	ForcedByDeadline ForceCause = "deadline"
	// ForcedBySignal: a second stop signal came.
	ForcedBySignal ForceCause = "second signal"
)

// StepOutcome is how a step ended.
type StepOutcome string

// Step outcomes.
const (
	// StepOK: returned nil: its work is done, even if its context ended
	// meanwhile (nothing was left to cut).
	StepOK StepOutcome = "ok"
	// StepFailed: returned an error before its context ended.
	StepFailed StepOutcome = "failed"
	// StepPanicked: panicked; the panic was recovered.
	StepPanicked StepOutcome = "panicked"
	// StepForced: returned an error after its context ended: it had to
	// cut or cancel something.
	StepForced StepOutcome = "forced"
	// StepAbandoned: did not return by its force deadline; the coordinator
	// moved on without it.
	StepAbandoned StepOutcome = "abandoned"
)

// StepReport is what one step did.
type StepReport struct {
	Name     string
	Outcome  StepOutcome
	Duration time.Duration
	// Err is the error the step returned, a [*PanicError] if it panicked,
	// or why it was abandoned. In JSON it is its message.
	Err        error
	Stragglers []Straggler
}

// MarshalJSON renders the report with Err as its message (omitted when
// nil).
func (s StepReport) MarshalJSON() ([]byte, error) {
	type plain StepReport
	out := struct {
		plain
		Err string `json:",omitempty"`
	}{plain: plain(s)}
	if s.Err != nil {
		out.Err = s.Err.Error()
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON writes; Err comes back as an error
// with the message.
func (s *StepReport) UnmarshalJSON(b []byte) error {
	type plain StepReport
	var in struct {
		plain
		Err string
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*s = StepReport(in.plain)
	if in.Err != "" {
		s.Err = errors.New(in.Err)
	}
	return nil
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
	// ForcedBy and ForcedAt say, for a forced phase, what forced it and
	// when, as an offset from the phase's start.
	ForcedBy ForceCause `json:",omitempty"`
	ForcedAt time.Duration
	// Shortened is set when a second signal had come before the phase
	// began: it was allotted only the force grace.
	Shortened bool
	Steps     []StepReport
}

// Clean reports whether the phase lost nothing: every step returned nil in
// time and cut nothing off. A phase forced by its deadline or a second
// signal is clean when its steps had nothing left to cut.
func (p PhaseReport) Clean() bool {
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

// Clean reports whether the stop lost nothing: no step failed, was forced
// to cut something, panicked or was abandoned, and nothing was cut off.
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
//	  +5s       shutdown       10.25s   forced by its deadline at 10s
//	      http.public: forced: 1 request(s) cut off
//	        cut: request GET /slow (server public, ...), age 10.2s
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
		switch p.ForcedBy {
		case ForcedByDeadline:
			fmt.Fprintf(&b, " by its deadline at %v", round(p.ForcedAt))
		case ForcedBySignal:
			fmt.Fprintf(&b, " by the second signal at %v", round(p.ForcedAt))
		}
		if p.Shortened && p.Outcome == PhaseForced {
			fmt.Fprintf(&b, " (allotted %v: the second signal came before it)", round(p.Allotted))
		}
		for _, s := range p.Steps {
			if s.Outcome == StepOK && len(s.Stragglers) == 0 {
				continue
			}
			fmt.Fprintf(&b, "\n      %s: %s", s.Name, s.Outcome)
			if s.Err != nil {
				fmt.Fprintf(&b, ": %v", s.Err)
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
	if p.ForcedBy != "" {
		enc.AddString("forced_by", string(p.ForcedBy))
		enc.AddDuration("forced_at", p.ForcedAt)
	}
	if p.Shortened {
		enc.AddBool("shortened", true)
	}
	return enc.AddArray("steps", zapcore.ArrayMarshalerFunc(func(ae zapcore.ArrayEncoder) error {
		for _, s := range p.Steps {
			err := ae.AppendObject(zapcore.ObjectMarshalerFunc(func(e zapcore.ObjectEncoder) error {
				e.AddString("name", s.Name)
				e.AddString("outcome", string(s.Outcome))
				e.AddDuration("duration", s.Duration)
				if s.Err != nil {
					e.AddString("error", s.Err.Error())
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
