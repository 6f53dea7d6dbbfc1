// Command plainstop runs the stop without Fx, as docs/lifecycle.md shows.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/lameduck/lameduck/lifecycle"
)

func main() {
	c := lifecycle.New(lifecycle.DefaultSettings(os.Environ()))
	// Register the steps of whatever the service runs, then:
	stopListening := c.ListenSignals()
	defer stopListening()
	<-c.Stopping() // the first SIGTERM or SIGINT
	rep, err := c.Stop(context.Background())
	fmt.Fprintln(os.Stderr, rep)
	os.Exit(lifecycle.ExitCode(err))
}
