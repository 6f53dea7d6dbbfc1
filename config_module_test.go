package lameduck_test

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/bgwork"
	"github.com/lameduck/lameduck/config"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lifecycle"
	"github.com/lameduck/lameduck/setting"
	"github.com/lameduck/lameduck/wsmodule"
)

// cleanEnv removes the LAMEDUCK_* and KUBERNETES_SERVICE_HOST variables of the
// process for the duration of the test, so that it sees only what it sets.
func cleanEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, config.EnvPrefix) || name == "KUBERNETES_SERVICE_HOST" {
			t.Setenv(name, "") // restores the old value after the test
			os.Unsetenv(name)
		}
	}
}

// Module loads every section from the process environment and provides
// each, and the whole Config, to the app.
func TestModuleProvidesEverySection(t *testing.T) {
	cleanEnv(t)
	t.Setenv("LAMEDUCK_STOP_TOTAL", "30s")
	t.Setenv("LAMEDUCK_LOG_FORMAT", "console")
	t.Setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
	var (
		cfg     lameduck.Config
		stop    lifecycle.Settings
		servers httpmodule.Settings
		admin   httpmodule.AdminSettings
		ws      wsmodule.Settings
		tasks   bgwork.Settings
		log     lameduck.LogSettings
	)
	app := fx.New(lameduck.Module, fx.NopLogger, fx.Populate(&cfg, &stop, &servers, &admin, &ws, &tasks, &log))
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	if stop.Total != 30*time.Second || stop.PreStopDelay != lifecycle.DefaultKubernetesPreStopDelay {
		t.Errorf("stop = %+v; want total 30s from the environment and the Kubernetes preStop delay", stop)
	}
	if log.Format != "console" || log.Level != "info" {
		t.Errorf("log = %+v", log)
	}
	if servers[httpmodule.DefaultServerName].Addr != ":8080" || !admin.Enabled || ws.SendQueue != 64 || tasks.WhenFull != bgwork.Wait {
		t.Errorf("sections do not hold the defaults: %+v %+v %+v %+v", servers, admin, ws, tasks)
	}
	if cfg.Stop != stop || cfg.Log != log || !reflect.DeepEqual(cfg.Servers, servers) || cfg.Admin != admin || cfg.Tasks != tasks ||
		!reflect.DeepEqual(cfg.WebSocket, ws) {
		t.Error("sections differ from the whole config")
	}
	want, err := lameduck.LoadProcessConfig()
	if err != nil || !reflect.DeepEqual(cfg, want) {
		t.Errorf("Module's config %+v differs from LoadProcessConfig's %+v (%v)", cfg, want, err)
	}
}

func TestModuleReadsTheFile(t *testing.T) {
	cleanEnv(t)
	t.Setenv(config.EnvFile, strings.TrimPrefix(writeConfig(t, "tasks: {maxRunning: 8}\n"), config.EnvFile+"="))
	var tasks bgwork.Settings
	if err := fx.New(lameduck.Module, fx.NopLogger, fx.Populate(&tasks)).Err(); err != nil {
		t.Fatal(err)
	}
	if tasks.MaxRunning != 8 {
		t.Errorf("tasks.maxRunning = %d, want 8 from the file", tasks.MaxRunning)
	}
}

func TestModuleFailsOnBadEnvironment(t *testing.T) {
	cleanEnv(t)
	t.Setenv("LAMEDUCK_STOP_TOTL", "20s")
	t.Setenv("LAMEDUCK_LOG_LEVEL", "loud")
	var stop lifecycle.Settings
	err := fx.New(lameduck.Module, fx.NopLogger, fx.Populate(&stop)).Err()
	if err == nil {
		t.Fatal("fx.New accepted an unknown variable")
	}
	if !config.IsConfigError(err) {
		t.Errorf("IsConfigError(%v) = false", err)
	}
	for _, want := range []string{
		`LAMEDUCK_STOP_TOTL = "20s": want a known LAMEDUCK_* variable (did you mean LAMEDUCK_STOP_TOTAL?)`,
		`log.level (LAMEDUCK_LOG_LEVEL) = "loud": want "debug", "info", "warn" or "error"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %s:\n%v", want, err)
		}
	}
}

// gaugeSettings are the settings of a module outside lameduck that adds its
// section with config.Provide.
type gaugeSettings struct {
	Buckets int              `yaml:"buckets"`
	Limit   setting.ByteSize `yaml:"limit"`
}

func (g gaugeSettings) Validate() error {
	var c setting.Check
	c.Int("buckets", g.Buckets, 1, 100)
	return c.Err()
}

func defaultGauge([]string) gaugeSettings { return gaugeSettings{Buckets: 10, Limit: setting.KiB} }

// A module of the application adds its section beside lameduck's: its
// variables are known (not reported as unknown), and its problems come
// with lameduck's in one error.
func TestModuleLoadsTheApplicationsSections(t *testing.T) {
	cleanEnv(t)
	t.Setenv("LAMEDUCK_GAUGE_LIMIT", "4KiB")
	t.Setenv("LAMEDUCK_TASKS_QUEUE", "5")
	var g gaugeSettings
	var tasks bgwork.Settings
	if err := fx.New(lameduck.Module, config.Provide("gauge", defaultGauge), fx.NopLogger, fx.Populate(&g, &tasks)).Err(); err != nil {
		t.Fatal(err)
	}
	if g != (gaugeSettings{Buckets: 10, Limit: 4 * setting.KiB}) || tasks.Queue != 5 {
		t.Errorf("gauge %+v, tasks.queue %d", g, tasks.Queue)
	}
	t.Setenv("LAMEDUCK_GAUGE_BUCKETS", "0")
	t.Setenv("LAMEDUCK_LOG_LEVEL", "loud")
	err := fx.New(lameduck.Module, config.Provide("gauge", defaultGauge), fx.NopLogger, fx.Populate(&g)).Err()
	for _, want := range []string{"config: 2 invalid settings", `gauge.buckets (LAMEDUCK_GAUGE_BUCKETS) = "0"`, `log.level (LAMEDUCK_LOG_LEVEL) = "loud"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("fx.New: %v\nwant it to contain %s", err, want)
		}
	}
	// WithConfig supplies lameduck's sections; the others keep their
	// defaults.
	if err := fx.New(lameduck.WithConfig(lameduck.DefaultConfig(nil)), config.Provide("gauge", defaultGauge), fx.NopLogger, fx.Populate(&g)).Err(); err != nil {
		t.Fatal(err)
	}
	if g != defaultGauge(nil) {
		t.Errorf("gauge with WithConfig = %+v, want the defaults", g)
	}
}

func TestWithConfig(t *testing.T) {
	t.Run("valid", func(t *testing.T) {
		cfg := lameduck.DefaultConfig(nil)
		cfg.Tasks.MaxRunning = 3
		var tasks bgwork.Settings
		var whole lameduck.Config
		if err := fx.New(lameduck.WithConfig(cfg), fx.NopLogger, fx.Populate(&tasks, &whole)).Err(); err != nil {
			t.Fatal(err)
		}
		if tasks.MaxRunning != 3 || !reflect.DeepEqual(whole, cfg) {
			t.Errorf("tasks.maxRunning = %d, config %+v; want 3 and the config given", tasks.MaxRunning, whole)
		}
	})
	// The process environment is not read: WithConfig's configuration is
	// the one given.
	t.Run("ignores the environment", func(t *testing.T) {
		cleanEnv(t)
		t.Setenv("LAMEDUCK_TASKS_MAX_RUNNING", "7")
		t.Setenv("LAMEDUCK_NOPE", "1")
		var tasks bgwork.Settings
		if err := fx.New(lameduck.WithConfig(lameduck.DefaultConfig(nil)), fx.NopLogger, fx.Populate(&tasks)).Err(); err != nil {
			t.Fatal(err)
		}
		if tasks.MaxRunning != 1000 {
			t.Errorf("tasks.maxRunning = %d, want the default 1000", tasks.MaxRunning)
		}
	})
	t.Run("invalid fails fx.New with every problem", func(t *testing.T) {
		cfg := lameduck.DefaultConfig(nil)
		cfg.Stop.Shutdown = 30 * time.Second
		cfg.Log.Level = "loud"
		var stop lifecycle.Settings
		err := fx.New(lameduck.WithConfig(cfg), fx.NopLogger, fx.Populate(&stop)).Err()
		if !config.IsConfigError(err) {
			t.Fatalf("want a config error from fx.New, got %v", err)
		}
		for _, want := range []string{
			"config: 2 invalid settings",
			"stop.total (LAMEDUCK_STOP_TOTAL)",
			"raise stop.total to at least 40s",
			`log.level (LAMEDUCK_LOG_LEVEL) = "loud"`,
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error does not contain %q:\n%v", want, err)
			}
		}
	})
}
