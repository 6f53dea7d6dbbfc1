package httpmodule_test

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lifecycle"
)

// Without Fx: a server registers its steps with a coordinator, which stops
// it in order.
func ExampleNewServer() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "pong") })
	srv := httpmodule.NewServer("public", httpmodule.DefaultServerSettings("127.0.0.1:0"), mux)
	if err := srv.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}

	stop := lifecycle.DefaultSettings(nil)
	coordinator := lifecycle.New(stop)
	if err := coordinator.Register(srv.Steps()...); err != nil {
		fmt.Println(err)
		return
	}
	report, err := coordinator.Stop(context.Background())
	fmt.Println("clean:", report.Clean(), err)
	// Output:
	// clean: true <nil>
}
