// Command routes serves a route and a middleware contributed through Fx, as
// docs/httpmodule.md shows.
package main

import (
	"database/sql"
	"net/http"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/httpmodule"
)

// DB stands for the service's database.
type DB struct{ *sql.DB }

func newDB() *DB { return &DB{} }

// ordersHandler answers GET /orders/{id}.
func ordersHandler(db *DB) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("order " + r.PathValue("id") + "\n"))
	})
}

// requireToken refuses requests without a bearer token.
func requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			http.Error(w, "a bearer token is required", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// options are the service's own modules.
var options = fx.Options(
	fx.Provide(newDB),
	// snippet:start routes
	fx.Provide(lameduck.AsRoute(func(db *DB) httpmodule.Route {
		return httpmodule.Route{
			Pattern: "GET /orders/{id}", // a Go 1.22 ServeMux pattern
			Module:  "orders",           // named in conflict errors
			Handler: ordersHandler(db),
		}
	})),
	fx.Provide(lameduck.AsMiddleware(func(log *zap.Logger) httpmodule.Middleware {
		return httpmodule.Middleware{Name: "auth", Order: 10, Wrap: requireToken}
	})),
	// snippet:end routes
)

func main() { lameduck.Run(options) }
