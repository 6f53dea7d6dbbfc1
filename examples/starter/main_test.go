package main

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(cleanBuild{m}) }

// cleanBuild removes the starter binary that the process tests built, after
// the tests and before goleak's check.
type cleanBuild struct{ m *testing.M }

func (c cleanBuild) Run() int {
	code := c.m.Run()
	if build.dir != "" {
		_ = os.RemoveAll(build.dir)
	}
	return code
}
