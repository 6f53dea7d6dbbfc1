package httpmodule

import (
	"strings"
	"testing"
)

func TestGoVersionWarning(t *testing.T) {
	for version, warn := range map[string]bool{
		"go1.25.9": true, "go1.26.0": true, "go1.26.8": true, "go1.26.9": false, "go1.26.12": false,
		"go1.27": true, "go1.27rc1": true, "go1.27.1": true, "go1.27.2": false, "go1.27.4": false,
		"go1.28": false, "go1.28.1": false, "devel go1.28-abcdef": false,
	} {
		got := goVersionWarning(version)
		if (got != "") != warn || warn && !strings.Contains(got, version) {
			t.Errorf("goVersionWarning(%q) = %q, want a warning: %v", version, got, warn)
		}
	}
}
