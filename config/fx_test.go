package config_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/lameduck/lameduck/config"
	"github.com/lameduck/lameduck/setting"
)

type queueSettings struct {
	Workers int           `yaml:"workers"`
	Timeout time.Duration `yaml:"timeout"`
}

func (q queueSettings) Validate() error {
	var c setting.Check
	c.Int("workers", q.Workers, 1, 64)
	return c.Err()
}

func defaultQueue(environ []string) queueSettings {
	return queueSettings{Workers: 4, Timeout: time.Second}
}

type cacheSettings struct {
	Size setting.ByteSize `yaml:"size"`
}

func defaultCache([]string) cacheSettings { return cacheSettings{Size: setting.MiB} }

// Each module adds its section with Provide; Module loads them all at once
// from the application's Environment and provides each loaded value.
func TestProvideLoadsEverySectionTogether(t *testing.T) {
	var q queueSettings
	var c cacheSettings
	app := fx.New(fx.NopLogger,
		fx.Supply(config.Environment{"LAMEDUCK_QUEUE_WORKERS=8", "LAMEDUCK_CACHE_SIZE=4MiB"}),
		config.Module, config.Provide("queue", defaultQueue), config.Provide("cache", defaultCache),
		fx.Populate(&q, &c))
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	if q != (queueSettings{Workers: 8, Timeout: time.Second}) || c.Size != 4*setting.MiB {
		t.Errorf("loaded %+v %+v", q, c)
	}
}

// A bad configuration fails fx.New with every problem of every section, an
// unknown variable among them.
func TestProvideFailsWithEveryProblem(t *testing.T) {
	app := fx.New(fx.NopLogger,
		fx.Supply(config.Environment{"LAMEDUCK_QUEUE_WORKERS=0", "LAMEDUCK_CACHE_SIZE=big", "LAMEDUCK_CACHE_SIZ=1"}),
		config.Module, config.Provide("queue", defaultQueue), config.Provide("cache", defaultCache),
		fx.Invoke(func(queueSettings, cacheSettings) {}))
	err := app.Err()
	for _, want := range []string{"queue.workers (LAMEDUCK_QUEUE_WORKERS)", "cache.size (LAMEDUCK_CACHE_SIZE)", "did you mean LAMEDUCK_CACHE_SIZE?"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("fx.New: %v\nwant it to mention %s", err, want)
		}
	}
	if !config.IsConfigError(err) {
		t.Errorf("fx.New's error does not wrap a *config.Error: %v", err)
	}
}

// Load without Fx: a module's settings, its defaults, the environment.
func ExampleLoad() {
	q := defaultQueue(nil)
	err := config.Load([]string{"LAMEDUCK_QUEUE_TIMEOUT=250ms", "LAMEDUCK_QUEUE_WORKERS=100"},
		config.Section{Key: "queue", Value: &q})
	fmt.Println(err)
	fmt.Println(q.Timeout)
	// Output:
	// config: 1 invalid setting
	//   - queue.workers (LAMEDUCK_QUEUE_WORKERS) = "100": want an integer from 1 to 64
	// 250ms
}
