package wsmodule

import (
	"fmt"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/lameduck/lameduck/setting"
)

// CloseCode is a WebSocket close status code sent to clients when a hub
// drains.
type CloseCode int

// Close codes a hub may send when it drains (RFC 6455 section 7.4.1).
const (
	// CloseGoingAway (1001) tells the client that the server is going away.
	CloseGoingAway CloseCode = 1001
	// CloseServiceRestart (1012) tells the client that the service restarts
	// and it should reconnect.
	CloseServiceRestart CloseCode = 1012
)

// MaxCloseReason is the longest close reason a close frame can carry (125
// bytes of payload minus the 2-byte code).
const MaxCloseReason = 123

// Settings configure the upgrader and the hubs. In the configuration file
// they are the section "websocket".
type Settings struct {
	// AllowedOrigins lists the origins (scheme://host[:port]) allowed to
	// connect besides the server's own. Empty means same origin only. "*"
	// allows every origin.
	AllowedOrigins []string `yaml:"allowedOrigins"`
	// Subprotocols the server supports, in order of preference.
	Subprotocols []string `yaml:"subprotocols"`
	// ReadLimit is the largest message a client may send; a larger one
	// closes the connection with 1009.
	ReadLimit setting.ByteSize `yaml:"readLimit"`
	// HandshakeTimeout bounds the upgrade handshake.
	HandshakeTimeout time.Duration `yaml:"handshakeTimeout"`
	// Compression negotiates permessage-deflate. Off by default: it costs
	// memory per connection and CPU per message.
	Compression bool `yaml:"compression"`
	// SendQueue is the number of outbound messages a connection may have
	// queued; when it is full, sends fail and the connection is closed with
	// 1013 (Try Again Later).
	SendQueue int `yaml:"sendQueue"`
	// WriteTimeout bounds writing one message to a peer.
	WriteTimeout time.Duration `yaml:"writeTimeout"`
	// PingPeriod is how often the server pings an idle peer. Zero disables
	// keepalive.
	PingPeriod time.Duration `yaml:"pingPeriod"`
	// PongTimeout is how long the server waits for any message (pongs
	// included) before it closes the connection as dead.
	PongTimeout time.Duration `yaml:"pongTimeout"`
	// CloseCode is sent to every client when the hub drains: 1001 (Going
	// Away) or 1012 (Service Restart).
	CloseCode CloseCode `yaml:"closeCode"`
	// CloseReason is the text sent with the close code (at most 123 bytes).
	CloseReason string `yaml:"closeReason"`
	// CloseSpread spreads close frames over this window, with jitter, so that
	// clients do not all reconnect to the remaining replicas at once. Zero
	// sends them all at once. The drain spreads over at most half of the time
	// its phase has left, so that the last close handshakes complete in it.
	CloseSpread time.Duration `yaml:"closeSpread"`
	// CloseParallelism bounds how many close handshakes are started at once.
	CloseParallelism int `yaml:"closeParallelism"`
}

// DefaultSettings returns the hubs' defaults. environ is unused.
func DefaultSettings(environ []string) Settings {
	return Settings{
		ReadLimit:        setting.MiB,
		HandshakeTimeout: 10 * time.Second,
		SendQueue:        64,
		WriteTimeout:     10 * time.Second,
		PingPeriod:       30 * time.Second,
		PongTimeout:      60 * time.Second,
		CloseCode:        CloseGoingAway,
		CloseReason:      "server going away",
		CloseParallelism: 256,
	}
}

// Validate checks every setting, by the rules docs/wsmodule.md gives for
// each websocket.* key, and returns a [*setting.Error] with every problem.
func (w Settings) Validate() error {
	var c setting.Check
	for _, o := range w.AllowedOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			c.Add("allowedOrigins", o, `origins as scheme://host[:port] (e.g. "https://app.example.com"), or "*" for any`)
		}
	}
	c.Size("readLimit", w.ReadLimit, 1, setting.GiB)
	c.Duration("handshakeTimeout", w.HandshakeTimeout, time.Millisecond, 10*time.Minute)
	c.Int("sendQueue", w.SendQueue, 1, 1<<20)
	c.Duration("writeTimeout", w.WriteTimeout, time.Millisecond, 10*time.Minute)
	c.Duration("pingPeriod", w.PingPeriod, 0, time.Hour)
	if w.PongTimeout < 0 || w.PongTimeout > 24*time.Hour {
		c.Duration("pongTimeout", w.PongTimeout, 0, 24*time.Hour)
	} else if w.PingPeriod > 0 && w.PongTimeout <= w.PingPeriod {
		c.Add("pongTimeout", w.PongTimeout.String(), fmt.Sprintf("a duration longer than websocket.pingPeriod (%v)", w.PingPeriod))
	}
	if w.CloseCode != CloseGoingAway && w.CloseCode != CloseServiceRestart {
		c.Add("closeCode", strconv.Itoa(int(w.CloseCode)), "1001 (Going Away) or 1012 (Service Restart)")
	}
	if len(w.CloseReason) > MaxCloseReason {
		c.Add("closeReason", w.CloseReason, fmt.Sprintf("at most %d bytes (a close frame carries 125)", MaxCloseReason))
	} else if !utf8.ValidString(w.CloseReason) {
		c.Add("closeReason", w.CloseReason, "valid UTF-8 (RFC 6455 section 5.5.1; clients fail the connection otherwise)")
	}
	c.Duration("closeSpread", w.CloseSpread, 0, time.Hour)
	c.Int("closeParallelism", w.CloseParallelism, 1, 1<<20)
	return c.Err()
}
