// Package config holds lameduck's typed settings: the stop sequence, the HTTP
// servers, WebSocket hubs, the background-task pool and logging.
//
// Settings come from three sources, later ones winning: the built-in defaults
// ([Default]), an optional YAML file whose path is in LAMEDUCK_CONFIG, and
// environment variables named LAMEDUCK_<PATH> (for example
// LAMEDUCK_STOP_TOTAL=20s or LAMEDUCK_SERVERS_PUBLIC_ADDR=:8081).
//
// Loading is strict: an unknown key in the file or an unknown LAMEDUCK_*
// variable is an error, so a typo never silently falls back to a default.
// [Config.Validate] reports every problem at once, each with its key, the bad
// value and what is allowed.
//
// Durations are Go durations ("5s", "250ms"); sizes are bytes or carry a unit
// ("1MiB", "64KiB", "4096").
//
// The package knows nothing else of lameduck: every other package depends on
// it, never the other way round.
package config

import (
	"time"
)

// Config is the whole of lameduck's configuration. Each section is its own
// type, and [Module] provides each section on its own so that a module depends
// only on the section it reads.
type Config struct {
	// Stop is the ordered stop sequence and its time budget.
	Stop Stop `yaml:"stop"`
	// Servers are the named HTTP servers that serve application routes.
	Servers Servers `yaml:"servers"`
	// Admin is the server for health probes and, if enabled, pprof.
	Admin Admin `yaml:"admin"`
	// WebSocket configures the upgrader and every hub.
	WebSocket WebSocket `yaml:"websocket"`
	// Tasks configures the background-task pool.
	Tasks Tasks `yaml:"tasks"`
	// Log configures the zap logger.
	Log Log `yaml:"log"`
}

// Stop configures the stop sequence: readiness off, preStop delay, shutdown,
// hub drain, wait. Every phase runs under one global budget, Total; each
// phase gets min(its cap, time left - Reserve).
type Stop struct {
	// Total is the whole budget of the stop, from the first signal to the
	// return of the coordinator. It must fit in the pod's
	// terminationGracePeriodSeconds together with Margin.
	Total time.Duration `yaml:"total"`
	// Reserve is kept at the end of the budget: the shutdown, hub-drain and
	// wait phases never use it, so that steps forced at their deadline can
	// close what is left, the final phase (the admin server) can stop and
	// the report can be written.
	Reserve time.Duration `yaml:"reserve"`
	// PreStopDelay is how long the service keeps serving normally after
	// readiness turns off, so that endpoints and load balancers stop sending
	// traffic before the listeners close. Defaults to 5s when running in
	// Kubernetes (KUBERNETES_SERVICE_HOST is set) and 0 elsewhere.
	PreStopDelay time.Duration `yaml:"preStopDelay"`
	// Shutdown caps the shutdown phase: servers stop accepting, in-flight
	// requests finish; at the cap, request contexts are cancelled and
	// connections closed.
	Shutdown time.Duration `yaml:"shutdown"`
	// HubDrain caps the WebSocket drain phase.
	HubDrain time.Duration `yaml:"hubDrain"`
	// Wait caps the phase that waits for background tasks.
	Wait time.Duration `yaml:"wait"`
	// ForceGrace is how long a phase's steps get, after the phase deadline
	// cancelled their context, to force-close and return before the
	// coordinator moves on without them. It is taken from the Reserve.
	ForceGrace time.Duration `yaml:"forceGrace"`
	// Margin is the time kept after the budget for the remaining Fx OnStop
	// hooks (databases, queues), log flushing and process exit. Fx's stop
	// timeout is Total+Margin, and Total+Margin must fit in GracePeriod.
	Margin time.Duration `yaml:"margin"`
	// GracePeriod is the pod's terminationGracePeriodSeconds, passed in by
	// the Deployment (LAMEDUCK_STOP_GRACE_PERIOD="30s"). When set, start-up
	// fails unless Total+Margin fits in it. Zero means unknown: not checked.
	GracePeriod time.Duration `yaml:"gracePeriod"`
}

// Servers are the named application servers, keyed by name. Names are
// lower-case letters and digits, so that every setting has an environment
// variable: LAMEDUCK_SERVERS_<NAME>_<SETTING>.
type Servers map[string]Server

// Protocol names one protocol a server speaks.
type Protocol string

// The protocols a [Server] can speak. Both on one port is the default.
const (
	// HTTP1 is HTTP/1.1 (and 1.0).
	HTTP1 Protocol = "http1"
	// H2C is unencrypted HTTP/2 with prior knowledge (RFC 9113 section 3.3).
	// The "Upgrade: h2c" path of RFC 7540 is not supported.
	H2C Protocol = "h2c"
)

// Server configures one HTTP server.
type Server struct {
	// Addr is the TCP address to listen on, "host:port". Port 0 picks a free
	// port; the bound address is available from the server at run time.
	Addr string `yaml:"addr"`
	// Protocols lists what the server speaks: "http1", "h2c" or both.
	Protocols []Protocol `yaml:"protocols"`
	// ReadHeaderTimeout bounds reading a request's headers (slowloris).
	ReadHeaderTimeout time.Duration `yaml:"readHeaderTimeout"`
	// ReadTimeout bounds reading a whole request including its body. Zero
	// means none, which streaming and upload routes need.
	ReadTimeout time.Duration `yaml:"readTimeout"`
	// WriteTimeout bounds writing a response. Zero means none, which
	// long-polls, streams and WebSockets need.
	WriteTimeout time.Duration `yaml:"writeTimeout"`
	// IdleTimeout closes keep-alive connections idle for this long. It also
	// bounds a connection that reaches the server after its GOAWAY sweep
	// (golang/go#81153).
	IdleTimeout time.Duration `yaml:"idleTimeout"`
	// MaxHeaderBytes caps the size of request headers.
	MaxHeaderBytes ByteSize `yaml:"maxHeaderBytes"`
	// MaxConcurrentStreams caps concurrent HTTP/2 streams per connection.
	MaxConcurrentStreams int `yaml:"maxConcurrentStreams"`
	// MaxConns caps simultaneous connections; further ones wait in the
	// kernel's accept queue. Zero means no cap.
	MaxConns int `yaml:"maxConns"`
	// H2IdleGrace is how long, during the shutdown phase, a connection that
	// has not sent a single byte (a preconnected client, a TCP health check)
	// may stay open before it is closed: net/http alone waits 5s for such a
	// connection. Nothing is lost by closing it: the client has asked for
	// nothing. Zero closes such connections as soon as the shutdown begins.
	H2IdleGrace time.Duration `yaml:"h2IdleGrace"`
}

// Admin configures the admin server: health probes (/livez, /readyz) and,
// if enabled, pprof. It runs on its own port and stops last, so that probes
// answer truthfully to the end.
type Admin struct {
	// Enabled turns the admin server on.
	Enabled bool `yaml:"enabled"`
	// Addr is the TCP address of the admin server.
	Addr string `yaml:"addr"`
	// Pprof serves net/http/pprof under /debug/pprof/. Off by default: it
	// exposes internals and costs CPU when used.
	Pprof bool `yaml:"pprof"`
}

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

// WebSocket configures the upgrader and the hubs.
type WebSocket struct {
	// AllowedOrigins lists the origins (scheme://host[:port]) allowed to
	// connect besides the server's own. Empty means same origin only. "*"
	// allows every origin.
	AllowedOrigins []string `yaml:"allowedOrigins"`
	// Subprotocols the server supports, in order of preference.
	Subprotocols []string `yaml:"subprotocols"`
	// ReadLimit is the largest message a client may send; a larger one
	// closes the connection with 1009.
	ReadLimit ByteSize `yaml:"readLimit"`
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
	// sends them all at once.
	CloseSpread time.Duration `yaml:"closeSpread"`
	// CloseParallelism bounds how many close handshakes are started at once.
	CloseParallelism int `yaml:"closeParallelism"`
}

// WhenFull says what the task pool does with a submission while all its
// slots are busy.
type WhenFull string

// What a full pool does.
const (
	// Wait blocks the submitter until a slot frees or its context ends.
	Wait WhenFull = "wait"
	// Fail returns an error at once.
	Fail WhenFull = "fail"
)

// Tasks configures the background-task pool.
type Tasks struct {
	// MaxRunning caps the tasks running at once. Zero means no cap.
	MaxRunning int `yaml:"maxRunning"`
	// Queue is how many submitted tasks may wait, in order of submission,
	// for one of the MaxRunning slots; zero means none. A queued task holds
	// its record and what its function and the caller's context keep alive.
	// Ignored when MaxRunning is zero.
	Queue int `yaml:"queue"`
	// WhenFull is what a submission does when the pool is full (MaxRunning
	// tasks are running and Queue tasks are queued): "wait" (respecting the
	// submitter's context) or "fail".
	WhenFull WhenFull `yaml:"whenFull"`
	// TaskTimeout cancels a task's context after this long. Zero means no
	// timeout of its own; the pool still cancels it at the wait phase's
	// deadline.
	TaskTimeout time.Duration `yaml:"taskTimeout"`
}

// Log configures the zap logger.
type Log struct {
	// Level is the minimum level: debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is "json" (for log collectors) or "console" (for people).
	Format string `yaml:"format"`
}
