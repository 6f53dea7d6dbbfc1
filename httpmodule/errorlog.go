package httpmodule

import (
	"log"

	"go.uber.org/zap"
)

// newErrorLog returns the http.Server ErrorLog: net/http's own messages
// (handler panics, accept errors, protocol errors of clients) as zap
// warnings tagged with the server's name.
func newErrorLog(l *zap.Logger, name string) *log.Logger {
	lg, err := zap.NewStdLogAt(l.With(zap.String("server", name)), zap.WarnLevel)
	if err != nil {
		return zap.NewStdLog(l)
	}
	return lg
}
