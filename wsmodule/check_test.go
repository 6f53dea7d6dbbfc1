package wsmodule

import (
	"strings"
	"testing"
	"time"
)

// TestNewHubChecksSettings: NewHub refuses each setting it cannot work
// with, naming the key and what it wants, and accepts the defaults and both
// drain close codes.
func TestNewHubChecksSettings(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Settings)
		opts   []Option
		want   string // "" for accepted
	}{
		{"defaults", func(*Settings) {}, nil, ""},
		{"close code 1012", func(c *Settings) { c.CloseCode = CloseServiceRestart }, nil, ""},
		{"close code 1000", func(c *Settings) { c.CloseCode = 1000 }, nil, `websocket.closeCode = "1000": want 1001 (Going Away) or 1012 (Service Restart)`},
		{"close code 4000", func(c *Settings) { c.CloseCode = 4000 }, nil, `websocket.closeCode = "4000"`},
		{"close code 0", func(c *Settings) { c.CloseCode = 0 }, nil, `websocket.closeCode = "0"`},
		{"reason too long", func(c *Settings) { c.CloseReason = strings.Repeat("r", 124) }, nil, "want at most 123 bytes"},
		{"reason not UTF-8", func(c *Settings) { c.CloseReason = "bye \xff" }, nil, "want valid UTF-8"},
		{"send queue", func(c *Settings) { c.SendQueue = 0 }, nil, `websocket.sendQueue = "0": want an integer from 1`},
		{"read limit", func(c *Settings) { c.ReadLimit = 0 }, nil, `websocket.readLimit = "0"`},
		{"write timeout", func(c *Settings) { c.WriteTimeout = 0 }, nil, `websocket.writeTimeout = "0s"`},
		{"pong timeout", func(c *Settings) { c.PongTimeout = c.PingPeriod }, nil, "want a duration longer than websocket.pingPeriod (30s)"},
		{"no keepalive", func(c *Settings) { c.PingPeriod, c.PongTimeout = 0, 0 }, nil, ""},
		{"parallelism", func(c *Settings) { c.CloseParallelism = 0 }, nil, `websocket.closeParallelism = "0"`},
		{"spread", func(c *Settings) { c.CloseSpread = -time.Second }, nil, `websocket.closeSpread = "-1s"`},
		{"read buffer", func(*Settings) {}, []Option{WithBufferSizes(100, 4096)}, "buffer sizes 100 (read) and 4096 (write)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			tc.change(&cfg)
			_, err := NewHub("chat", cfg, tc.opts...)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("NewHub: %v, want it accepted", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("NewHub: %v, want an error with %q", err, tc.want)
			}
		})
	}
	if _, err := NewHub("", testConfig()); err == nil || !strings.Contains(err.Error(), "the hub has no name") {
		t.Fatalf("NewHub without a name: %v", err)
	}
}
