package e2e

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(withSummary{m})
}

// withSummary prints the summary table after the tests ran, and writes it to
// docs/reliability.md when LAMEDUCK_E2E_REPORT asks for it.
type withSummary struct{ m *testing.M }

func (w withSummary) Run() int {
	code := w.m.Run()
	defer removeBinaries()
	defer stopSpawner()
	if err := finishSummary(os.Stdout, code == 0); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
