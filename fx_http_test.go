package lameduck_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lifecycle"
)

// httpStop is a stop budget with a 5s shutdown phase and no preStop delay.
func httpStop() lifecycle.Settings {
	s := lifecycle.DefaultSettings(nil)
	s.PreStopDelay = 0
	s.Shutdown = 5 * time.Second
	s.Reserve = 400 * time.Millisecond
	s.ForceGrace = 150 * time.Millisecond
	s.Total = s.Shutdown + s.HubDrain + s.Wait + time.Second
	return s
}

// The servers serve the routes of the value group with their server's
// middleware in order, the admin server answers the probes, and app.Stop
// stops everything.
func TestAsRouteServesRoutesMiddlewareAndProbes(t *testing.T) {
	var servers *httpmodule.Servers
	mw := func(name string, order int) any {
		return lameduck.AsMiddleware(func() httpmodule.Middleware {
			return httpmodule.Middleware{Name: name, Order: order, Wrap: func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Add("X-Chain", name)
					next.ServeHTTP(w, r)
				})
			}}
		})
	}
	app := newApp(t, testConfig(httpStop()),
		fx.Provide(
			lameduck.AsRoute(func() httpmodule.Route {
				return httpmodule.Route{Pattern: "GET /hello/{name}", Module: "greeter", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.WriteString(w, "hello "+r.PathValue("name"))
				})}
			}),
			mw("outer", 1), mw("inner", 2), mw("outermost", 0),
		),
		fx.Populate(&servers),
	)
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp, err := h1Client(t).Get("http://" + servers.Addr("public").String() + "/hello/gopher")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hello gopher" {
		t.Errorf("route: %q", b)
	}
	if chain := strings.Join(resp.Header.Values("X-Chain"), ","); chain != "outermost,outer,inner" {
		t.Errorf("middleware order %q, want outermost,outer,inner", chain)
	}
	admin := "http://" + servers.AdminAddr().String()
	if code, _ := get(t, admin+"/livez"); code != http.StatusOK {
		t.Errorf("/livez: %d", code)
	}
	if code, body := get(t, admin+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz: %d %s", code, body)
	}
	if code, _ := get(t, admin+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("pprof is off by default, got %d", code)
	}
	if err := app.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []net.Addr{servers.Addr("public"), servers.AdminAddr()} {
		if _, err := net.Dial("tcp", addr.String()); !isRefused(err) {
			t.Errorf("dial %s after the stop: %v, want refused", addr, err)
		}
	}
}

// pprof is served on the admin server when enabled.
func TestPprofWhenEnabled(t *testing.T) {
	cfg := testConfig(httpStop())
	cfg.Admin.Pprof = true
	var servers *httpmodule.Servers
	app := fxtest.New(t, appOptions(t, cfg, fx.Populate(&servers))...)
	app.RequireStart()
	defer app.RequireStop()
	if code, body := get(t, "http://"+servers.AdminAddr().String()+"/debug/pprof/cmdline"); code != http.StatusOK || body == "" {
		t.Errorf("pprof cmdline: %d %q", code, body)
	}
}

// The admin server stops last: while the public server drains a request,
// /readyz already answers 503 and /livez 200.
func TestAdminAnswersProbesUntilTheEnd(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	observe, shutdownBegan := phaseStarted(lifecycle.Shutdown)
	var servers *httpmodule.Servers
	app := newApp(t, testConfig(httpStop()),
		fx.Provide(lameduck.AsRoute(func() httpmodule.Route {
			return httpmodule.Route{Pattern: "GET /slow", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(entered)
				<-release
			})}
		})),
		fx.Provide(lameduck.AsObserver(observe)),
		fx.Populate(&servers),
	)
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	slow := make(chan int, 1)
	go func() {
		resp, err := h1Client(t).Get("http://" + servers.Addr("public").String() + "/slow")
		if err != nil {
			slow <- 0
			return
		}
		resp.Body.Close()
		slow <- resp.StatusCode
	}()
	<-entered
	stopped := make(chan error, 1)
	go func() { stopped <- app.Stop(context.Background()) }()
	// The public server's shutdown step runs, and cannot end while the
	// slow request is held.
	<-shutdownBegan

	admin := "http://" + servers.AdminAddr().String()
	if code, body := get(t, admin+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the shutdown: %d %s, want 503", code, body)
	}
	if code, _ := get(t, admin+"/livez"); code != http.StatusOK {
		t.Errorf("/livez during the shutdown: %d, want 200", code)
	}
	close(release)
	if code := <-slow; code != http.StatusOK {
		t.Errorf("slow request: %d", code)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", servers.AdminAddr().String()); !isRefused(err) {
		t.Errorf("admin server still listening after the stop: %v", err)
	}
}

// A busy address fails app.Start with an error naming the server, the
// address and the setting to change, and the servers that had started are
// closed again.
func TestStartFailsOnAddressInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := testConfig(httpStop())
	cfg.Servers["zbusy"] = httpmodule.DefaultServerSettings(busy.Addr().String())
	var servers *httpmodule.Servers
	app := newApp(t, cfg, fx.Populate(&servers))
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	err = app.Start(context.Background())
	if err == nil {
		_ = app.Stop(context.Background())
		t.Fatal("start succeeded on a busy address")
	}
	for _, want := range []string{`server "zbusy"`, busy.Addr().String(), "address already in use", "LAMEDUCK_SERVERS_ZBUSY_ADDR"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	// Started before "zbusy" (admin, then names in order): closed by the
	// rollback.
	for _, name := range []string{httpmodule.AdminServer, "public"} {
		addr := servers.Addr(name)
		if addr == nil {
			t.Fatalf("server %s never started", name)
		}
		if _, err := net.Dial("tcp", addr.String()); !isRefused(err) {
			t.Errorf("server %s still listening after the failed start: %v", name, err)
		}
	}
}

// A busy admin address names the admin server's own setting, admin.addr and
// LAMEDUCK_ADMIN_ADDR, which is what to change: there is no servers.admin.
func TestStartFailsOnBusyAdminAddress(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := testConfig(httpStop())
	cfg.Admin.Addr = busy.Addr().String()
	app := newApp(t, cfg)
	err = app.Start(context.Background())
	if err == nil {
		_ = app.Stop(context.Background())
		t.Fatal("start succeeded on a busy admin address")
	}
	want := `httpmodule: server "admin": listen tcp ` + busy.Addr().String() + `: bind: address already in use; free the address or change admin.addr (LAMEDUCK_ADMIN_ADDR)`
	if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "servers.admin") {
		t.Errorf("error %q\nwant it to contain %q", err, want)
	}
}

// A route for a server that is not configured fails fx.New.
func TestRouteForUnknownServerFailsStartup(t *testing.T) {
	app := newApp(t, testConfig(httpStop()), fx.Provide(lameduck.AsRoute(func() httpmodule.Route {
		return httpmodule.Route{Server: "internal", Pattern: "GET /x", Module: "reports", Handler: http.NotFoundHandler()}
	})))
	err := app.Err()
	if err == nil {
		t.Fatal("fx.New succeeded with a route for an unknown server")
	}
	for _, want := range []string{`"GET /x"`, "reports", `server "internal"`, "not configured", "public"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

// Duplicate and conflicting patterns fail fx.New with an error that names
// both routes and their modules.
func TestConflictingPatternsFailStartup(t *testing.T) {
	route := func(pattern, module string) any {
		return lameduck.AsRoute(func() httpmodule.Route {
			return httpmodule.Route{Pattern: pattern, Module: module, Handler: http.NotFoundHandler()}
		})
	}
	for _, tc := range []struct {
		name   string
		a, b   [2]string
		phrase string
	}{
		{"duplicate", [2]string{"GET /orders/{id}", "orders"}, [2]string{"GET /orders/{id}", "billing"}, "duplicates"},
		{"conflict", [2]string{"GET /items/{id}", "catalog"}, [2]string{"GET /items/{name}", "search"}, "conflicts with"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := newApp(t, testConfig(httpStop()), fx.Provide(route(tc.a[0], tc.a[1]), route(tc.b[0], tc.b[1])))
			err := app.Err()
			if err == nil {
				t.Fatal("fx.New succeeded with conflicting routes")
			}
			for _, want := range []string{tc.a[0], tc.a[1], tc.b[0], tc.b[1], tc.phrase, `server "public"`} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

// Middleware for AllServers wraps every application server but not the
// admin server; a route can be put on the admin server by its name.
func TestAllServersMiddlewareAndAdminRoute(t *testing.T) {
	cfg := testConfig(httpStop())
	cfg.Servers["internal"] = httpmodule.DefaultServerSettings("127.0.0.1:0")
	var servers *httpmodule.Servers
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	app := newApp(t, cfg,
		fx.Provide(
			lameduck.AsRoute(func() httpmodule.Route { return httpmodule.Route{Pattern: "GET /a", Handler: ok} }),
			lameduck.AsRoute(func() httpmodule.Route { return httpmodule.Route{Server: "internal", Pattern: "GET /a", Handler: ok} }),
			lameduck.AsRoute(func() httpmodule.Route {
				return httpmodule.Route{Server: httpmodule.AdminServer, Pattern: "GET /metrics", Handler: ok}
			}),
			lameduck.AsMiddleware(func() httpmodule.Middleware {
				return httpmodule.Middleware{Server: httpmodule.AllServers, Name: "tag", Wrap: func(next http.Handler) http.Handler {
					return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						w.Header().Set("X-Tag", "yes")
						next.ServeHTTP(w, r)
					})
				}}
			}),
		),
		fx.Populate(&servers),
	)
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := app.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	if names := strings.Join(servers.Names(), ","); names != "internal,public" {
		t.Errorf("Names() = %s", names)
	}
	for _, tc := range []struct {
		server, path, tag string
	}{{"public", "/a", "yes"}, {"internal", "/a", "yes"}, {httpmodule.AdminServer, "/metrics", ""}} {
		resp, err := h1Client(t).Get("http://" + servers.Addr(tc.server).String() + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Tag") != tc.tag {
			t.Errorf("%s %s: status %d, X-Tag %q, want 200 and %q", tc.server, tc.path, resp.StatusCode, resp.Header.Get("X-Tag"), tc.tag)
		}
	}
}
