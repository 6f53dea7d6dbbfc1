// Package metrics exports lameduck's stop as Prometheus metrics: what each
// replica is draining right now, and how each stop went.
//
// Two kinds of series:
//
//   - Live gauges, read at each scrape from what the servers, hubs and pools
//     track anyway (so they cost the request path nothing, and never freeze
//     during a drain): requests in flight per server (and per route with
//     [Settings].Routes), open connections by protocol, WebSocket
//     connections and queued messages per hub, running and queued tasks per
//     pool, readiness, and lameduck_stop_phase, which tells a dashboard that
//     a replica is in lame duck and how far its stop is.
//   - Per-stop series, from the coordinator's events ([Metrics] is a
//     lifecycle.Observer): each phase's duration, outcome and what it cut,
//     by kind, as the phase ends; the stop's trigger, outcome, duration and
//     the share of its budget used, when the final phase begins.
//
// The metrics are served on the admin server, which stops in the final
// phase, after everything else: scrapes during the stop see the whole
// drain, and each phase's series appear as soon as the phase ends. The
// stop's summary is counted when the final phase begins, the last moment a
// scrape can still read it: the final phase stops the server that serves
// it. The final phase's own figures are in the log and the trace.
//
// With Fx, [Module] does all of it: add it to an application built with
// lameduck.Module (or lameduck.Run). Without Fx, build a [Metrics] with
// [New], tell it what to watch ([Metrics.AddServers], [Metrics.AddHubs],
// [Metrics.AddPools], [Metrics.AddCoordinator]), register it with a
// prometheus.Registerer and with the coordinator (lifecycle.WithObservers),
// and serve the registry.
//
// Work in flight of a kind this package does not know (the RPCs of a gRPC
// server, the messages of a queue consumer) joins through [AsCollector]: a
// prometheus.Collector in the same registry, named after the same pattern
// (lameduck_grpc_rpcs_in_flight{server}), read at scrape time from the
// module's own tracking.
//
// The package is opt-in: lameduck's other packages never import it, so an
// application that does not use it does not build Prometheus's client.
package metrics
