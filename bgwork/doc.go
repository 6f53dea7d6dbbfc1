// Package bgwork is a pool for named background tasks that outlive the
// request that started them (audit writes, webhooks, cache warming) and that
// the stop of the process waits for.
//
// A handler hands work to the pool with [Pool.Go]:
//
//	err := pool.Go(r.Context(), "audit.write", func(ctx context.Context) error {
//		return audit.Write(ctx, entry)
//	})
//
// The task's context keeps the values of the caller's context (trace IDs,
// loggers) but not its cancellation: the request ending does not cancel the
// task. Only the pool cancels it, at the deadline of its stop or after the
// per-task timeout (Settings.TaskTimeout).
//
// The pool runs at most Settings.MaxRunning tasks at once (zero: no
// limit). When that many run, it queues up to Settings.Queue more,
// which start in order of submission as slots free; the submitter does not
// wait. When the queue is full too, the pool is full: a submission waits
// for room (respecting the caller's context) or fails at once with
// [ErrFull], as Settings.WhenFull says. A panic in a task is recovered,
// logged with the task's name and stack, and counted; a task's error is
// logged with its name and passed to the [ErrorHandler], if any.
// [Pool.Stats] returns the counters.
//
// Its users hand it work that takes milliseconds or more, so it is written
// plainly: one mutex over the running tasks, a FIFO of queued tasks and one
// of waiting submitters. A task runs in a goroutine started for it, which
// goes on with the queued tasks, if any: no goroutine waits idle for work.
//
// # The stop
//
// [Pool.Stop] is the pool's step in the wait phase of the stop
// ([lifecycle.Wait]), which runs after the servers have shut down and the
// WebSocket hubs have drained: until then, handlers still finishing their
// requests may submit tasks, and the stop waits for those too, queued ones
// included. When Stop begins, the pool refuses new tasks with [ErrDraining];
// a submission either is counted before Stop can see the pool empty or is
// refused, never lost in between. Stop returns the moment the last task
// returns. At its deadline it drops the queued tasks that have not started,
// cancels the running tasks' contexts, gives them until
// [lifecycle.CloseBy] to return, and [Pool.Stragglers] names every task it
// cut off (running, or queued and dropped), with its age.
//
// [New] builds a pool from its [Settings]; register [Pool.Step] with a
// lifecycle.Coordinator. The lameduck package does both for an Fx
// application, with the "tasks" section of its configuration.
package bgwork
