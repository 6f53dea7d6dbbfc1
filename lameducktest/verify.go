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
//   - no step failed, was forced to cut something, panicked or was
//     abandoned, and nothing was cut off: no request, WebSocket or task is
//     among the stragglers ([lifecycle.StopReport.Clean]). A phase forced
//     by its deadline or a second signal whose steps had nothing left to
//     cut is clean.
func Verify(rep *lifecycle.StopReport) error {
	if rep == nil {
		return errors.New("lameducktest: no stop report: the stop has not ended")
	}
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	phases := lifecycle.Phases()
	if len(rep.Phases) != len(phases) {
		add("%d phases ran, want %d (%v)", len(rep.Phases), len(phases), phases)
	}
	for i, p := range rep.Phases {
		if i < len(phases) && p.Phase != phases[i] {
			add("phase %d is %s, want %s", i+1, p.Phase, phases[i])
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
		for _, s := range p.Steps {
			if s.Outcome != lifecycle.StepOK {
				msg := fmt.Sprintf("step %s (%s) %s", s.Name, p.Phase, s.Outcome)
				if s.Err != nil {
					msg += ": " + s.Err.Error()
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
