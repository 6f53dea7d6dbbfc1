package lameducktest_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lameducktest"
)

// hello is the route of the examples.
func hello() httpmodule.Route {
	return httpmodule.Route{Pattern: "GET /hello", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello")
	})}
}

// A team's test starts the app with its module, talks to it over loopback,
// stops it and checks the report. Start stops the app in t.Cleanup if the
// test does not, and fails the test if that stop was not clean.
func ExampleStart() {
	var t *testing.T // the test's t: func TestHello(t *testing.T) { ... }

	app := lameducktest.Start(t, fx.Provide(lameduck.AsRoute(hello)))
	resp, err := http.Get(app.URL("public") + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /hello: %s", resp.Status)
	}
	lameducktest.RequireClean(t, app.Stop())
}

// New starts an app outside a test, here to show the report of a clean
// stop: every phase, in order.
func ExampleNew() {
	cfg := lameducktest.Config()
	cfg.Log.Level = "error" // keep the example's standard error quiet
	app, err := lameducktest.New(cfg, fx.Provide(lameduck.AsRoute(hello)))
	if err != nil {
		panic(err)
	}
	resp, err := http.Get(app.URL("public") + "/hello")
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Status, string(body))

	rep := app.Stop()
	fmt.Println("clean:", lameducktest.Verify(rep) == nil)
	for _, p := range rep.Phases {
		fmt.Println(p.Phase, p.Outcome)
	}
	// Output:
	// 200 OK hello
	// clean: true
	// readiness-off completed
	// prestop-delay completed
	// shutdown completed
	// hub-drain completed
	// wait completed
	// final completed
}

// Interrupt stops the app as SIGTERM would: readiness turns off at once while
// the request in flight still finishes.
func ExampleApp_Interrupt() {
	cfg := lameducktest.Config()
	cfg.Log.Level = "error"
	entered, release := make(chan struct{}), make(chan struct{})
	slow := func() httpmodule.Route {
		return httpmodule.Route{Pattern: "GET /slow", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			<-release
			fmt.Fprint(w, "done")
		})}
	}
	app, err := lameducktest.New(cfg, fx.Provide(lameduck.AsRoute(slow)))
	if err != nil {
		panic(err)
	}
	status := make(chan string)
	go func() {
		resp, err := http.Get(app.URL("public") + "/slow")
		if err != nil {
			status <- err.Error()
			return
		}
		resp.Body.Close()
		status <- resp.Status
	}()
	<-entered

	app.Interrupt()
	<-app.Stopping()
	resp, err := http.Get(app.URL("admin") + "/readyz")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println("/readyz:", resp.Status)

	close(release)
	fmt.Println("/slow:", <-status)
	fmt.Println("clean:", lameducktest.Verify(app.Stop()) == nil)
	// Output:
	// /readyz: 503 Service Unavailable
	// /slow: 200 OK
	// clean: true
}

// Verify names what a stop cut off: here a request whose handler ignores its
// context and outlives the shutdown phase.
func ExampleVerify() {
	cfg := lameducktest.Config()
	cfg.Log.Level = "error"
	cfg.Stop.Shutdown = 200 * time.Millisecond
	entered, release, returned := make(chan struct{}), make(chan struct{}), make(chan struct{})
	stuck := func() httpmodule.Route {
		return httpmodule.Route{Pattern: "GET /stuck", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer close(returned)
			close(entered)
			<-release // not r.Context().Done(): the bug this stop reveals
		})}
	}
	app, err := lameducktest.New(cfg, fx.Provide(lameduck.AsRoute(stuck)))
	if err != nil {
		panic(err)
	}
	go func() {
		if resp, err := http.Get(app.URL("public") + "/stuck"); err == nil {
			resp.Body.Close()
		}
	}()
	<-entered

	rep := app.Stop()
	close(release)
	<-returned
	err = lameducktest.Verify(rep)
	fmt.Println(strings.Contains(err.Error(), "cut off request GET /stuck"))
	for _, s := range rep.Stragglers() {
		fmt.Println(s.Kind, s.Name)
	}
	// Output:
	// true
	// request GET /stuck
}
