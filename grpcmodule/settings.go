package grpcmodule

import (
	"maps"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/lameduck/lameduck/setting"
)

// Settings are the gRPC servers' settings, keyed by server name. In the
// configuration file they are the section "grpc"; names are lower-case
// letters and digits, so that every setting has an environment variable:
// LAMEDUCK_GRPC_<NAME>_<SETTING>.
type Settings map[string]ServerSettings

// DefaultServerName is the name of the gRPC server that exists by default.
// Services that name no server go to it.
const DefaultServerName = "public"

// DefaultSettings returns the servers that exist by default: "public" on
// :9000, a port of its own beside the HTTP server's :8080 and the admin
// server's :9090. environ is unused.
func DefaultSettings(environ []string) Settings {
	return Settings{DefaultServerName: DefaultServerSettings(":9000")}
}

// NewEntry returns the settings a server added in the configuration file
// starts from: [DefaultServerSettings] without an address.
func (Settings) NewEntry(name string) ServerSettings { return DefaultServerSettings("") }

// ServerSettings configure one gRPC server.
type ServerSettings struct {
	// Addr is the TCP address to listen on, "host:port". Port 0 picks a free
	// port; the bound address is available from the server at run time.
	Addr string `yaml:"addr"`
	// MaxRecvMsgSize caps the size of a message the server accepts.
	MaxRecvMsgSize setting.ByteSize `yaml:"maxRecvMsgSize"`
	// MaxSendMsgSize caps the size of a message the server sends.
	MaxSendMsgSize setting.ByteSize `yaml:"maxSendMsgSize"`
	// MaxConcurrentStreams caps concurrent RPCs per connection.
	MaxConcurrentStreams int `yaml:"maxConcurrentStreams"`
	// ConnectionTimeout bounds a new connection's HTTP/2 handshake (and TLS
	// handshake). gRPC's own default is 120s, for which a connection that
	// never sends a byte would hold the stop; lameduck closes such
	// connections during the stop anyway.
	ConnectionTimeout time.Duration `yaml:"connectionTimeout"`
	// KeepaliveMinTime is the shortest interval at which the server lets a
	// client send keepalive pings; a client that pings more often gets a
	// GOAWAY ("too_many_pings"). gRPC's default is 5m, which cuts off clients
	// configured with the common 10s–30s keepalive.
	KeepaliveMinTime time.Duration `yaml:"keepaliveMinTime"`
	// KeepalivePermitWithoutStream lets clients ping on a connection with no
	// RPC in flight (a warm idle connection).
	KeepalivePermitWithoutStream bool `yaml:"keepalivePermitWithoutStream"`
	// KeepaliveTime is how long a connection may be silent before the server
	// pings the client to see that it is alive.
	KeepaliveTime time.Duration `yaml:"keepaliveTime"`
	// KeepaliveTimeout is how long the server waits for the answer to its
	// ping before it closes the connection.
	KeepaliveTimeout time.Duration `yaml:"keepaliveTimeout"`
	// MaxConnectionIdle closes a connection with no RPC for this long (with
	// a GOAWAY). Zero means never.
	MaxConnectionIdle time.Duration `yaml:"maxConnectionIdle"`
	// MaxConnectionAge sends a connection a GOAWAY after this long, so that
	// long-lived clients rebalance over new replicas. Zero means never.
	MaxConnectionAge time.Duration `yaml:"maxConnectionAge"`
	// MaxConnectionAgeGrace is how long RPCs of a connection that reached
	// MaxConnectionAge may still run before it is closed. Zero means no
	// limit.
	MaxConnectionAgeGrace time.Duration `yaml:"maxConnectionAgeGrace"`
	// CertFile and KeyFile, both set, serve TLS with this certificate and
	// key (PEM files); both empty serve plaintext HTTP/2 (h2c), as behind a
	// load balancer or a mesh that terminates TLS.
	CertFile string `yaml:"certFile"`
	KeyFile  string `yaml:"keyFile"`
	// Reflection serves the server reflection service (grpc.reflection.v1),
	// which grpcurl and other tools use to list and call services.
	Reflection bool `yaml:"reflection"`
	// HealthRecheck is how often an open health Watch stream runs the
	// readiness checks again, to send a change of status. The start of the
	// stop is sent at once, whatever this is. Zero never runs them again.
	HealthRecheck time.Duration `yaml:"healthRecheck"`
	// DrainSpread spreads, over this window and at random, the instants at
	// which streams in flight learn that the drain began ([Draining]), so
	// that their clients do not all reconnect to the other replicas at once.
	// The spread is at most half of the time the shutdown phase has left.
	// Zero tells every stream at once.
	DrainSpread time.Duration `yaml:"drainSpread"`
	// SilentGrace is how long, during the stop, a connection that has not
	// sent a single byte (a TCP health check, a client that connected and
	// said nothing) may stay open before it is closed. Nothing is lost: it
	// asked for nothing.
	SilentGrace time.Duration `yaml:"silentGrace"`
}

// DefaultServerSettings returns the settings a server gets for every key
// that the file or the environment does not set.
func DefaultServerSettings(addr string) ServerSettings {
	return ServerSettings{
		Addr:                         addr,
		MaxRecvMsgSize:               4 * setting.MiB,
		MaxSendMsgSize:               4 * setting.MiB,
		MaxConcurrentStreams:         250,
		ConnectionTimeout:            10 * time.Second,
		KeepaliveMinTime:             10 * time.Second,
		KeepalivePermitWithoutStream: true,
		KeepaliveTime:                2 * time.Minute,
		KeepaliveTimeout:             20 * time.Second,
		HealthRecheck:                5 * time.Second,
		DrainSpread:                  time.Second,
		SilentGrace:                  100 * time.Millisecond,
	}
}

// Validate checks every server, and that no two listen on the same fixed
// port.
func (s Settings) Validate() error {
	var c setting.Check
	var ports []claim
	for _, name := range slices.Sorted(maps.Keys(s)) {
		if !setting.ValidName(name) {
			c.Add(name, name, "a server name of lower-case letters and digits, starting with a letter (it becomes part of LAMEDUCK_GRPC_<NAME>_*)")
			continue
		}
		s[name].validate(c.Under(name), name, &ports)
	}
	return c.Err()
}

// claim is a fixed port a server listens on.
type claim struct {
	host, name string
	port       int
}

func (s ServerSettings) validate(c *setting.Check, name string, ports *[]claim) {
	host, port, ok := addrPort(s.Addr)
	switch {
	case !ok:
		c.Add("addr", s.Addr, `a TCP address "host:port" such as ":9000" or "127.0.0.1:0" (port 0 picks a free port)`)
	case port != 0:
		for _, o := range *ports {
			if o.port == port && (o.host == host || wildcard(o.host) || wildcard(host)) {
				c.Add("addr", s.Addr, "an address not already used by grpc."+o.name+".addr")
				break
			}
		}
		*ports = append(*ports, claim{host, name, port})
	}
	c.Size("maxRecvMsgSize", s.MaxRecvMsgSize, setting.KiB, 1*setting.GiB)
	c.Size("maxSendMsgSize", s.MaxSendMsgSize, setting.KiB, 1*setting.GiB)
	c.Int("maxConcurrentStreams", s.MaxConcurrentStreams, 1, 1<<20)
	c.Duration("connectionTimeout", s.ConnectionTimeout, time.Millisecond, 10*time.Minute)
	c.Duration("keepaliveMinTime", s.KeepaliveMinTime, 0, 24*time.Hour)
	c.Duration("keepaliveTime", s.KeepaliveTime, time.Second, 24*time.Hour)
	c.Duration("keepaliveTimeout", s.KeepaliveTimeout, time.Millisecond, 10*time.Minute)
	c.Duration("maxConnectionIdle", s.MaxConnectionIdle, 0, 30*24*time.Hour)
	c.Duration("maxConnectionAge", s.MaxConnectionAge, 0, 30*24*time.Hour)
	c.Duration("maxConnectionAgeGrace", s.MaxConnectionAgeGrace, 0, 30*24*time.Hour)
	if (s.CertFile == "") != (s.KeyFile == "") {
		c.Add("certFile", s.CertFile, "certFile and keyFile both set (TLS) or both empty (plaintext h2c)")
	}
	c.Duration("healthRecheck", s.HealthRecheck, 0, time.Hour)
	c.Duration("drainSpread", s.DrainSpread, 0, time.Hour)
	c.Duration("silentGrace", s.SilentGrace, 0, 10*time.Minute)
}

// addrPort splits addr if it is a valid "host:port".
func addrPort(addr string) (string, int, bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, false
	}
	n, err := strconv.Atoi(port)
	return host, n, err == nil && n >= 0 && n <= 65535
}

// wildcard reports whether host listens on every address.
func wildcard(host string) bool {
	ip := net.ParseIP(host)
	return host == "" || ip != nil && ip.IsUnspecified()
}
