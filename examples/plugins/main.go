// Command plugins composes two teams' modules into one service with fx.New:
// orders (routes, a background task per order, a readiness check) and feed
// (a WebSocket hub). Neither module imports the other, and main knows
// neither's insides: each reaches lameduck through its value groups.
//
//	go run ./examples/plugins
//	curl -d book localhost:8080/orders
//	curl 'localhost:9090/readyz?verbose'
package main

import (
	"fmt"
	"os"

	"go.uber.org/fx"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/examples/plugins/feed"
	"github.com/lameduck/lameduck/examples/plugins/orders"
	"github.com/lameduck/lameduck/lifecycle"
)

// teams are the teams' modules; a new team adds its module here.
var teams = fx.Options(
	orders.Module,
	feed.Module,
)

func main() {
	// lameduck.Run(teams) does all of this; written out, it shows where
	// the configuration and the Fx stop timeout come from.
	cfg, err := lameduck.LoadProcessConfig() // defaults, LAMEDUCK_CONFIG, LAMEDUCK_*
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(lifecycle.ExitFailed)
	}
	app := fx.New(
		fx.StopTimeout(cfg.Stop.FxStopTimeout()), // the budget plus its margin
		lameduck.WithConfig(cfg),
		teams,
	)
	os.Exit(lameduck.RunApp(app))
}
