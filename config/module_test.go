package config_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/lameduck/lameduck/config"
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

func TestModuleProvidesEverySection(t *testing.T) {
	cleanEnv(t)
	t.Setenv("LAMEDUCK_STOP_TOTAL", "30s")
	t.Setenv("LAMEDUCK_LOG_FORMAT", "console")
	t.Setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
	var (
		cfg     config.Config
		stop    config.Stop
		servers config.Servers
		admin   config.Admin
		ws      config.WebSocket
		tasks   config.Tasks
		log     config.Log
	)
	app := fx.New(fx.NopLogger, config.Module, fx.Populate(&cfg, &stop, &servers, &admin, &ws, &tasks, &log))
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	if stop.Total != 30*time.Second || stop.PreStopDelay != config.DefaultKubernetesPreStopDelay {
		t.Errorf("stop = %+v; want total 30s from the environment and the Kubernetes preStop delay", stop)
	}
	if log.Format != "console" || log.Level != "info" {
		t.Errorf("log = %+v", log)
	}
	if servers[config.DefaultServerName].Addr != ":8080" || !admin.Enabled || ws.SendQueue != 64 || tasks.WhenFull != config.Wait {
		t.Errorf("sections do not hold the defaults: %+v %+v %+v %+v", servers, admin, ws, tasks)
	}
	if cfg.Stop != stop || cfg.Log != log {
		t.Error("sections differ from the whole config")
	}
}

func TestModuleReadsTheFile(t *testing.T) {
	cleanEnv(t)
	path := t.TempDir() + "/lameduck.yaml"
	if err := os.WriteFile(path, []byte("tasks: {maxRunning: 8}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(config.EnvFile, path)
	var tasks config.Tasks
	if err := fx.New(fx.NopLogger, config.Module, fx.Populate(&tasks)).Err(); err != nil {
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
	var stop config.Stop
	err := fx.New(fx.NopLogger, config.Module, fx.Populate(&stop)).Err()
	if err == nil {
		t.Fatal("fx.New accepted an unknown variable")
	}
	if !config.IsConfigError(err) {
		t.Errorf("IsConfigError(%v) = false", err)
	}
	if !strings.Contains(err.Error(), "LAMEDUCK_STOP_TOTL") || !strings.Contains(err.Error(), "did you mean LAMEDUCK_STOP_TOTAL?") {
		t.Errorf("error does not name the variable and the fix:\n%v", err)
	}
}

func TestSupply(t *testing.T) {
	t.Run("valid", func(t *testing.T) {
		cfg := config.Default(nil)
		cfg.Tasks.MaxRunning = 3
		var tasks config.Tasks
		if err := fx.New(fx.NopLogger, config.Supply(cfg), fx.Populate(&tasks)).Err(); err != nil {
			t.Fatal(err)
		}
		if tasks.MaxRunning != 3 {
			t.Errorf("tasks.maxRunning = %d, want 3", tasks.MaxRunning)
		}
	})
	t.Run("invalid fails fx.New with every problem", func(t *testing.T) {
		cfg := config.Default(nil)
		cfg.Stop.Shutdown = 30 * time.Second
		cfg.Log.Level = "loud"
		var stop config.Stop
		err := fx.New(fx.NopLogger, config.Supply(cfg), fx.Populate(&stop)).Err()
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
