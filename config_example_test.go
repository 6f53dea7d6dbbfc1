package lameduck_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/httpmodule"
)

// LoadConfig reads the defaults, the file named by LAMEDUCK_CONFIG and the
// LAMEDUCK_* variables. Programs use [lameduck.Module] (or call
// [lameduck.LoadProcessConfig]); here the environment is spelled out.
func ExampleLoadConfig() {
	cfg, err := lameduck.LoadConfig([]string{
		"KUBERNETES_SERVICE_HOST=10.96.0.1", // in a pod: preStop delay defaults to 5s
		"LAMEDUCK_STOP_TOTAL=40s",
		"LAMEDUCK_STOP_SHUTDOWN=25s",
		"LAMEDUCK_SERVERS_PUBLIC_ADDR=:8081",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("total:", cfg.Stop.Total)
	fmt.Println("shutdown:", cfg.Stop.Shutdown)
	fmt.Println("preStop delay:", cfg.Stop.PreStopDelay)
	fmt.Println("public server:", cfg.Servers[httpmodule.DefaultServerName].Addr)
	fmt.Println("Fx stop timeout:", cfg.Stop.FxStopTimeout())
	// Output:
	// total: 40s
	// shutdown: 25s
	// preStop delay: 5s
	// public server: :8081
	// Fx stop timeout: 43s
}

// A config file sets what differs from the defaults; an unknown key is an
// error that gives its line and the key that was probably meant, together
// with every other problem.
func ExampleLoadConfig_file() {
	dir, err := os.MkdirTemp("", "lameduck-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "lameduck.yaml")
	err = os.WriteFile(path, []byte(`
servers:
  internal:            # a second server, starting from httpmodule.DefaultServerSettings
    addr: 127.0.0.1:8081
    protocols: [http1]
websocket:
  readLimt: 64KiB
`), 0o600)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = lameduck.LoadConfig([]string{"LAMEDUCK_CONFIG=" + path, "LAMEDUCK_LOG_LEVEL=verbose"})
	fmt.Println(strings.ReplaceAll(err.Error(), path, "lameduck.yaml"))
	// Output:
	// config: 2 invalid settings
	//   - websocket.readLimt at lameduck.yaml:7: want a known key (did you mean websocket.readLimit?)
	//   - log.level (LAMEDUCK_LOG_LEVEL) = "verbose": want "debug", "info", "warn" or "error"
}

// Validate lists every problem at once, each with its key, its environment
// variable, the bad value and what to change.
func ExampleConfig_Validate() {
	cfg := lameduck.DefaultConfig(nil)
	cfg.Stop.Shutdown = 20 * time.Second
	cfg.Stop.GracePeriod = 20 * time.Second
	cfg.Log.Level = "verbose"
	fmt.Println(cfg.Validate())
	// Output:
	// config: 3 invalid settings
	//   - stop.total (LAMEDUCK_STOP_TOTAL) = "25s": want room for the phases: stop.preStopDelay (0s) + stop.shutdown (20s) + stop.hubDrain (5s) + stop.wait (4s) = 29s exceeds stop.total (25s) - stop.reserve (1s) = 24s; raise stop.total to at least 30s or shorten the phases by 5s
	//   - stop.gracePeriod (LAMEDUCK_STOP_GRACE_PERIOD) = "20s": want room for the stop: stop.total (25s) + stop.margin (3s) = 28s does not fit in the grace period (20s); raise terminationGracePeriodSeconds (and LAMEDUCK_STOP_GRACE_PERIOD) to at least 28, or lower stop.total to 17s or less
	//   - log.level (LAMEDUCK_LOG_LEVEL) = "verbose": want "debug", "info", "warn" or "error"
}
