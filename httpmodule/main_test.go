package httpmodule

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The idle-connection benchmarks run their clients in a second process
	// (this test binary again) to stay under the per-process file
	// descriptor limit.
	if spec := os.Getenv(idleClientEnv); spec != "" {
		os.Exit(runIdleClient(spec))
	}
	goleak.VerifyTestMain(m)
}
