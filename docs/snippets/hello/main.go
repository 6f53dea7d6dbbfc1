package main

import (
	"net/http"

	"go.uber.org/fx"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/httpmodule"
)

func main() {
	lameduck.Run( // config from LAMEDUCK_* and LAMEDUCK_CONFIG, every module, budgeted stop
		fx.Provide(lameduck.AsRoute(newHelloRoute)),
	)
}

// newHelloRoute answers GET /hello.
func newHelloRoute() httpmodule.Route {
	return httpmodule.Route{Pattern: "GET /hello", Handler: http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello\n")) })}
}
