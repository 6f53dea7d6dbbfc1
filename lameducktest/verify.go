package lameducktest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/lameduck/lameduck/lifecycle"
)

// RequireClean fails the test at once unless rep is the report of a clean
// stop (see [Verify]), and then prints the report's timeline with whatever
// was cut off.
func RequireClean(t testing.TB, rep *lifecycle.StopReport) {
	t.Helper()
	if err := Verify(rep); err != nil {
		t.Fatal(err)
	}
}

// Verify returns nil if rep is the report of a clean stop, and otherwise an
// error that lists every problem, followed by the report's timeline:
//
//   - every phase of [lifecycle.Phases] ran, once, in order, each starting
//     after the one before it ended;
//   - the stop ended within its budget;
//   - no phase was forced, no step failed, panicked or was abandoned, and
//     nothing was cut off: no request, WebSocket or task is among the
//     stragglers.
func Verify(rep *lifecycle.StopReport) error {
	if rep == nil {
		return errors.New("lameducktest: no stop report: the stop has not ended")
	}
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if len(rep.Phases) != len(lifecycle.Phases) {
		add("%d phases ran, want %d (%v)", len(rep.Phases), len(lifecycle.Phases), lifecycle.Phases)
	}
	for i, p := range rep.Phases {
		if i < len(lifecycle.Phases) && p.Phase != lifecycle.Phases[i] {
			add("phase %d is %s, want %s", i+1, p.Phase, lifecycle.Phases[i])
		}
		if i > 0 {
			prev := rep.Phases[i-1]
			if end := prev.Start + prev.Duration; p.Start < end {
				add("%s started at +%v, before %s ended at +%v", p.Phase, p.Start, prev.Phase, end)
			}
		}
	}
	if rep.Duration > rep.Budget {
		add("the stop took %v, more than its budget of %v", rep.Duration, rep.Budget)
	}
	for _, p := range rep.Phases {
		if p.Outcome == lifecycle.PhaseForced {
			add("phase %s was forced at its deadline (%v allotted)", p.Phase, p.Allotted)
		}
		for _, s := range p.Steps {
			if s.Outcome != lifecycle.StepOK {
				msg := fmt.Sprintf("step %s (%s) %s", s.Name, p.Phase, s.Outcome)
				if s.Err != "" {
					msg += ": " + s.Err
				}
				add("%s", msg)
			}
			for _, st := range s.Stragglers {
				add("step %s (%s) cut off %s", s.Name, p.Phase, st)
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("lameducktest: the stop was not clean:\n  - %s\n%s", strings.Join(problems, "\n  - "), rep)
}
