// Package e2e is lameduck's reliability suite: the proof that a rolling
// restart loses nothing. Its tests build real replicas (examples/starter and
// the helper programs under internal/), put them behind HAProxy on loopback
// addresses, drive them with wrk, h2load, a Go load generator, gorilla and
// Node WebSocket clients, restart them one at a time, inject faults, and
// count every request, message and background task. It also runs h2spec, an
// HTTP/2 conformance tester, against an h2c server, normally and in its
// lame-duck window, next to a bare net/http server.
//
// The package has no API; see docs/reliability.md for the scenarios, the
// measured numbers and the command that reproduces them.
package e2e
