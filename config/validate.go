package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits enforced by Validate.
const (
	// MaxTotal is the longest stop budget allowed.
	MaxTotal = time.Hour
	// MinReserve is the smallest reserve allowed: force-closing and the
	// report need some time.
	MinReserve = 100 * time.Millisecond
	// MaxCloseReason is the longest close reason a WebSocket close frame can
	// carry (125 bytes of payload minus the 2-byte code).
	MaxCloseReason = 123
)

// validator collects problems.
type validator struct{ problems []Problem }

func (v *validator) add(key, value, want string) {
	v.problems = append(v.problems, Problem{Key: key, Env: envName(splitPath(key)), Value: value, Want: want})
}

func splitPath(key string) []string {
	var out []string
	start := 0
	for i := range len(key) {
		if key[i] == '.' {
			out = append(out, key[start:i])
			start = i + 1
		}
	}
	return append(out, key[start:])
}

func (v *validator) durationRange(key string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		v.add(key, d.String(), fmt.Sprintf("a duration from %v to %v", lo, hi))
	}
}

func (v *validator) intRange(key string, n, lo, hi int) {
	if n < lo || n > hi {
		v.add(key, strconv.Itoa(n), fmt.Sprintf("an integer from %d to %d", lo, hi))
	}
}

// Validate checks every setting and the rules between them, and returns an
// [*Error] listing every problem, or nil.
func (c Config) Validate() error {
	v := &validator{}
	c.Stop.validate(v)
	names := make([]string, 0, len(c.Servers))
	for name := range c.Servers {
		names = append(names, name)
	}
	sort.Strings(names)
	var addrs []claim // fixed addresses taken so far, for clashes
	for _, name := range names {
		key := "servers." + name
		if !validServerName(name) {
			v.add(key, name, "a server name of lower-case letters and digits, starting with a letter")
			continue
		}
		c.Servers[name].validate(v, key, c.Stop, &addrs)
	}
	if c.Admin.Enabled {
		if checkAddr(v, "admin.addr", c.Admin.Addr) {
			claimAddr(v, "admin.addr", c.Admin.Addr, &addrs)
		}
	}
	c.WebSocket.validate(v, c.Stop)
	c.Tasks.validate(v)
	c.Log.validate(v)
	if len(v.problems) > 0 {
		return &Error{Problems: v.problems}
	}
	return nil
}

func (s Stop) validate(v *validator) {
	v.durationRange("stop.total", s.Total, time.Second, MaxTotal)
	v.durationRange("stop.reserve", s.Reserve, MinReserve, max(s.Total/2, MinReserve))
	v.durationRange("stop.preStopDelay", s.PreStopDelay, 0, MaxTotal)
	v.durationRange("stop.shutdown", s.Shutdown, time.Millisecond, MaxTotal)
	v.durationRange("stop.hubDrain", s.HubDrain, 0, MaxTotal)
	v.durationRange("stop.wait", s.Wait, 0, MaxTotal)
	v.durationRange("stop.forceGrace", s.ForceGrace, time.Millisecond, max(s.Reserve/2, time.Millisecond))
	v.durationRange("stop.margin", s.Margin, 0, MaxTotal)
	v.durationRange("stop.gracePeriod", s.GracePeriod, 0, 24*time.Hour)

	phases := s.PreStopDelay + s.Shutdown + s.HubDrain + s.Wait
	if avail := s.Total - s.Reserve; phases > avail {
		v.add("stop.total", s.Total.String(), fmt.Sprintf(
			"room for the phases: stop.preStopDelay (%v) + stop.shutdown (%v) + stop.hubDrain (%v) + stop.wait (%v) = %v "+
				"exceeds stop.total (%v) - stop.reserve (%v) = %v; raise stop.total to at least %v or shorten the phases by %v",
			s.PreStopDelay, s.Shutdown, s.HubDrain, s.Wait, phases, s.Total, s.Reserve, avail, phases+s.Reserve, phases-avail))
	}
	if s.GracePeriod > 0 && s.Total+s.Margin > s.GracePeriod {
		need := s.Total + s.Margin
		v.add("stop.gracePeriod", s.GracePeriod.String(), fmt.Sprintf(
			"room for the stop: stop.total (%v) + stop.margin (%v) = %v does not fit in the grace period (%v); "+
				"raise terminationGracePeriodSeconds (and LAMEDUCK_STOP_GRACE_PERIOD) to at least %d, or lower stop.total to %v or less",
			s.Total, s.Margin, need, s.GracePeriod, int((need+time.Second-1)/time.Second), max(s.GracePeriod-s.Margin, 0)))
	}
}

func (s Server) validate(v *validator, key string, stop Stop, addrs *[]claim) {
	if checkAddr(v, key+".addr", s.Addr) {
		claimAddr(v, key+".addr", s.Addr, addrs)
	}
	if len(s.Protocols) == 0 {
		v.add(key+".protocols", "", `one or both of "http1" and "h2c"`)
	}
	seen := map[Protocol]bool{}
	for _, p := range s.Protocols {
		if p != HTTP1 && p != H2C || seen[p] {
			v.add(key+".protocols", string(p), `one or both of "http1" and "h2c", each once ("Upgrade: h2c" is not supported; h2c means prior knowledge)`)
		}
		seen[p] = true
	}
	v.durationRange(key+".readHeaderTimeout", s.ReadHeaderTimeout, time.Millisecond, 10*time.Minute)
	v.durationRange(key+".readTimeout", s.ReadTimeout, 0, 24*time.Hour)
	v.durationRange(key+".writeTimeout", s.WriteTimeout, 0, 24*time.Hour)
	v.durationRange(key+".idleTimeout", s.IdleTimeout, time.Millisecond, 24*time.Hour)
	if s.MaxHeaderBytes < KiB || s.MaxHeaderBytes > 16*MiB {
		v.add(key+".maxHeaderBytes", s.MaxHeaderBytes.String(), "a size from 1KiB to 16MiB")
	}
	v.intRange(key+".maxConcurrentStreams", s.MaxConcurrentStreams, 1, 1<<20)
	v.intRange(key+".maxConns", s.MaxConns, 0, 1<<24)
	v.durationRange(key+".h2IdleGrace", s.H2IdleGrace, 0, max(stop.Shutdown, 0))
}

// checkAddr reports whether addr is a valid host:port.
func checkAddr(v *validator, key, addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		var n int
		n, err = strconv.Atoi(port)
		if err == nil && (n < 0 || n > 65535) {
			err = fmt.Errorf("port out of range")
		}
	}
	if err != nil {
		v.add(key, addr, `a TCP address "host:port" such as ":8080" or "127.0.0.1:0" (port 0 picks a free port)`)
		return false
	}
	return true
}

// claim is a fixed address a server listens on.
type claim struct{ key, host, port string }

// claimAddr reports two servers configured to listen on the same fixed port
// of the same host; a wildcard host ("", "0.0.0.0", "::") takes the port on
// every host, so it clashes with any host on that port.
func claimAddr(v *validator, key, addr string, addrs *[]claim) {
	host, port, _ := net.SplitHostPort(addr)
	if n, err := strconv.Atoi(port); err != nil || n == 0 {
		return // port 0 picks a free port; a bad one is reported by checkAddr
	}
	port = strings.TrimLeft(port, "+0") // ":08080" is ":8080"
	for _, c := range *addrs {
		if c.port == port && (c.host == host || wildcardHost(c.host) || wildcardHost(host)) {
			v.add(key, addr, fmt.Sprintf("an address not already used by %s", c.key))
			return
		}
	}
	*addrs = append(*addrs, claim{key, host, port})
}

func wildcardHost(host string) bool {
	ip := net.ParseIP(host)
	return host == "" || ip != nil && ip.IsUnspecified()
}

func (w WebSocket) validate(v *validator, stop Stop) {
	for _, o := range w.AllowedOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			v.add("websocket.allowedOrigins", o, `origins as scheme://host[:port] (e.g. "https://app.example.com"), or "*" for any`)
		}
	}
	if w.ReadLimit < 1 || w.ReadLimit > GiB {
		v.add("websocket.readLimit", w.ReadLimit.String(), "a size from 1 byte to 1GiB")
	}
	v.durationRange("websocket.handshakeTimeout", w.HandshakeTimeout, time.Millisecond, 10*time.Minute)
	v.intRange("websocket.sendQueue", w.SendQueue, 1, 1<<20)
	v.durationRange("websocket.writeTimeout", w.WriteTimeout, time.Millisecond, 10*time.Minute)
	v.durationRange("websocket.pingPeriod", w.PingPeriod, 0, time.Hour)
	if w.PongTimeout < 0 || w.PongTimeout > 24*time.Hour {
		v.durationRange("websocket.pongTimeout", w.PongTimeout, 0, 24*time.Hour)
	} else if w.PingPeriod > 0 && w.PongTimeout <= w.PingPeriod {
		v.add("websocket.pongTimeout", w.PongTimeout.String(), fmt.Sprintf("a duration longer than websocket.pingPeriod (%v)", w.PingPeriod))
	}
	if !slices.Contains([]CloseCode{1000, CloseGoingAway, CloseServiceRestart, 1013}, w.CloseCode) && (w.CloseCode < 4000 || w.CloseCode > 4999) {
		v.add("websocket.closeCode", strconv.Itoa(int(w.CloseCode)), "1001 (Going Away), 1012 (Service Restart), 1000, 1013, or an application code 4000-4999")
	}
	if len(w.CloseReason) > MaxCloseReason {
		v.add("websocket.closeReason", w.CloseReason, fmt.Sprintf("at most %d bytes (a close frame carries 125)", MaxCloseReason))
	} else if !utf8.ValidString(w.CloseReason) {
		v.add("websocket.closeReason", w.CloseReason, "valid UTF-8 (RFC 6455 section 5.5.1; clients fail the connection otherwise)")
	}
	if w.CloseSpread < 0 || (w.CloseSpread > 0 && w.CloseSpread >= stop.HubDrain) {
		v.add("websocket.closeSpread", w.CloseSpread.String(), fmt.Sprintf("a duration from 0 to less than stop.hubDrain (%v), so that the last close handshakes complete in the phase", stop.HubDrain))
	}
	v.intRange("websocket.closeParallelism", w.CloseParallelism, 1, 1<<20)
}

func (t Tasks) validate(v *validator) {
	v.intRange("tasks.maxRunning", t.MaxRunning, 0, 1<<24)
	v.intRange("tasks.queue", t.Queue, 0, 1<<24)
	if t.WhenFull != Wait && t.WhenFull != Fail {
		v.add("tasks.whenFull", string(t.WhenFull), `"wait" or "fail"`)
	}
	v.durationRange("tasks.taskTimeout", t.TaskTimeout, 0, 24*time.Hour)
}

func (l Log) validate(v *validator) {
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, l.Level) {
		v.add("log.level", l.Level, `"debug", "info", "warn" or "error"`)
	}
	if l.Format != "json" && l.Format != "console" {
		v.add("log.format", l.Format, `"json" or "console"`)
	}
}
