package lameduck_test

import (
	"strings"
	"testing"
	"time"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/bgwork"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/setting"
	"github.com/lameduck/lameduck/wsmodule"
)

// envOf is the variable of a dotted key: servers.public.readHeaderTimeout
// is LAMEDUCK_SERVERS_PUBLIC_READ_HEADER_TIMEOUT.
func envOf(key string) string {
	var b strings.Builder
	b.WriteString("LAMEDUCK")
	for part := range strings.SplitSeq(key, ".") {
		b.WriteByte('_')
		for i, r := range part {
			if i > 0 && r >= 'A' && r <= 'Z' {
				b.WriteByte('_')
			}
			b.WriteString(strings.ToUpper(string(r)))
		}
	}
	return b.String()
}

// Each case breaks one rule of a valid config and expects exactly one
// problem, with the key, its environment variable, the bad value and the
// text that says what is allowed.
func TestValidateRules(t *testing.T) {
	setSrv := func(f func(*httpmodule.ServerSettings)) func(*lameduck.Config) {
		return func(c *lameduck.Config) { s := c.Servers["public"]; f(&s); c.Servers["public"] = s }
	}
	for _, tc := range []struct {
		name   string
		mutate func(*lameduck.Config)
		key    string
		value  string
		want   string
	}{
		// stop
		{"total too long", func(c *lameduck.Config) { c.Stop.Total = 2 * time.Hour }, "stop.total", "2h0m0s", "a duration from 1s to 1h0m0s"},
		{"negative total", func(c *lameduck.Config) { c.Stop.Total = -5 * time.Second }, "stop.total", "-5s", "a duration from 1s to 1h0m0s"},
		{"reserve too short", func(c *lameduck.Config) {
			c.Stop.Reserve = 50 * time.Millisecond
			c.Stop.ForceGrace = 10 * time.Millisecond
		}, "stop.reserve", "50ms", "a duration from 100ms to 12.5s"},
		{"reserve over half the total", func(c *lameduck.Config) { c.Stop.Reserve = 13 * time.Second; c.Stop.Shutdown = time.Second }, "stop.reserve", "13s", "a duration from 100ms to 12.5s"},
		{"negative preStopDelay", func(c *lameduck.Config) { c.Stop.PreStopDelay = -time.Second }, "stop.preStopDelay", "-1s", "a duration from 0s to 1h0m0s"},
		{"zero shutdown", func(c *lameduck.Config) { c.Stop.Shutdown = 0 }, "stop.shutdown", "0s", "a duration from 1ms to 1h0m0s"},
		{"negative hubDrain", func(c *lameduck.Config) { c.Stop.HubDrain = -time.Second }, "stop.hubDrain", "-1s", "a duration from 0s to 1h0m0s"},
		{"negative wait", func(c *lameduck.Config) { c.Stop.Wait = -time.Second }, "stop.wait", "-1s", "a duration from 0s to 1h0m0s"},
		{"zero forceGrace", func(c *lameduck.Config) { c.Stop.ForceGrace = 0 }, "stop.forceGrace", "0s", "a duration from 1ms to 500ms"},
		{"forceGrace over half the reserve", func(c *lameduck.Config) { c.Stop.ForceGrace = 600 * time.Millisecond }, "stop.forceGrace", "600ms", "a duration from 1ms to 500ms"},
		{"negative margin", func(c *lameduck.Config) { c.Stop.Margin = -time.Second }, "stop.margin", "-1s", "a duration from 0s to 1h0m0s"},
		{"negative gracePeriod", func(c *lameduck.Config) { c.Stop.GracePeriod = -time.Second }, "stop.gracePeriod", "-1s", "a duration from 0s to 24h0m0s"},
		{"phases exceed total-reserve", func(c *lameduck.Config) { c.Stop.Shutdown = 20 * time.Second }, "stop.total", "25s",
			"stop.preStopDelay (0s) + stop.shutdown (20s) + stop.hubDrain (5s) + stop.wait (4s) = 29s exceeds stop.total (25s) - stop.reserve (1s) = 24s; " +
				"raise stop.total to at least 30s or shorten the phases by 5s"},
		{"phases with the Kubernetes preStop delay exceed total-reserve", func(c *lameduck.Config) { c.Stop.PreStopDelay = 5 * time.Second; c.Stop.Reserve = 2 * time.Second }, "stop.total", "25s",
			"= 24s exceeds stop.total (25s) - stop.reserve (2s) = 23s; raise stop.total to at least 26s or shorten the phases by 1s"},
		{"total+margin exceed the grace period", func(c *lameduck.Config) { c.Stop.GracePeriod = 20 * time.Second }, "stop.gracePeriod", "20s",
			"stop.total (25s) + stop.margin (3s) = 28s does not fit in the grace period (20s); " +
				"raise terminationGracePeriodSeconds (and LAMEDUCK_STOP_GRACE_PERIOD) to at least 28, or lower stop.total to 17s or less"},
		{"total+margin exceed the grace period by a fraction of a second", func(c *lameduck.Config) {
			c.Stop.GracePeriod = 28 * time.Second
			c.Stop.Margin = 3500 * time.Millisecond
		}, "stop.gracePeriod", "28s",
			"to at least 29, or lower stop.total to 24.5s or less"},

		// servers
		{"server address without port", setSrv(func(s *httpmodule.ServerSettings) { s.Addr = "localhost" }), "servers.public.addr", "localhost", `a TCP address "host:port"`},
		{"server port out of range", setSrv(func(s *httpmodule.ServerSettings) { s.Addr = ":99999" }), "servers.public.addr", ":99999", `a TCP address "host:port"`},
		{"no protocols", setSrv(func(s *httpmodule.ServerSettings) { s.Protocols = nil }), "servers.public.protocols", "", `one or both of "http1" and "h2c"`},
		{"unknown protocol", setSrv(func(s *httpmodule.ServerSettings) { s.Protocols = []httpmodule.Protocol{"h3"} }), "servers.public.protocols", "h3", `"Upgrade: h2c" is not supported`},
		{"protocol twice", setSrv(func(s *httpmodule.ServerSettings) {
			s.Protocols = []httpmodule.Protocol{httpmodule.HTTP1, httpmodule.HTTP1}
		}), "servers.public.protocols", "http1", "each once"},
		{"zero readHeaderTimeout", setSrv(func(s *httpmodule.ServerSettings) { s.ReadHeaderTimeout = 0 }), "servers.public.readHeaderTimeout", "0s", "a duration from 1ms to 10m0s"},
		{"negative readTimeout", setSrv(func(s *httpmodule.ServerSettings) { s.ReadTimeout = -1 }), "servers.public.readTimeout", "-1ns", "a duration from 0s to 24h0m0s"},
		{"negative writeTimeout", setSrv(func(s *httpmodule.ServerSettings) { s.WriteTimeout = -1 }), "servers.public.writeTimeout", "-1ns", "a duration from 0s to 24h0m0s"},
		{"zero idleTimeout", setSrv(func(s *httpmodule.ServerSettings) { s.IdleTimeout = 0 }), "servers.public.idleTimeout", "0s", "a duration from 1ms to 24h0m0s"},
		{"small maxHeaderBytes", setSrv(func(s *httpmodule.ServerSettings) { s.MaxHeaderBytes = 512 }), "servers.public.maxHeaderBytes", "512", "a size from 1KiB to 16MiB"},
		{"huge maxHeaderBytes", setSrv(func(s *httpmodule.ServerSettings) { s.MaxHeaderBytes = 32 * setting.MiB }), "servers.public.maxHeaderBytes", "32MiB", "a size from 1KiB to 16MiB"},
		{"zero maxConcurrentStreams", setSrv(func(s *httpmodule.ServerSettings) { s.MaxConcurrentStreams = 0 }), "servers.public.maxConcurrentStreams", "0", "an integer from 1 to 1048576"},
		{"negative maxConns", setSrv(func(s *httpmodule.ServerSettings) { s.MaxConns = -1 }), "servers.public.maxConns", "-1", "an integer from 0 to 16777216"},
		{"h2IdleGrace beyond its cap", setSrv(func(s *httpmodule.ServerSettings) { s.H2IdleGrace = 11 * time.Minute }), "servers.public.h2IdleGrace", "11m0s", "a duration from 0s to 10m0s"},
		{"negative h2IdleGrace", setSrv(func(s *httpmodule.ServerSettings) { s.H2IdleGrace = -time.Second }), "servers.public.h2IdleGrace", "-1s", "a duration from 0s to 10m0s"},
		{"a server named like the admin server", func(c *lameduck.Config) {
			c.Servers[httpmodule.AdminServer] = httpmodule.DefaultServerSettings(":8081")
		},
			"servers.admin", "admin", `a name other than "admin", which the admin server has (admin.addr)`},
		{"two servers on one address", func(c *lameduck.Config) { c.Servers["internal"] = httpmodule.DefaultServerSettings(":8080") },
			"servers.public.addr", ":8080", "an address not already used by servers.internal.addr"},
		{"a host address on a port a wildcard address takes", func(c *lameduck.Config) { c.Servers["internal"] = httpmodule.DefaultServerSettings("127.0.0.1:8080") },
			"servers.public.addr", ":8080", "an address not already used by servers.internal.addr"},
		{"the same port written differently", func(c *lameduck.Config) { c.Servers["internal"] = httpmodule.DefaultServerSettings("0.0.0.0:08080") },
			"servers.public.addr", ":8080", "an address not already used by servers.internal.addr"},

		// admin
		{"admin on a server's address", func(c *lameduck.Config) { c.Admin.Addr = "[::]:8080" }, "admin.addr", "[::]:8080", "an address not already used by servers.public.addr"},
		{"bad admin address", func(c *lameduck.Config) { c.Admin.Addr = "9090" }, "admin.addr", "9090", `a TCP address "host:port"`},

		// websocket
		{"origin without scheme", func(c *lameduck.Config) { c.WebSocket.AllowedOrigins = []string{"*", "app.example.com"} }, "websocket.allowedOrigins", "app.example.com", "origins as scheme://host[:port]"},
		{"origin with a path", func(c *lameduck.Config) { c.WebSocket.AllowedOrigins = []string{"https://app.example.com/ws"} }, "websocket.allowedOrigins", "https://app.example.com/ws", "origins as scheme://host[:port]"},
		{"zero readLimit", func(c *lameduck.Config) { c.WebSocket.ReadLimit = 0 }, "websocket.readLimit", "0", "a size from 1 to 1GiB"},
		{"zero handshakeTimeout", func(c *lameduck.Config) { c.WebSocket.HandshakeTimeout = 0 }, "websocket.handshakeTimeout", "0s", "a duration from 1ms to 10m0s"},
		{"zero sendQueue", func(c *lameduck.Config) { c.WebSocket.SendQueue = 0 }, "websocket.sendQueue", "0", "an integer from 1 to 1048576"},
		{"zero writeTimeout", func(c *lameduck.Config) { c.WebSocket.WriteTimeout = 0 }, "websocket.writeTimeout", "0s", "a duration from 1ms to 10m0s"},
		{"pingPeriod too long", func(c *lameduck.Config) {
			c.WebSocket.PingPeriod = 2 * time.Hour
			c.WebSocket.PongTimeout = 3 * time.Hour
		}, "websocket.pingPeriod", "2h0m0s", "a duration from 0s to 1h0m0s"},
		{"pongTimeout not after pingPeriod", func(c *lameduck.Config) { c.WebSocket.PongTimeout = 30 * time.Second }, "websocket.pongTimeout", "30s", "a duration longer than websocket.pingPeriod (30s)"},
		{"negative pongTimeout without pings", func(c *lameduck.Config) { c.WebSocket.PingPeriod = 0; c.WebSocket.PongTimeout = -time.Second }, "websocket.pongTimeout", "-1s", "a duration from 0s to 24h0m0s"},
		{"abnormal close code", func(c *lameduck.Config) { c.WebSocket.CloseCode = 1006 }, "websocket.closeCode", "1006", "1001 (Going Away) or 1012 (Service Restart)"},
		{"normal closure", func(c *lameduck.Config) { c.WebSocket.CloseCode = 1000 }, "websocket.closeCode", "1000", "1001 (Going Away) or 1012 (Service Restart)"},
		{"try again later", func(c *lameduck.Config) { c.WebSocket.CloseCode = 1013 }, "websocket.closeCode", "1013", "1001 (Going Away) or 1012 (Service Restart)"},
		{"application close code", func(c *lameduck.Config) { c.WebSocket.CloseCode = 4000 }, "websocket.closeCode", "4000", "1001 (Going Away) or 1012 (Service Restart)"},
		{"close reason too long", func(c *lameduck.Config) { c.WebSocket.CloseReason = strings.Repeat("x", 124) }, "websocket.closeReason", strings.Repeat("x", 124), "at most 123 bytes"},
		{"close reason not UTF-8", func(c *lameduck.Config) { c.WebSocket.CloseReason = "bye\xff" }, "websocket.closeReason", "bye\xff", "valid UTF-8"},
		{"negative closeSpread", func(c *lameduck.Config) { c.WebSocket.CloseSpread = -time.Second }, "websocket.closeSpread", "-1s", "a duration from 0s to 1h0m0s"},
		{"closeSpread beyond its cap", func(c *lameduck.Config) { c.WebSocket.CloseSpread = 2 * time.Hour }, "websocket.closeSpread", "2h0m0s", "a duration from 0s to 1h0m0s"},
		{"zero closeParallelism", func(c *lameduck.Config) { c.WebSocket.CloseParallelism = 0 }, "websocket.closeParallelism", "0", "an integer from 1 to 1048576"},

		// tasks
		{"negative maxRunning", func(c *lameduck.Config) { c.Tasks.MaxRunning = -1 }, "tasks.maxRunning", "-1", "an integer from 0 to 16777216"},
		{"negative queue", func(c *lameduck.Config) { c.Tasks.Queue = -1 }, "tasks.queue", "-1", "an integer from 0 to 16777216"},
		{"huge queue", func(c *lameduck.Config) { c.Tasks.Queue = 1<<24 + 1 }, "tasks.queue", "16777217", "an integer from 0 to 16777216"},
		{"unknown whenFull", func(c *lameduck.Config) { c.Tasks.WhenFull = "block" }, "tasks.whenFull", "block", `"wait" or "fail"`},
		{"negative taskTimeout", func(c *lameduck.Config) { c.Tasks.TaskTimeout = -time.Second }, "tasks.taskTimeout", "-1s", "a duration from 0s to 24h0m0s"},

		// log
		{"unknown level", func(c *lameduck.Config) { c.Log.Level = "trace" }, "log.level", "trace", `"debug", "info", "warn" or "error"`},
		{"unknown format", func(c *lameduck.Config) { c.Log.Format = "text" }, "log.format", "text", `"json" or "console"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := lameduck.DefaultConfig(nil)
			tc.mutate(&cfg)
			err := cfg.Validate()
			if err == nil {
				t.Fatal("Validate accepted the config")
			}
			ps := problemsOf(t, err)
			if len(ps) != 1 {
				t.Errorf("%d problems, want 1:\n%v", len(ps), err)
			}
			p := findProblem(t, err, tc.key)
			if env := envOf(tc.key); p.Env != env {
				t.Errorf("env = %q, want %q", p.Env, env)
			}
			if p.Value != tc.value {
				t.Errorf("value = %q, want %q", p.Value, tc.value)
			}
			if !strings.Contains(p.Want, tc.want) {
				t.Errorf("want = %q\ndoes not contain %q", p.Want, tc.want)
			}
			// The message a person reads has all of it, once.
			for _, s := range []string{tc.key, p.Env, tc.want} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error message does not contain %q:\n%v", s, err)
				}
			}
			if strings.Contains(err.Error(), "want want") {
				t.Errorf("doubled word in:\n%v", err)
			}
		})
	}
}

// Configs that are close to a rule's edge but valid.
func TestValidateAccepts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*lameduck.Config)
	}{
		{"phases exactly fill total-reserve", func(c *lameduck.Config) { c.Stop.PreStopDelay = 5 * time.Second }},
		{"total+margin exactly fill the grace period", func(c *lameduck.Config) { c.Stop.GracePeriod = 28 * time.Second }},
		{"two servers on port 0", func(c *lameduck.Config) {
			c.Servers["public"] = httpmodule.DefaultServerSettings("127.0.0.1:0")
			c.Servers["internal"] = httpmodule.DefaultServerSettings("127.0.0.1:0")
		}},
		{"one port on two hosts", func(c *lameduck.Config) {
			c.Servers["public"] = httpmodule.DefaultServerSettings("127.0.0.1:8080")
			c.Servers["internal"] = httpmodule.DefaultServerSettings("127.0.0.2:8080")
		}},
		{"disabled admin server with a bad address", func(c *lameduck.Config) { c.Admin.Enabled = false; c.Admin.Addr = "nonsense" }},
		{"disabled admin server on a server's address", func(c *lameduck.Config) { c.Admin.Enabled = false; c.Admin.Addr = ":8080" }},
		{"admin server on port 0", func(c *lameduck.Config) {
			c.Admin.Addr = "127.0.0.1:0"
			c.Servers["public"] = httpmodule.DefaultServerSettings("127.0.0.1:0")
		}},
		{"no servers", func(c *lameduck.Config) { c.Servers = nil }},
		{"every origin", func(c *lameduck.Config) { c.WebSocket.AllowedOrigins = []string{"*"} }},
		{"origins with ports and a trailing slash", func(c *lameduck.Config) {
			c.WebSocket.AllowedOrigins = []string{"http://localhost:3000", "https://app.example.com/"}
		}},
		{"no keepalive", func(c *lameduck.Config) { c.WebSocket.PingPeriod = 0; c.WebSocket.PongTimeout = 0 }},
		{"service restart close code", func(c *lameduck.Config) { c.WebSocket.CloseCode = wsmodule.CloseServiceRestart }},
		{"close reason of 123 bytes", func(c *lameduck.Config) { c.WebSocket.CloseReason = strings.Repeat("é", 61) + "x" }},
		{"empty close reason", func(c *lameduck.Config) { c.WebSocket.CloseReason = "" }},
		// closeSpread and h2IdleGrace are no longer held to the stop's
		// phases: the drain clamps its spread to the time it has, and a
		// silent connection's grace ends with the shutdown phase anyway.
		{"closeSpread just under hubDrain", func(c *lameduck.Config) { c.WebSocket.CloseSpread = 4 * time.Second }},
		{"closeSpread as long as hubDrain", func(c *lameduck.Config) { c.WebSocket.CloseSpread = 5 * time.Second }},
		{"closeSpread longer than hubDrain", func(c *lameduck.Config) { c.WebSocket.CloseSpread = time.Hour }},
		{"h2IdleGrace beyond the shutdown phase", func(c *lameduck.Config) {
			s := c.Servers["public"]
			s.H2IdleGrace = 10 * time.Minute
			c.Servers["public"] = s
		}},
		{"h2c only", func(c *lameduck.Config) {
			s := c.Servers["public"]
			s.Protocols = []httpmodule.Protocol{httpmodule.H2C}
			c.Servers["public"] = s
		}},
		{"unbounded pool that fails fast", func(c *lameduck.Config) { c.Tasks.MaxRunning = 0; c.Tasks.WhenFull = bgwork.Fail }},
		{"empty whenFull means wait", func(c *lameduck.Config) { c.Tasks.WhenFull = "" }},
		{"console logs at debug", func(c *lameduck.Config) { c.Log.Level = "debug"; c.Log.Format = "console" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := lameduck.DefaultConfig(nil)
			tc.mutate(&cfg)
			if err := cfg.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

// Several bad fields: Validate lists them all, in a stable order (the
// sections in the order of the file, each section's in the order of its
// settings).
func TestValidateReportsEveryProblem(t *testing.T) {
	cfg := lameduck.DefaultConfig(nil)
	cfg.Stop.Shutdown = 30 * time.Second // phases exceed the budget
	cfg.Stop.GracePeriod = 20 * time.Second
	cfg.Servers["internal"] = httpmodule.DefaultServerSettings(":8080")
	cfg.WebSocket.SendQueue = 0
	cfg.Tasks.WhenFull = "block"
	cfg.Log.Format = "text"
	err := cfg.Validate()
	var keys []string
	for _, p := range problemsOf(t, err) {
		keys = append(keys, p.Key)
	}
	want := []string{"stop.total", "stop.gracePeriod", "servers.public.addr", "websocket.sendQueue", "tasks.whenFull", "log.format"}
	if strings.Join(keys, " ") != strings.Join(want, " ") {
		t.Errorf("problems about %v, want %v:\n%v", keys, want, err)
	}
	if err.Error() != cfg.Validate().Error() {
		t.Error("Validate is not deterministic")
	}
}

// A rule that depends on a bad setting is not checked: a total outside its
// range does not also make the reserve, the force grace or the room for the
// phases wrong.
func TestValidateReportsOneMistakeOnce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*lameduck.Config)
		want   string
	}{
		{"negative total", func(c *lameduck.Config) { c.Stop.Total = -5 * time.Second }, `stop.total (LAMEDUCK_STOP_TOTAL) = "-5s": want a duration from 1s to 1h0m0s`},
		{"tiny total", func(c *lameduck.Config) { c.Stop.Total = 10 * time.Millisecond }, `stop.total (LAMEDUCK_STOP_TOTAL) = "10ms": want a duration from 1s to 1h0m0s`},
		{"zero reserve", func(c *lameduck.Config) { c.Stop.Reserve = 0 }, `stop.reserve (LAMEDUCK_STOP_RESERVE) = "0s": want a duration from 100ms to 12.5s`},
		{"bad admin address beside a server", func(c *lameduck.Config) { c.Admin.Addr = "8080" }, `admin.addr (LAMEDUCK_ADMIN_ADDR) = "8080": want a TCP address "host:port" such as ":8080" or "127.0.0.1:0" (port 0 picks a free port)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := lameduck.DefaultConfig(nil)
			tc.mutate(&cfg)
			ps := problemsOf(t, cfg.Validate())
			if len(ps) != 1 || ps[0].String() != tc.want {
				t.Errorf("problems %v, want only\n%s", ps, tc.want)
			}
		})
	}
}
