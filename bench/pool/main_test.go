package pool

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// ants starts the goroutines of its default pool when it is
	// imported; every other goroutine must be gone at the end.
	goleak.VerifyTestMain(m, goleak.IgnoreCurrent())
}
