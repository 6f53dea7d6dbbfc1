package wsmodule

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/gorilla/websocket"
)

// Default buffer sizes. Small read buffers keep idle connections cheap (a
// larger message is read in several system calls, not refused); write
// buffers come from a pool and are held only while a message is written.
const (
	DefaultReadBufferSize  = 1024
	DefaultWriteBufferSize = 4096
)

// newUpgrader returns the gorilla upgrader for cfg.
//
// ReadBufferSize stays 0 so that gorilla reads through the buffered reader
// that the hijack returns: hijacker makes that reader, of the hub's read
// buffer size, and keeps it, so that the hub can tell whether gorilla has
// buffered data before it waits for the socket.
func newUpgrader(cfg Settings, writeBuf int, onError func(w http.ResponseWriter, r *http.Request, status int, reason error)) *websocket.Upgrader {
	return &websocket.Upgrader{
		HandshakeTimeout:  cfg.HandshakeTimeout,
		WriteBufferSize:   writeBuf,
		WriteBufferPool:   &sync.Pool{},
		Subprotocols:      cfg.Subprotocols,
		CheckOrigin:       originChecker(cfg.AllowedOrigins),
		EnableCompression: cfg.Compression,
		Error:             onError,
	}
}

// originChecker returns the upgrader's origin check: a request without an
// Origin header (not from a browser) passes; "*" lets every origin pass;
// otherwise the origin must be the request's own host or one of allowed.
func originChecker(allowed []string) func(r *http.Request) bool {
	set := make(map[string]bool, len(allowed))
	for _, o := range allowed {
		if o == "*" {
			return func(*http.Request) bool { return true }
		}
		if u, err := url.Parse(o); err == nil {
			set[normalOrigin(u.Scheme, u.Host)] = true
		}
	}
	return func(r *http.Request) bool {
		origin := r.Header["Origin"]
		if len(origin) == 0 {
			return true
		}
		u, err := url.Parse(origin[0])
		if err != nil || u.Host == "" {
			return false
		}
		if strings.EqualFold(stripDefaultPort(u.Scheme, u.Host), stripDefaultPort(schemeOf(r), r.Host)) {
			return true
		}
		return set[normalOrigin(u.Scheme, u.Host)]
	}
}

// schemeOf is the scheme the browser used to reach r, as far as the server
// can tell without trusting proxy headers.
func schemeOf(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// normalOrigin lower-cases scheme://host and drops the scheme's default port,
// so that "https://App.example.com:443" matches "https://app.example.com".
func normalOrigin(scheme, host string) string {
	scheme = strings.ToLower(scheme)
	return scheme + "://" + strings.ToLower(stripDefaultPort(scheme, host))
}

func stripDefaultPort(scheme, host string) string {
	switch strings.ToLower(scheme) {
	case "http", "ws":
		return strings.TrimSuffix(host, ":80")
	case "https", "wss":
		return strings.TrimSuffix(host, ":443")
	}
	return host
}

// minReadBuffer is the smallest read buffer: gorilla reuses the hijacked
// reader only above 256 bytes, and a control frame takes up to 131.
const minReadBuffer = 512

// hijacker wraps the ResponseWriter of an upgrade so that the hijack hands
// gorilla a buffered reader of the hub's size, which the hub keeps, and
// records the connection taken over in the upgrade's record.
type hijacker struct {
	http.ResponseWriter
	size int
	conn *Conn
	br   *bufio.Reader
}

// Hijack takes the connection over through http.ResponseController, so that
// middleware that wraps the ResponseWriter and provides Unwrap works too.
func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if errors.Is(err, http.ErrNotSupported) {
		return nil, nil, errors.New("wsmodule: the connection cannot be taken over: WebSocket needs HTTP/1.1 (not HTTP/2), " +
			"and middleware that wraps the ResponseWriter must provide Unwrap or Hijack")
	}
	if err != nil {
		return conn, brw, err
	}
	if !h.conn.tookOver(conn) {
		// The drain cut the connection while its upgrade ran: gorilla's
		// write of the response fails, and the upgrade with it.
		_ = conn.Close()
	}
	if brw.Reader.Buffered() > 0 {
		// gorilla refuses a client that sent data before the handshake
		// completed.
		return conn, brw, nil
	}
	h.br = bufio.NewReaderSize(conn, h.size)
	return conn, bufio.NewReadWriter(h.br, brw.Writer), nil
}

// Unwrap returns the wrapped ResponseWriter, for http.ResponseController.
func (h *hijacker) Unwrap() http.ResponseWriter { return h.ResponseWriter }
