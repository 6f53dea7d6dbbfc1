package bgwork_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lameduck/lameduck/bgwork"
)

type traceKey struct{}

// A pool used without Fx: tasks keep the caller's values but outlive its
// cancellation, and Stop waits for them.
func Example() {
	pool, err := bgwork.New(bgwork.Settings{MaxRunning: 8, WhenFull: bgwork.Wait})
	if err != nil {
		panic(err)
	}

	// In a handler this would be r.Context(), cancelled when the response
	// is written.
	reqCtx, cancel := context.WithCancel(context.WithValue(context.Background(), traceKey{}, "trace-7"))
	done := make(chan struct{})
	err = pool.Go(reqCtx, "audit.write", func(ctx context.Context) error {
		<-done
		fmt.Println("audit written for", ctx.Value(traceKey{}), "- context error:", ctx.Err())
		return nil
	})
	if err != nil {
		fmt.Println("not submitted:", err)
	}
	cancel() // the request ends; the task goes on
	close(done)

	// The stop: new tasks are refused, running ones are waited for.
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer stopCancel()
	if err := pool.Stop(stopCtx); err != nil {
		fmt.Println("stop:", err)
	}
	err = pool.Go(context.Background(), "late", func(context.Context) error { return nil })
	fmt.Println("after stop:", errors.Is(err, bgwork.ErrDraining))
	s := pool.Stats()
	fmt.Printf("started %d, completed %d, refused %d\n", s.Started, s.Completed, s.Refused)
	// Output:
	// audit written for trace-7 - context error: <nil>
	// after stop: true
	// started 1, completed 1, refused 1
}
