// Package lameducktest starts a lameduck application inside a test, on
// loopback port 0, and checks how it stops.
//
// A team's module is tested the way it runs in production: with every
// lameduck module, real servers on 127.0.0.1, real clients, and the real stop
// sequence. Start builds the app from lameduck.WithConfig and the test's
// options, starts it, and stops it when the test ends:
//
//	func TestOrders(t *testing.T) {
//		app := lameducktest.Start(t, orders.Module)
//		resp, err := http.Post(app.URL("public")+"/orders", "text/plain", strings.NewReader("book"))
//		...
//		rep := app.Stop()
//		lameducktest.RequireClean(t, rep)
//	}
//
// App.URL and App.Addr find a server by its name (httpmodule.AdminServer,
// "admin", for the probes), App.GRPCAddr a gRPC server of grpcmodule.Module; App.Stop runs the stop sequence and returns its
// lifecycle.StopReport; RequireClean (or Verify) checks that every phase ran
// in order and nothing was cut off. App.Interrupt delivers a stop signal the
// way SIGTERM would, for tests that act while the app stops.
//
// Config returns the settings Start uses: the built-in defaults with every
// server on 127.0.0.1:0, no preStop delay and a 15s stop budget, so that a
// test whose stop hangs fails in seconds. Change a copy and pass it to
// StartWith. To get values out of the app (a hub, the task pool), pass
// fx.Populate among the options.
package lameducktest
