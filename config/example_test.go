package config_test

import (
	"fmt"
	"time"

	"github.com/lameduck/lameduck/config"
)

// Load reads the defaults, the file named by LAMEDUCK_CONFIG and the
// LAMEDUCK_* variables. Programs call [config.LoadProcess] (or use
// [config.Module]); here the environment is spelled out.
func ExampleLoad() {
	cfg, err := config.Load([]string{
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
	fmt.Println("public server:", cfg.Servers[config.DefaultServerName].Addr)
	// Output:
	// total: 40s
	// shutdown: 25s
	// preStop delay: 5s
	// public server: :8081
}

// Validate lists every problem at once, each with its key, its environment
// variable, the bad value and what to change.
func ExampleConfig_Validate() {
	cfg := config.Default(nil)
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

func ExampleParseByteSize() {
	for _, s := range []string{"4096", "64KiB", "1MiB", "1MB", "1.5MiB"} {
		n, err := config.ParseByteSize(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%s = %d bytes (%v)\n", s, n, n)
	}
	// Output:
	// 4096 = 4096 bytes (4KiB)
	// 64KiB = 65536 bytes (64KiB)
	// 1MiB = 1048576 bytes (1MiB)
	// 1MB = 1000000 bytes (1000000)
	// invalid size "1.5MiB": want bytes or a number with a unit (KiB, MiB, GiB, KB, MB, GB), e.g. "1MiB"
}

// A config file sets what differs from the defaults; an unknown key is an
// error that gives its line and the key that was probably meant.
func ExampleConfig_DecodeYAML() {
	cfg := config.Default(nil)
	err := cfg.DecodeYAML([]byte(`
servers:
  internal:            # a second server, starting from config.DefaultServer
    addr: 127.0.0.1:8081
    protocols: [http1]
websocket:
  readLimt: 64KiB
`))
	fmt.Println(err)
	// Output:
	// config: 1 invalid setting
	//   - websocket.readLimt at line 7: want a known key (did you mean websocket.readLimit?)
}
