package httpmodule

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
)

// routeServer returns the server a route or middleware names.
func routeServer(name string) string {
	if name == "" {
		return DefaultServerName
	}
	return name
}

func moduleName(m string) string {
	if m == "" {
		return "(module not named)"
	}
	return m
}

// buildMux registers routes on a new ServeMux. ServeMux panics on a
// pattern that is invalid or that conflicts with one registered before;
// the panic becomes an error that names both routes and their modules.
func buildMux(server string, routes []Route) (*http.ServeMux, error) {
	routes = slices.Clone(routes)
	slices.SortStableFunc(routes, func(a, b Route) int {
		return cmp.Or(cmp.Compare(a.Pattern, b.Pattern), cmp.Compare(a.Module, b.Module))
	})
	mux := http.NewServeMux()
	var errs []error
	var done []Route
	for _, r := range routes {
		if err := checkRoute(server, r); err != nil {
			errs = append(errs, err)
			continue
		}
		if msg := register(mux, r); msg != "" {
			errs = append(errs, routeError(server, r, done, msg))
			continue
		}
		done = append(done, r)
	}
	return mux, errors.Join(errs...)
}

func checkRoute(server string, r Route) error {
	switch {
	case r.Pattern == "":
		return fmt.Errorf("httpmodule: server %q: a route of module %s has no pattern", server, moduleName(r.Module))
	case r.Handler == nil:
		return fmt.Errorf("httpmodule: server %q: route %q of module %s has no handler", server, r.Pattern, moduleName(r.Module))
	}
	return nil
}

// register adds r to mux and returns ServeMux's panic message, if any.
func register(mux *http.ServeMux, r Route) (panicMsg string) {
	defer func() {
		if p := recover(); p != nil {
			panicMsg = fmt.Sprint(p)
		}
	}()
	mux.Handle(r.Pattern, r.Handler)
	return ""
}

// routeError explains why r could not be registered: the earlier route it
// conflicts with, if there is one, else ServeMux's message (a bad pattern).
func routeError(server string, r Route, earlier []Route, msg string) error {
	if alone := register(http.NewServeMux(), r); alone != "" {
		return fmt.Errorf("httpmodule: server %q: route %q of module %s: %s", server, r.Pattern, moduleName(r.Module), alone)
	}
	for _, e := range earlier {
		probe := http.NewServeMux()
		probe.Handle(e.Pattern, e.Handler)
		if register(probe, r) == "" {
			continue
		}
		what := "conflicts with"
		if e.Pattern == r.Pattern {
			what = "duplicates"
		}
		return fmt.Errorf("httpmodule: server %q: route %q of module %s %s route %q of module %s: "+
			"both match some requests and neither is more specific; change one pattern (%s)",
			server, r.Pattern, moduleName(r.Module), what, e.Pattern, moduleName(e.Module), msg)
	}
	return fmt.Errorf("httpmodule: server %q: route %q of module %s: %s", server, r.Pattern, moduleName(r.Module), msg)
}

// wrapMiddleware wraps h in mws, the lowest Order outermost.
func wrapMiddleware(h http.Handler, mws []Middleware) http.Handler {
	mws = slices.Clone(mws)
	slices.SortStableFunc(mws, func(a, b Middleware) int {
		return cmp.Or(cmp.Compare(a.Order, b.Order), cmp.Compare(a.Name, b.Name))
	})
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i].Wrap(h)
	}
	return h
}
