package wsmodule

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/lameduck/lameduck/config"
)

// check reports every setting of cfg and o that NewHub cannot work with,
// and a missing name: the hub's one check of its settings, by the rules
// docs/wsmodule.md gives for each websocket.* key.
func check(name string, cfg config.WebSocket, o hubOptions) error {
	var bad []string
	add := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	if name == "" {
		add("the hub has no name: name it after what it serves (e.g. \"chat\")")
	}
	if cfg.SendQueue < 1 {
		add("websocket.sendQueue is %d: want at least 1", cfg.SendQueue)
	}
	if cfg.ReadLimit < 1 {
		add("websocket.readLimit is %d: want at least 1 byte", cfg.ReadLimit)
	}
	if cfg.WriteTimeout <= 0 {
		add("websocket.writeTimeout is %v: want a positive duration", cfg.WriteTimeout)
	}
	if cfg.PingPeriod < 0 || (cfg.PingPeriod > 0 && cfg.PongTimeout <= cfg.PingPeriod) {
		add("websocket.pingPeriod %v, pongTimeout %v: want pingPeriod 0 (no keepalive) or pongTimeout > pingPeriod > 0", cfg.PingPeriod, cfg.PongTimeout)
	}
	if cfg.CloseCode != config.CloseGoingAway && cfg.CloseCode != config.CloseServiceRestart {
		add("websocket.closeCode is %d: want 1001 (Going Away) or 1012 (Service Restart)", cfg.CloseCode)
	}
	if len(cfg.CloseReason) > config.MaxCloseReason {
		add("websocket.closeReason is %d bytes: want at most %d", len(cfg.CloseReason), config.MaxCloseReason)
	} else if !utf8.ValidString(cfg.CloseReason) {
		add("websocket.closeReason %q is not valid UTF-8: clients fail a connection whose close reason is not", cfg.CloseReason)
	}
	if cfg.CloseParallelism < 1 {
		add("websocket.closeParallelism is %d: want at least 1", cfg.CloseParallelism)
	}
	if cfg.CloseSpread < 0 {
		add("websocket.closeSpread is %v: want 0 or more", cfg.CloseSpread)
	}
	if o.readBuf < minReadBuffer || o.writeBuf < 1 {
		add("buffer sizes %d (read) and %d (write): want at least %d and 1", o.readBuf, o.writeBuf, minReadBuffer)
	}
	if len(bad) > 0 {
		return fmt.Errorf("wsmodule: hub %q: %s", name, strings.Join(bad, "; "))
	}
	return nil
}
