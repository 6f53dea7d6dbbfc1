package metrics

import (
	"strings"

	"github.com/lameduck/lameduck/setting"
)

// Settings configure the metrics. In the configuration file they are the
// section "metrics".
type Settings struct {
	// Path is where the admin server serves the metrics.
	Path string `yaml:"path"`
	// Routes adds lameduck_http_route_requests_in_flight: the requests in
	// flight per server and route pattern, counted at each scrape.
	Routes bool `yaml:"routes"`
	// Runtime adds the Go runtime's and the process's own metrics (go_*,
	// process_*) to the registry the module creates.
	Runtime bool `yaml:"runtime"`
}

// DefaultSettings returns /metrics, without the per-route gauge, with the
// runtime's metrics. environ is unused.
func DefaultSettings(environ []string) Settings {
	return Settings{Path: "/metrics", Runtime: true}
}

// Validate checks the path.
func (s Settings) Validate() error {
	var c setting.Check
	if !strings.HasPrefix(s.Path, "/") || strings.ContainsAny(s.Path, " \t{}") {
		c.Add("path", s.Path, `a path such as "/metrics"`)
	}
	return c.Err()
}
