// Package wsmodule runs WebSocket hubs (gorilla/websocket) that drain without
// losing a message when the process stops.
//
// A [Hub] upgrades HTTP requests to WebSocket connections and tracks every
// connection from the moment its upgrade begins, before the handshake's
// response is written: once a client's handshake has completed, every
// [Hub.Broadcast] reaches it. It is an http.Handler: mount it on any server, or,
// with Fx, declare it on a named lameduck server with [Declare]. Each
// connection ([Conn]) has:
//
//   - one writer fed by a bounded outbound queue (config websocket.sendQueue),
//     so handlers and broadcasts never write concurrently and never block:
//     [Conn.Send] and [Hub.Broadcast] only enqueue. A connection whose queue
//     is full is closed with 1013 (Try Again Later) and counted in
//     [Stats].Overflows; a slow or dead peer never holds up the others;
//   - a reader run by the hub that calls the hub's [OnMessage] callback;
//   - a context ([Conn.Context]) cancelled when the connection ends;
//   - ping/pong keepalive (websocket.pingPeriod, websocket.pongTimeout).
//
// An idle connection costs about 5 KiB of Go heap and stack: one reader
// goroutine that keeps a 2 KiB stack (it waits for data in a shallow call,
// and hands that wait to a fresh goroutine after running callbacks), a
// 1 KiB read buffer; the writer goroutine exists only while the queue is
// non-empty and borrows its write buffer from a pool.
//
// # The drain
//
// [Hub.Stop] is the hub's step in the lifecycle.HubDrain phase of the stop
// (see [Hub.Step]). From the moment it begins, the hub refuses new upgrades
// with 503; an upgrade already under way is tracked (the hub tracks a
// connection from before its handshake response is written) and drained
// with the others. Then, for every connection, in parallel (websocket.closeParallelism)
// and optionally spread over websocket.closeSpread with jitter: the messages
// queued so far are written, then a close frame with websocket.closeCode (1001
// Going Away by default) and websocket.closeReason, and the hub waits for the
// peer's close frame. Stop returns the moment the last connection is gone. At
// the phase deadline it force-closes what is left and reports each leftover
// connection (hub, remote address, age) through [Hub.Stragglers], which also
// names the connections still being closed while the drain runs.
package wsmodule
