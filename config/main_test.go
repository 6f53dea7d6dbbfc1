package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// writeConfig writes a YAML config file and returns the environment entry
// that points Load at it.
func writeConfig(t testing.TB, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lameduck.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return EnvFile + "=" + path
}

// problemsOf returns the problems of a config error, failing the test if err
// is not one.
func problemsOf(t testing.TB, err error) []Problem {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want a *config.Error, got %T: %v", err, err)
	}
	return e.Problems
}

// findProblem returns the problem about key (a YAML path, or an environment
// variable for unknown variables).
func findProblem(t testing.TB, err error, key string) Problem {
	t.Helper()
	for _, p := range problemsOf(t, err) {
		if p.Key == key || p.Key == "" && p.Env == key {
			return p
		}
	}
	t.Fatalf("no problem about %s in:\n%v", key, err)
	return Problem{}
}
