// Package httpmodule runs a service's HTTP servers: named application
// servers that speak HTTP/1.1, h2c (HTTP/2 with prior knowledge) or both on
// one port, using net/http's native unencrypted HTTP/2, or, with a
// certificate, HTTP/1.1 and HTTP/2 over TLS negotiated by ALPN (the
// certificate re-read when its files change), and an admin server for the
// health probes (and pprof when enabled).
//
// Modules contribute handlers as [Route] values (see [AsRoute]) and
// middleware as [Middleware] values (see [AsMiddleware]); [Module] builds one
// [Server] per configured name, binds the listeners when the app starts, and
// provides [*Servers] to find their addresses.
//
// Each server's stop is a set of steps of the lifecycle coordinator: from
// readiness off every HTTP/1 response carries "Connection: close" (HTTP/2
// connections are left alone until shutdown: an early GOAWAY makes the
// server refuse streams that a load balancer still opens, and an LB that
// does not retry fails them); in the shutdown
// phase http.Server.Shutdown does the graceful part as for a bare server
// (listener closed, idle connections closed, GOAWAY on HTTP/2 connections,
// in-flight requests finish) and the step returns the moment the last
// request and connection are done, not at the next tick of Shutdown's
// polling. The connection wrapper only observes: every byte the server
// writes reaches the client. At the phase deadline request contexts are
// cancelled; at [lifecycle.CloseBy] what is left is closed, and whatever
// that cuts off (requests, responses not fully written) is named in the
// stop report, with the requests whose handler panicked during the stop.
// The admin server stops last, in the final phase.
//
// A streaming handler learns that the shutdown began from [Draining];
// [EventStream] ends Server-Sent Events then with a last event and a retry
// hint, spread over a window. With [ServerSettings.RetryAfter] set, requests
// that arrive after the preStop delay get 503 with Retry-After until those
// in flight are done, instead of a refused connection.
//
// The "Upgrade: h2c" path of RFC 7540 is not supported: see docs/httpmodule.md.
package httpmodule
