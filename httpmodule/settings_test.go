package httpmodule

import (
	"strings"
	"testing"
)

// A server name that could not name its variables is rejected, set in Go
// as in the file.
func TestSettingsRejectBadServerNames(t *testing.T) {
	for _, name := range []string{"Public_API", "9lives", "", "admin"} {
		s := Settings{name: DefaultServerSettings("127.0.0.1:0")}
		if err := s.Validate(); err == nil || name != "" && !strings.Contains(err.Error(), name+" = ") {
			t.Errorf("server %q: %v, want it rejected", name, err)
		}
	}
	if err := (Settings{"api2": DefaultServerSettings("127.0.0.1:0")}).Validate(); err != nil {
		t.Errorf("server api2: %v", err)
	}
}
