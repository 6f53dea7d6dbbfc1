package httpmodule

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
	"go.uber.org/zap/zaptest"

	"github.com/lameduck/lameduck/config"
	"github.com/lameduck/lameduck/lifecycle"
)

// testConfig has one public server and the admin server, both on free
// loopback ports, and no preStop delay.
func testConfig() config.Config {
	cfg := config.Default(nil)
	cfg.Servers = config.Servers{"public": testServerConfig()}
	cfg.Admin.Addr = "127.0.0.1:0"
	cfg.Stop = testStop(5 * time.Second)
	return cfg
}

// newApp builds an app of the config, lifecycle and http modules.
func newApp(t *testing.T, cfg config.Config, opts ...fx.Option) *fx.App {
	t.Helper()
	return fx.New(append([]fx.Option{
		fx.NopLogger,
		config.Supply(cfg),
		fx.Supply(zaptest.NewLogger(t)),
		lifecycle.Module,
		Module,
	}, opts...)...)
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := h1Client(t).Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The module serves routes from the value group with their server's
// middleware in order, the admin server answers the probes, and app.Stop
// stops everything.
func TestModuleServesRoutesMiddlewareAndProbes(t *testing.T) {
	var servers *Servers
	mw := func(name string, order int) any {
		return AsMiddleware(func() Middleware {
			return Middleware{Name: name, Order: order, Wrap: func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Add("X-Chain", name)
					next.ServeHTTP(w, r)
				})
			}}
		})
	}
	app := newApp(t, testConfig(),
		fx.Provide(
			AsRoute(func() Route {
				return Route{Pattern: "GET /hello/{name}", Module: "greeter", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					io.WriteString(w, "hello "+r.PathValue("name"))
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
func TestModulePprofWhenEnabled(t *testing.T) {
	cfg := testConfig()
	cfg.Admin.Pprof = true
	var servers *Servers
	app := fxtest.New(t, fx.NopLogger, config.Supply(cfg), lifecycle.Module, Module, fx.Populate(&servers))
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
	var servers *Servers
	app := newApp(t, testConfig(),
		fx.Provide(AsRoute(func() Route {
			return Route{Pattern: "GET /slow", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(entered)
				<-release
			})}
		})),
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
	listenerClosed(t, servers.Server("public"))

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

// A busy address fails app.Start with an error naming the server and the
// address, and the servers that had started are closed again.
func TestStartFailsOnAddressInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := testConfig()
	b := testServerConfig()
	b.Addr = busy.Addr().String()
	cfg.Servers["zbusy"] = b
	var servers *Servers
	app := newApp(t, cfg, fx.Populate(&servers))
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	err = app.Start(context.Background())
	if err == nil {
		app.Stop(context.Background())
		t.Fatal("start succeeded on a busy address")
	}
	for _, want := range []string{`server "zbusy"`, b.Addr, "address already in use"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	// Started before "zbusy" (admin, then names in order): closed by the
	// rollback.
	for _, name := range []string{AdminServer, "public"} {
		addr := servers.Addr(name)
		if addr == nil {
			t.Fatalf("server %s never started", name)
		}
		if _, err := net.Dial("tcp", addr.String()); !isRefused(err) {
			t.Errorf("server %s still listening after the failed start: %v", name, err)
		}
	}
}

// A route for a server that is not configured fails fx.New.
func TestUnknownServerFailsStartup(t *testing.T) {
	app := newApp(t, testConfig(), fx.Provide(AsRoute(func() Route {
		return Route{Server: "internal", Pattern: "GET /x", Module: "reports", Handler: http.NotFoundHandler()}
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
		return AsRoute(func() Route { return Route{Pattern: pattern, Module: module, Handler: http.NotFoundHandler()} })
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
			app := newApp(t, testConfig(), fx.Provide(route(tc.a[0], tc.a[1]), route(tc.b[0], tc.b[1])))
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
	cfg := testConfig()
	cfg.Servers["internal"] = testServerConfig()
	var servers *Servers
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	app := newApp(t, cfg,
		fx.Provide(
			AsRoute(func() Route { return Route{Pattern: "GET /a", Handler: ok} }),
			AsRoute(func() Route { return Route{Server: "internal", Pattern: "GET /a", Handler: ok} }),
			AsRoute(func() Route { return Route{Server: AdminServer, Pattern: "GET /metrics", Handler: ok} }),
			AsMiddleware(func() Middleware {
				return Middleware{Server: AllServers, Name: "tag", Wrap: func(next http.Handler) http.Handler {
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
	defer app.Stop(context.Background())
	if names := strings.Join(servers.Names(), ","); names != "internal,public" {
		t.Errorf("Names() = %s", names)
	}
	for _, tc := range []struct {
		server, path, tag string
	}{{"public", "/a", "yes"}, {"internal", "/a", "yes"}, {AdminServer, "/metrics", ""}} {
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
