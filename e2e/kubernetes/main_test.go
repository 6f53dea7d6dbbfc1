package kubernetes

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(withSummary{m})
}

// withSummary prints the table of every scenario after the tests ran, and
// writes it into docs/kubernetes.md when LAMEDUCK_K8S_REPORT asks for it.
type withSummary struct{ m *testing.M }

func (w withSummary) Run() int {
	code := w.m.Run()
	defer removeBinaries()
	if err := finishSummary(os.Stdout, code == 0); err != nil {
		fmt.Fprintln(os.Stderr, "kubernetes:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
