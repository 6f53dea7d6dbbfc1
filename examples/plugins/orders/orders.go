// Package orders is the orders team's plug-in module: it adds its routes to
// the public server, confirms every order in a background task, and tells
// /readyz whether the mail service it depends on answers. The service's main
// adds it with one line, orders.Module, and knows nothing else of it.
//
//	POST /orders        body = item: 201 and the order; its confirmation is mailed in the background
//	GET  /orders/{id}   the order and whether it is confirmed
//
// Everything reaches lameduck through value groups: routes through
// lameduck.AsRoute, the readiness check through lameduck.AsReadinessCheck,
// and the confirmations run on the application's bgwork pool, whose stop waits
// for them after the servers have shut down.
package orders

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/bgwork"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lifecycle"
)

// Module is the orders team's module.
var Module = fx.Module("orders",
	fx.Provide(
		newStore,
		fx.Annotate(newLogMailer, fx.As(new(Mailer))),
		lameduck.AsRoute(createRoute),
		lameduck.AsRoute(getRoute),
		lameduck.AsReadinessCheck(mailerCheck),
	),
)

// Order is one order.
type Order struct {
	ID        int
	Item      string
	Confirmed bool
}

// Mailer sends order confirmations. The module provides one that logs; a
// service replaces it with its mail client (fx.Decorate), a test with a
// fake.
type Mailer interface {
	// Send mails the confirmation of o. It returns when ctx ends.
	Send(ctx context.Context, o Order) error
	// Ping reports whether the mail service takes messages.
	Ping(ctx context.Context) error
}

// store keeps the orders in memory.
type store struct {
	mu     sync.Mutex
	orders map[int]Order
}

func newStore() *store { return &store{orders: map[int]Order{}} }

func (s *store) add(item string) Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := Order{ID: len(s.orders) + 1, Item: item}
	s.orders[o.ID] = o
	return o
}

func (s *store) get(id int) (Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[id]
	return o, ok
}

func (s *store) confirm(id int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[id]
	o.Confirmed = true
	s.orders[id] = o
}

// createRoute answers POST /orders: it stores the order, answers 201, and
// mails the confirmation in a background task that outlives the request.
func createRoute(s *store, m Mailer, pool *bgwork.Pool, log *zap.Logger) httpmodule.Route {
	return httpmodule.Route{Module: "orders", Pattern: "POST /orders", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		item, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<10))
		if err != nil || len(item) == 0 {
			http.Error(w, "the body is the item ordered: 1 byte to 1 KiB", http.StatusBadRequest)
			return
		}
		o := s.add(string(item))
		err = pool.Go(r.Context(), fmt.Sprintf("orders.confirm/%d", o.ID), func(ctx context.Context) error {
			if err := m.Send(ctx, o); err != nil {
				return fmt.Errorf("orders: mail the confirmation of order %d: %w", o.ID, err)
			}
			s.confirm(o.ID)
			return nil
		})
		if err != nil {
			// The pool is stopping or full: the order stands, its
			// confirmation waits for a retry job (not shown).
			log.Warn("orders: confirmation not started", zap.Int("order", o.ID), zap.Error(err))
		}
		w.Header().Set("Location", fmt.Sprintf("/orders/%d", o.ID))
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "order %d: %s\n", o.ID, o.Item)
	})}
}

// getRoute answers GET /orders/{id}.
func getRoute(s *store) httpmodule.Route {
	return httpmodule.Route{Module: "orders", Pattern: "GET /orders/{id}", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(r.PathValue("id"))
		if err != nil {
			http.Error(w, "id: want an order number", http.StatusBadRequest)
			return
		}
		o, ok := s.get(id)
		if !ok {
			http.Error(w, fmt.Sprintf("no order %d", id), http.StatusNotFound)
			return
		}
		state := "confirmation pending"
		if o.Confirmed {
			state = "confirmed"
		}
		fmt.Fprintf(w, "order %d: %s (%s)\n", o.ID, o.Item, state)
	})}
}

// mailerCheck makes /readyz fail while the mail service does not answer:
// the instance then gets no new orders it could not confirm.
func mailerCheck(m Mailer) lifecycle.ReadinessCheck {
	return lifecycle.ReadinessCheck{Name: "orders.mailer", Check: m.Ping}
}

// logMailer is the Mailer of the example: it logs the confirmation after
// the time a mail service takes to answer.
type logMailer struct{ log *zap.Logger }

func newLogMailer(log *zap.Logger) *logMailer { return &logMailer{log: log.Named("orders")} }

// sendLatency is how long logMailer takes to "send" a message.
const sendLatency = 50 * time.Millisecond

func (m *logMailer) Send(ctx context.Context, o Order) error {
	t := time.NewTimer(sendLatency)
	defer t.Stop()
	select {
	case <-t.C:
		m.log.Info("confirmation sent", zap.Int("order", o.ID), zap.String("item", o.Item))
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (m *logMailer) Ping(context.Context) error { return nil }
