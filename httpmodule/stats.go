package httpmodule

// ServerStats is what a server holds now, for metrics. Reading it costs the
// request path nothing: it counts what the server tracks anyway.
type ServerStats struct {
	// Requests is the number of requests in flight. A request whose
	// handler hijacked its connection (a WebSocket upgrade) is no longer
	// counted: the hub that took it over counts it.
	Requests int
	// HTTP1Conns and HTTP2Conns are the open connections whose latest
	// request was HTTP/1 or HTTP/2; NewConns those that have not yet
	// begun a request (or never will: a preconnected client).
	HTTP1Conns, HTTP2Conns, NewConns int
	// Accepted counts the connections accepted since the server last
	// started.
	Accepted int64
	// LateAnswered counts the requests that the late-arrival mode (see
	// ServerSettings.RetryAfter) answered with 503 in the latest stop.
	LateAnswered int64
	// TLSSerial is the serial number, in hexadecimal, of the certificate
	// that new TLS handshakes get; empty for a plaintext server.
	TLSSerial string
}

// Stats returns what the server holds now: the figures of its running
// instance, or of its latest one once it has stopped (zeros, unless the
// stop cut something and has not closed it yet). It is zero before the
// first start.
func (s *Server) Stats() ServerStats {
	s.mu.Lock()
	run := s.last
	s.mu.Unlock()
	if run == nil {
		return ServerStats{}
	}
	st := ServerStats{Accepted: run.accepted.Load(), LateAnswered: run.late.Load()}
	if run.tls != nil {
		st.TLSSerial = run.tls.serial()
	}
	run.mu.Lock()
	defer run.mu.Unlock()
	st.Requests = len(run.requests)
	for c := range run.conns {
		switch {
		case c.latest == nil:
			st.NewConns++
		case c.latest.ProtoMajor == 2:
			st.HTTP2Conns++
		default:
			st.HTTP1Conns++
		}
	}
	return st
}

// RequestsByRoute returns the number of requests in flight per route
// pattern, as the server's ServeMux matches them ("GET /orders/{id}"; see
// [WithRouteNames]); a request no pattern matches counts under "(no
// route)", so that the keys are bounded by the routes. It asks the mux for
// each request in flight, so it costs the caller, not the request path.
func (s *Server) RequestsByRoute() map[string]int {
	s.mu.Lock()
	run := s.last
	s.mu.Unlock()
	out := map[string]int{}
	if run == nil {
		return out
	}
	run.mu.Lock()
	defer run.mu.Unlock()
	for r := range run.requests {
		pattern := ""
		if s.mux != nil {
			_, pattern = s.mux.Handler(r)
		}
		if pattern == "" {
			pattern = "(no route)"
		}
		out[pattern]++
	}
	return out
}
