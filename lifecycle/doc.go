// Package lifecycle runs the stop of a service: one ordered sequence of
// phases under one time budget, so that a rolling deploy loses nothing.
//
// The timeline of a stop, from the first SIGTERM (Kubernetes sends it after
// the pod's preStop hook; the budget, stop.total, must fit in the pod's
// terminationGracePeriodSeconds with stop.margin):
//
//	T+0            the stop begins: signal, app.Stop, or Coordinator.Stop
//	  readiness-off  /readyz answers 503; HTTP/1 responses carry
//	                 "Connection: close"; everything is still served
//	  prestop-delay  keep serving for stop.preStopDelay while endpoints and
//	                 load balancers stop sending traffic
//	  shutdown       servers close their listeners, drain in-flight requests
//	                 (HTTP/2: GOAWAY); at the phase deadline request contexts
//	                 are cancelled, at the force deadline connections closed
//	  hub-drain      WebSocket hubs flush queued messages, send close 1001,
//	                 wait for the answers
//	  wait           the task pool stops taking tasks and waits for running
//	                 ones; at the deadline their contexts are cancelled
//	  final          the admin server (probes, metrics) stops, in the reserve
//	T+stop.total   at the latest: the coordinator has returned; Fx runs the
//	               remaining OnStop hooks (databases, tracer flush) in
//	               stop.margin, then the process exits
//
// Every phase ends the moment its last step returns. The steps of a phase run
// in parallel; phases run strictly in order, because each one's work can
// still feed the next: handlers publish to hubs and start tasks until they
// return.
//
// # The budget
//
// Each phase gets min(its cap, time left - reserve): the caps are
// stop.preStopDelay, stop.shutdown, stop.hubDrain and stop.wait
// (readiness-off gets stop.forceGrace); the reserve (stop.reserve) is kept
// for the final phase, which gets half of it. When a phase's deadline passes
// its steps' contexts are cancelled and they get stop.forceGrace to close
// what is left and return ([ForceDeadline], [CloseBy]); a step that has not
// returned by then is abandoned and named in the report. Nothing runs past
// the budget.
//
// # Signals
//
// The first SIGTERM or SIGINT begins the stop. A second skips what is left
// of the preStop delay, forces the phase that runs and gives every later
// phase only the force grace: a person who presses Ctrl-C twice wants it
// over. A third exits at once with [ExitAborted].
//
// # The report
//
// The stop ends with one [StopReport]: each phase's start, duration and
// outcome, and, for whatever was cut off, its name (the route of a request,
// the hub and remote address of a WebSocket, the name of a task). It is
// clean when nothing was lost; [ExitCode] turns it into the exit status.
//
// Servers, hubs and pools are not known to this package: they come to the
// [Coordinator] as [Step] values, each with its [Phase].
package lifecycle
