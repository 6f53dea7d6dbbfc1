package httpmodule

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lameduck/lameduck/setting"
)

// Settings are the application servers' settings, keyed by server name. In
// the configuration file they are the section "servers"; names are
// lower-case letters and digits, so that every setting has an environment
// variable: LAMEDUCK_SERVERS_<NAME>_<SETTING>.
type Settings map[string]ServerSettings

// DefaultServerName is the name of the application server that exists by
// default. Routes that name no server go to it.
const DefaultServerName = "public"

// DefaultSettings returns the servers that exist by default: "public" on
// :8080. environ is unused: every server default is the same everywhere.
func DefaultSettings(environ []string) Settings {
	return Settings{DefaultServerName: DefaultServerSettings(":8080")}
}

// NewEntry returns the settings a server added in the configuration file
// starts from: [DefaultServerSettings] without an address.
func (Settings) NewEntry(name string) ServerSettings { return DefaultServerSettings("") }

// Protocol names one protocol a server speaks.
type Protocol string

// The protocols a server can speak. Without TLS, "http1" and "h2c" on one
// port is the default; with TLS, a server speaks "http1", "h2" or both,
// chosen per connection by ALPN.
const (
	// HTTP1 is HTTP/1.1 (and 1.0); over TLS, ALPN "http/1.1".
	HTTP1 Protocol = "http1"
	// H2C is unencrypted HTTP/2 with prior knowledge (RFC 9113 section 3.3).
	// The "Upgrade: h2c" path of RFC 7540 is not supported.
	H2C Protocol = "h2c"
	// H2 is HTTP/2 over TLS, ALPN "h2" (RFC 9113 section 3.2). It needs
	// [TLSSettings.CertFile].
	H2 Protocol = "h2"
)

// ServerSettings configure one HTTP server.
type ServerSettings struct {
	// Addr is the TCP address to listen on, "host:port". Port 0 picks a free
	// port; the bound address is available from the server at run time.
	Addr string `yaml:"addr"`
	// Protocols lists what the server speaks: "http1", "h2c" or both;
	// with TLS, "http1", "h2" or both.
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
	MaxHeaderBytes setting.ByteSize `yaml:"maxHeaderBytes"`
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
	// StreamCloseSpread spreads the ends of the server's event streams
	// ([EventStream]) over this window, with jitter, once the drain
	// begins, so that their clients do not all reconnect to the remaining
	// replicas at once. Zero ends them all at once. The spread takes at
	// most half of the time the shutdown phase has left, so that the last
	// streams still end in it.
	StreamCloseSpread time.Duration `yaml:"streamCloseSpread"`
	// RetryAfter turns on the late-arrival mode when positive: once the
	// shutdown begins (after the preStop delay) the listener stays open,
	// and every new request gets 503 with "Retry-After" of this duration
	// (rounded up to whole seconds) and, on HTTP/1, "Connection: close",
	// until the requests in flight are done (or half of the phase's time
	// is spent); then the shutdown goes on as without it. For clients that
	// connect to pods directly (headless Services, client-side load
	// balancing), which would otherwise get a refused connection. Zero
	// (the default) closes the listener when the shutdown begins.
	RetryAfter time.Duration `yaml:"retryAfter"`
	// TLS turns on TLS when its certFile is set.
	TLS TLSSettings `yaml:"tls"`
}

// TLSSettings configure TLS for one server. TLS is on when CertFile is
// set; the server then speaks "http1" and "h2" as its protocols say,
// negotiated by ALPN, and never h2c on the same port.
//
// Cipher suites are Go's defaults, which cannot be configured here: Go
// orders them itself, picks AES-GCM or ChaCha20-Poly1305 by the hardware
// of both ends, offers no suite without forward secrecy or AEAD by default
// and updates the list with each release; a list written in a config file
// only falls behind. TLS 1.3 suites are not configurable in Go at all.
type TLSSettings struct {
	// CertFile is the PEM certificate chain, leaf first. Setting it turns
	// TLS on. The file is re-read when it changes (see reloadInterval) and
	// on SIGHUP.
	CertFile string `yaml:"certFile"`
	// KeyFile is the PEM private key of the certificate.
	KeyFile string `yaml:"keyFile"`
	// ClientCAFile is a PEM bundle of the CAs that sign client
	// certificates (mutual TLS); empty means clients are not asked for
	// one.
	ClientCAFile string `yaml:"clientCAFile"`
	// ClientAuth says what a client must present when clientCAFile is
	// set: "require" (a certificate that verifies, or no connection) or
	// "verify-if-given" (none, or one that verifies).
	ClientAuth string `yaml:"clientAuth"`
	// MinVersion is the lowest TLS version accepted: "1.2" or "1.3". TLS
	// 1.3 is preferred whenever the client offers it.
	MinVersion string `yaml:"minVersion"`
	// ReloadInterval is how often the files are checked for a change
	// (their resolved path, size or modification time, so that the symlink
	// swap of a Kubernetes Secret volume is seen); 0 checks only on
	// SIGHUP.
	ReloadInterval time.Duration `yaml:"reloadInterval"`
}

// Enabled reports whether TLS is on: CertFile is set.
func (t TLSSettings) Enabled() bool { return t.CertFile != "" }

// DefaultServerSettings returns the settings a server gets for every key
// that the file or the environment does not set.
func DefaultServerSettings(addr string) ServerSettings {
	return ServerSettings{
		Addr:                 addr,
		Protocols:            []Protocol{HTTP1, H2C},
		ReadHeaderTimeout:    5 * time.Second,
		IdleTimeout:          120 * time.Second,
		MaxHeaderBytes:       64 * setting.KiB,
		MaxConcurrentStreams: 250,
		H2IdleGrace:          100 * time.Millisecond,
		TLS:                  TLSSettings{MinVersion: "1.2", ReloadInterval: 10 * time.Second},
	}
}

// AdminSettings configure the admin server: health probes (/livez,
// /readyz) and, if enabled, pprof. It runs on its own port and stops last,
// so that probes answer truthfully to the end. In the configuration file
// they are the section "admin".
type AdminSettings struct {
	// Enabled turns the admin server on.
	Enabled bool `yaml:"enabled"`
	// Addr is the TCP address of the admin server.
	Addr string `yaml:"addr"`
	// Pprof serves net/http/pprof under /debug/pprof/. Off by default: it
	// exposes internals and costs CPU when used.
	Pprof bool `yaml:"pprof"`
}

// DefaultAdminSettings returns the admin server's defaults: enabled, on
// :9090, no pprof. environ is unused.
func DefaultAdminSettings(environ []string) AdminSettings {
	return AdminSettings{Enabled: true, Addr: ":9090"}
}

// Validate checks every server, and that no two listen on the same fixed
// port.
func (s Settings) Validate() error {
	var c setting.Check
	var addrs []claim
	for _, name := range slices.Sorted(maps.Keys(s)) {
		switch {
		case !setting.ValidName(name):
			c.Add(name, name, "a server name of lower-case letters and digits, starting with a letter (it becomes part of LAMEDUCK_SERVERS_<NAME>_*)")
			continue
		case name == AdminServer:
			c.Add(name, name, fmt.Sprintf("a name other than %q, which the admin server has (admin.addr)", AdminServer))
			continue
		}
		s[name].validate(c.Under(name), name, &addrs)
	}
	return c.Err()
}

// Validate checks the admin server's address.
func (a AdminSettings) Validate() error {
	var c setting.Check
	if a.Enabled {
		checkAddr(&c, "addr", a.Addr)
	}
	return c.Err()
}

// ValidateWith checks that the admin server does not take the fixed port of
// an application server ("servers" section).
func (a AdminSettings) ValidateWith(sections map[string]any) error {
	servers, ok := sections["servers"].(*Settings)
	if !ok || !a.Enabled || !validAddr(a.Addr) {
		return nil
	}
	var c setting.Check
	var addrs []claim
	for name, srv := range *servers {
		if validAddr(srv.Addr) {
			addrs = append(addrs, newClaim("servers."+name+".addr", srv.Addr))
		}
	}
	slices.SortFunc(addrs, func(x, y claim) int { return strings.Compare(x.key, y.key) })
	claimAddr(&c, "addr", "admin.addr", a.Addr, &addrs)
	return c.Err()
}

func (s ServerSettings) validate(c *setting.Check, name string, addrs *[]claim) {
	if checkAddr(c, "addr", s.Addr) {
		claimAddr(c, "addr", "servers."+name+".addr", s.Addr, addrs)
	}
	s.validateProtocols(c)
	s.TLS.validate(c.Under("tls"))
	c.Duration("readHeaderTimeout", s.ReadHeaderTimeout, time.Millisecond, 10*time.Minute)
	c.Duration("readTimeout", s.ReadTimeout, 0, 24*time.Hour)
	c.Duration("writeTimeout", s.WriteTimeout, 0, 24*time.Hour)
	c.Duration("idleTimeout", s.IdleTimeout, time.Millisecond, 24*time.Hour)
	c.Size("maxHeaderBytes", s.MaxHeaderBytes, setting.KiB, 16*setting.MiB)
	c.Int("maxConcurrentStreams", s.MaxConcurrentStreams, 1, 1<<20)
	c.Int("maxConns", s.MaxConns, 0, 1<<24)
	c.Duration("h2IdleGrace", s.H2IdleGrace, 0, 10*time.Minute)
	c.Duration("streamCloseSpread", s.StreamCloseSpread, 0, time.Hour)
	if s.RetryAfter != 0 {
		c.Duration("retryAfter", s.RetryAfter, time.Second, time.Hour)
	}
}

func (s ServerSettings) validateProtocols(c *setting.Check) {
	tls := s.TLS.Enabled()
	want := `one or both of "http1" and "h2c", each once ("Upgrade: h2c" is not supported; h2c means prior knowledge)`
	if tls {
		want = `one or both of "http1" and "h2" (HTTP/2 over TLS), each once`
	}
	if len(s.Protocols) == 0 {
		c.Add("protocols", "", want)
	}
	seen := map[Protocol]bool{}
	for _, p := range s.Protocols {
		switch {
		case tls && p == H2C:
			c.Add("protocols", string(p), `no "h2c" on a TLS port (h2c and TLS never share a port): `+
				`"h2" for HTTP/2 over TLS (protocols: [http1, h2]), or a second server without tls for h2c`)
		case !tls && p == H2:
			c.Add("protocols", string(p), `"h2" only with tls.certFile and tls.keyFile set; without TLS, HTTP/2 is "h2c"`)
		case p != HTTP1 && p != H2C && p != H2 || seen[p]:
			c.Add("protocols", string(p), want)
		}
		seen[p] = true
	}
}

func (t TLSSettings) validate(c *setting.Check) {
	switch t.MinVersion {
	case "1.2", "1.3":
	default:
		c.Add("minVersion", t.MinVersion, `"1.2" or "1.3"`)
	}
	c.Duration("reloadInterval", t.ReloadInterval, 0, 24*time.Hour)
	if t.ReloadInterval > 0 && t.ReloadInterval < 100*time.Millisecond {
		c.Add("reloadInterval", t.ReloadInterval.String(), "0 (SIGHUP only) or at least 100ms")
	}
	if !t.Enabled() {
		for _, kv := range [][2]string{{"keyFile", t.KeyFile}, {"clientCAFile", t.ClientCAFile}, {"clientAuth", t.ClientAuth}} {
			if kv[1] != "" {
				c.Add(kv[0], kv[1], "tls.certFile set too (TLS is on only with a certificate), or no "+kv[0])
			}
		}
		return
	}
	if t.KeyFile == "" {
		c.Add("keyFile", "", "the PEM private key of tls.certFile")
	}
	switch {
	case t.ClientCAFile == "" && t.ClientAuth != "":
		c.Add("clientAuth", t.ClientAuth, "tls.clientCAFile set too (the CAs to verify client certificates with), or no clientAuth")
	case t.ClientCAFile != "" && t.ClientAuth != "require" && t.ClientAuth != "verify-if-given":
		c.Add("clientAuth", t.ClientAuth, `"require" or "verify-if-given" with tls.clientCAFile`)
	}
}

// checkAddr reports whether addr, the setting key, is a valid host:port.
func checkAddr(c *setting.Check, key, addr string) bool {
	if !validAddr(addr) {
		c.Add(key, addr, `a TCP address "host:port" such as ":8080" or "127.0.0.1:0" (port 0 picks a free port)`)
		return false
	}
	return true
}

func validAddr(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n <= 65535
}

// claim is a fixed address a server listens on.
type claim struct{ key, host, port string }

func newClaim(key, addr string) claim {
	host, port, _ := net.SplitHostPort(addr)
	return claim{key, host, strings.TrimLeft(port, "+0")} // ":08080" is ":8080"
}

// claimAddr reports addr, the setting key (fullKey in messages), if it is a
// fixed port that an earlier claim takes on the same host; a wildcard host
// ("", "0.0.0.0", "::") takes the port on every host.
func claimAddr(c *setting.Check, key, fullKey, addr string, addrs *[]claim) {
	cl := newClaim(fullKey, addr)
	if cl.port == "" {
		return // port 0 picks a free port
	}
	for _, o := range *addrs {
		if o.port == cl.port && (o.host == cl.host || wildcardHost(o.host) || wildcardHost(cl.host)) {
			c.Add(key, addr, fmt.Sprintf("an address not already used by %s", o.key))
			return
		}
	}
	*addrs = append(*addrs, cl)
}

func wildcardHost(host string) bool {
	ip := net.ParseIP(host)
	return host == "" || ip != nil && ip.IsUnspecified()
}
