package bgwork

import (
	"errors"
	"fmt"
)

// ErrDraining is returned by [Pool.Go] once the pool's stop has begun: the
// pool waits for the tasks it has and takes no new ones. Work that must still
// happen at that point has to run inline.
var ErrDraining = errors.New("bgwork: the pool is stopping and takes no new tasks")

// ErrFull is returned by [Pool.Go] when the pool is full (Settings.MaxRunning
// tasks are running and Settings.Queue tasks are queued) and
// Settings.WhenFull is "fail". Retry later, shed the work, or raise
// tasks.queue or tasks.maxRunning.
var ErrFull = errors.New("bgwork: the pool is full (tasks.maxRunning tasks running, tasks.queue queued)")

// ErrStopDeadline is the cause (see context.Cause) of the cancellation of a
// task's context when the pool's stop reached its deadline.
var ErrStopDeadline = errors.New("bgwork: the stop deadline passed")

// ErrTaskTimeout is the cause (see context.Cause) of the cancellation of a
// task's context when the task ran longer than Settings.TaskTimeout.
var ErrTaskTimeout = errors.New("bgwork: the task ran longer than tasks.taskTimeout")

// PanicError is the error an [ErrorHandler] receives for a task that
// panicked.
type PanicError struct {
	// Value is what the task passed to panic.
	Value any
	// Stack is the task's goroutine stack at the panic.
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("bgwork: task panicked: %v", e.Value) }

// Unwrap returns the panic value if it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
