// Package orders is a team's module that hands its audit writes to the
// task pool, as docs/bgwork.md shows.
package orders

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/bgwork"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lifecycle"
)

// Order is what POST /orders takes.
type Order struct {
	ID string `json:"id"`
}

// AuditLog stands for where the service writes its audit entries.
type AuditLog struct{ written chan Order }

func newAuditLog() *AuditLog { return &AuditLog{written: make(chan Order, 16)} }

// Write records o; it takes a while, as a remote write would.
func (a *AuditLog) Write(ctx context.Context, o Order) error {
	select {
	case <-time.After(10 * time.Millisecond):
		a.written <- o
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// snippet:start module
var Module = fx.Module("orders",
	fx.Provide(newAuditLog),
	fx.Provide(lameduck.AsRoute(newOrdersRoute)),
	// Every task's error, to count it or send it to an error tracker.
	fx.Supply(bgwork.ErrorHandler(func(name string, err error) {
		log.Printf("task %s failed: %v", name, err)
	})),
)

func newOrdersRoute(pool *bgwork.Pool, audit *AuditLog) httpmodule.Route {
	return httpmodule.Route{Pattern: "POST /orders", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var order Order
		if err := json.NewDecoder(r.Body).Decode(&order); err != nil {
			http.Error(w, "the body is an order in JSON", http.StatusBadRequest)
			return
		}
		err := pool.Go(r.Context(), "orders.audit", func(ctx context.Context) error {
			return audit.Write(ctx, order) // ctx keeps the request's values (trace IDs), not its cancellation
		})
		if errors.Is(err, bgwork.ErrFull) || errors.Is(err, bgwork.ErrDraining) {
			http.Error(w, "busy: try again", http.StatusServiceUnavailable) // or do it inline
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})}
}

// snippet:end module

// newPool builds a pool without Fx.
func newPool(log *zap.Logger, coordinator *lifecycle.Coordinator) (*bgwork.Pool, error) {
	// snippet:start plain
	pool, err := bgwork.New(bgwork.Settings{MaxRunning: 8, WhenFull: bgwork.Wait}, bgwork.WithLogger(log))
	if err != nil {
		return nil, err
	}
	if err := coordinator.Register(pool.Step()); err != nil { // or: pool.Stop(ctx) yourself
		return nil, err
	}
	// snippet:end plain
	return pool, nil
}
