package wsmodule

import (
	"strings"
	"testing"
	"time"

	"github.com/lameduck/lameduck/config"
)

// TestNewHubChecksSettings: NewHub refuses each setting it cannot work
// with, naming the key and what it wants, and accepts the defaults and both
// drain close codes.
func TestNewHubChecksSettings(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*config.WebSocket)
		opts   []Option
		want   string // "" for accepted
	}{
		{"defaults", func(*config.WebSocket) {}, nil, ""},
		{"close code 1012", func(c *config.WebSocket) { c.CloseCode = config.CloseServiceRestart }, nil, ""},
		{"close code 1000", func(c *config.WebSocket) { c.CloseCode = 1000 }, nil, "websocket.closeCode is 1000: want 1001 (Going Away) or 1012 (Service Restart)"},
		{"close code 4000", func(c *config.WebSocket) { c.CloseCode = 4000 }, nil, "websocket.closeCode is 4000"},
		{"close code 0", func(c *config.WebSocket) { c.CloseCode = 0 }, nil, "websocket.closeCode is 0"},
		{"reason too long", func(c *config.WebSocket) { c.CloseReason = strings.Repeat("r", 124) }, nil, "websocket.closeReason is 124 bytes: want at most 123"},
		{"reason not UTF-8", func(c *config.WebSocket) { c.CloseReason = "bye \xff" }, nil, "is not valid UTF-8"},
		{"send queue", func(c *config.WebSocket) { c.SendQueue = 0 }, nil, "websocket.sendQueue is 0: want at least 1"},
		{"read limit", func(c *config.WebSocket) { c.ReadLimit = 0 }, nil, "websocket.readLimit is 0"},
		{"write timeout", func(c *config.WebSocket) { c.WriteTimeout = 0 }, nil, "websocket.writeTimeout is 0s"},
		{"pong timeout", func(c *config.WebSocket) { c.PongTimeout = c.PingPeriod }, nil, "want pingPeriod 0 (no keepalive) or pongTimeout > pingPeriod > 0"},
		{"no keepalive", func(c *config.WebSocket) { c.PingPeriod, c.PongTimeout = 0, 0 }, nil, ""},
		{"parallelism", func(c *config.WebSocket) { c.CloseParallelism = 0 }, nil, "websocket.closeParallelism is 0"},
		{"spread", func(c *config.WebSocket) { c.CloseSpread = -time.Second }, nil, "websocket.closeSpread is -1s"},
		{"read buffer", func(*config.WebSocket) {}, []Option{WithBufferSizes(100, 4096)}, "buffer sizes 100 (read) and 4096 (write)"},
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
