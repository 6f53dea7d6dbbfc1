package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Exit statuses of a process stopped by the coordinator (see [ExitCode]).
const (
	// ExitClean: the stop lost nothing.
	ExitClean = 0
	// ExitFailed: the configuration is invalid, the application failed to
	// start, or its stop failed for a reason other than a [*StopError].
	ExitFailed = 1
	// ExitForced: the stop completed within its budget, but something was
	// cut off, a step failed, or the budget ran out.
	ExitForced = 3
	// ExitAborted: a third signal ended the process at once, in the middle
	// of the stop.
	ExitAborted = 4
)

// The causes of a step's context ending (context.Cause).
var (
	// ErrPhaseDeadline: the phase reached its deadline (ctx.Err() is
	// context.DeadlineExceeded, unless the budget's end moved before it).
	ErrPhaseDeadline = fmt.Errorf("lifecycle: the phase reached its deadline: %w", context.DeadlineExceeded)
	// ErrSecondSignal: a second stop signal forced the phase.
	ErrSecondSignal = errors.New("lifecycle: a second stop signal forced the phase")
)

// errAbandoned is the error of a step that did not return by its force
// deadline.
var errAbandoned = errors.New("did not return after its context was cancelled")

// StopError is returned by [Coordinator.Stop] when the stop was not clean.
// errors.Is and errors.As see the error of every step that did not end
// cleanly through it.
type StopError struct {
	Report *StopReport
}

func (e *StopError) Error() string {
	var b strings.Builder
	b.WriteString("lifecycle: stop was not clean")
	if cut := e.Report.Stragglers(); len(cut) > 0 {
		fmt.Fprintf(&b, " (%d cut off; first: %s)", len(cut), cut[0])
	}
	for _, p := range e.Report.Phases {
		for _, s := range p.Steps {
			if s.Outcome != StepOK {
				fmt.Fprintf(&b, "; %s %s %s", p.Phase, s.Name, s.Outcome)
				if s.Err != nil {
					fmt.Fprintf(&b, ": %v", s.Err)
				}
			}
		}
	}
	return b.String()
}

// Unwrap returns the errors of the steps, in phase order.
func (e *StopError) Unwrap() []error {
	var errs []error
	for _, p := range e.Report.Phases {
		for _, s := range p.Steps {
			if s.Err != nil {
				errs = append(errs, s.Err)
			}
		}
	}
	return errs
}

// ExitCode maps the error of a stop to the process exit status:
// [ExitClean] for nil, [ExitForced] for a [*StopError] anywhere in err's
// chain, [ExitFailed] for anything else.
func ExitCode(err error) int {
	if err == nil {
		return ExitClean
	}
	var se *StopError
	if errors.As(err, &se) {
		return ExitForced
	}
	return ExitFailed
}
