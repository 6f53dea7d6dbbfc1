package httpmodule

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"go.uber.org/zap"
)

// The first releases of each supported Go line with the HTTP/2 server's
// security fixes that lameduck's servers need (h2c, and HTTP/2 over TLS):
// a server built with an earlier release logs a warning when it starts.
const (
	fixedGo126 = 9 // go1.26.9
	fixedGo127 = 2 // go1.27.2
)

// goVersionWarning returns why the Go release version (runtime.Version's
// form, "go1.26.8") should not serve HTTP/2, or "" if it has the fixes or
// is not a release (a development build).
func goVersionWarning(version string) string {
	rest, ok := strings.CutPrefix(version, "go1.")
	if !ok {
		return ""
	}
	parts := strings.SplitN(rest, ".", 3)
	minor, err := strconv.Atoi(leadingDigits(parts[0])) // "27rc1": a pre-release of 1.27.0
	if err != nil {
		return ""
	}
	patch := 0
	if len(parts) > 1 {
		patch, _ = strconv.Atoi(leadingDigits(parts[1]))
	}
	switch {
	case minor < 26:
		return fmt.Sprintf("%s is no longer supported and lacks the HTTP/2 server's security fixes: build with Go 1.26.%d or 1.27.%d or later", version, fixedGo126, fixedGo127)
	case minor == 26 && patch < fixedGo126:
		return fmt.Sprintf("%s lacks the HTTP/2 server's security fixes of go1.26.%d: build with go1.26.%d or later", version, fixedGo126, fixedGo126)
	case minor == 27 && patch < fixedGo127:
		return fmt.Sprintf("%s lacks the HTTP/2 server's security fixes of go1.27.%d: build with go1.27.%d or later", version, fixedGo127, fixedGo127)
	}
	return ""
}

func leadingDigits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}

var warnGoOnce sync.Once

// warnGoVersion logs, once per process, that the running Go lacks the HTTP/2
// server's security fixes, if it does.
func warnGoVersion(log *zap.Logger) {
	warnGoOnce.Do(func() {
		if w := goVersionWarning(runtime.Version()); w != "" {
			log.Warn("the Go this program was built with has known HTTP/2 server vulnerabilities", zap.String("go", runtime.Version()), zap.String("fix", w))
		}
	})
}
