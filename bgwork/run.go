package bgwork

import (
	"context"
	"runtime/debug"

	"go.uber.org/zap"
)

// taskState is how far a task has gone.
type taskState uint32

const (
	running   taskState = iota // a goroutine runs it (or is about to)
	succeeded                  // it returned nil
	failed                     // it returned an error
	panicked                   // it panicked or called runtime.Goexit
)

// invoke runs fn, the function of the task named name, with ctx (and the
// per-task timeout), and reports whether it returned nil; an error is
// logged and passed to the ErrorHandler. It lets a panic through: the
// caller's deferred function recovers it (see failure).
func (p *Pool) invoke(name string, ctx context.Context, fn func(context.Context) error) taskState {
	var err error
	if p.timeout > 0 {
		err = p.invokeWithTimeout(ctx, fn)
	} else {
		err = fn(ctx)
	}
	if err != nil {
		p.taskFailed(name, "task failed", err)
		return failed
	}
	return succeeded
}

func (p *Pool) invokeWithTimeout(ctx context.Context, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeoutCause(ctx, p.timeout, ErrTaskTimeout)
	defer cancel()
	return fn(ctx)
}

// failure logs and reports a task whose function did not return: it
// panicked with r, or called runtime.Goexit if r is nil.
func (p *Pool) failure(name string, r any) taskState {
	if r == nil {
		p.taskFailed(name, "task called runtime.Goexit", &PanicError{Value: "runtime.Goexit", Stack: debug.Stack()})
	} else {
		p.taskFailed(name, "task panicked", &PanicError{Value: r, Stack: debug.Stack()})
	}
	return panicked
}

func (p *Pool) taskFailed(name, msg string, err error) {
	fields := []zap.Field{zap.String("pool", p.name), zap.String("task", name), zap.Error(err)}
	if pe, ok := err.(*PanicError); ok {
		fields = append(fields, zap.Any("panic", pe.Value), zap.ByteString("stack", pe.Stack))
	}
	p.log.Error(msg, fields...)
	if p.onError != nil {
		p.onError(name, err)
	}
}
