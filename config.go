package lameduck

import (
	"os"
	"slices"

	"github.com/lameduck/lameduck/bgwork"
	"github.com/lameduck/lameduck/config"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lifecycle"
	"github.com/lameduck/lameduck/setting"
	"github.com/lameduck/lameduck/wsmodule"
)

// Config is the configuration of every lameduck module, one section each,
// as the YAML file and the LAMEDUCK_* variables name them. Each section is
// its module's own settings type, with its defaults and its Validate.
type Config struct {
	// Stop is the ordered stop sequence and its time budget.
	Stop lifecycle.Settings `yaml:"stop"`
	// Servers are the named HTTP servers that serve application routes.
	Servers httpmodule.Settings `yaml:"servers"`
	// Admin is the server for health probes and, if enabled, pprof.
	Admin httpmodule.AdminSettings `yaml:"admin"`
	// WebSocket configures the upgrader and every hub.
	WebSocket wsmodule.Settings `yaml:"websocket"`
	// Tasks configures the background-task pool.
	Tasks bgwork.Settings `yaml:"tasks"`
	// Log configures the zap logger.
	Log LogSettings `yaml:"log"`
}

// DefaultConfig returns every module's defaults, right for production on
// Kubernetes. environ is the process environment in os.Environ form; it
// decides one default: the preStop delay is 5s when KUBERNETES_SERVICE_HOST
// is set (the process runs in a pod) and 0 elsewhere.
func DefaultConfig(environ []string) Config {
	return Config{
		Stop:      lifecycle.DefaultSettings(environ),
		Servers:   httpmodule.DefaultSettings(environ),
		Admin:     httpmodule.DefaultAdminSettings(environ),
		WebSocket: wsmodule.DefaultSettings(environ),
		Tasks:     bgwork.DefaultSettings(environ),
		Log:       DefaultLogSettings(environ),
	}
}

// LoadConfig returns the defaults overlaid with the YAML file named by
// LAMEDUCK_CONFIG and the LAMEDUCK_* variables of environ (os.Environ form),
// validated; the error, a *config.Error, lists every problem at once. See
// config.Load.
func LoadConfig(environ []string) (Config, error) {
	cfg := DefaultConfig(environ)
	if err := config.Load(environ, cfg.Sections()...); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// LoadProcessConfig is LoadConfig with the environment of the process.
func LoadProcessConfig() (Config, error) { return LoadConfig(os.Environ()) }

// Sections returns c's sections for config.Load and config.Keys; loading
// them overwrites c.
func (c *Config) Sections() []config.Section {
	return []config.Section{
		{Key: "stop", Value: &c.Stop},
		{Key: "servers", Value: &c.Servers},
		{Key: "admin", Value: &c.Admin},
		{Key: "websocket", Value: &c.WebSocket},
		{Key: "tasks", Value: &c.Tasks},
		{Key: "log", Value: &c.Log},
	}
}

// Validate checks every section, and the rules between them, as
// config.Load does; the error is a *config.Error with every problem.
func (c Config) Validate() error {
	// Loading from an empty environment changes nothing and validates.
	return config.Load(nil, c.Sections()...)
}

// LogSettings configure the zap logger ([NewLogger]). In the configuration
// file they are the section "log".
type LogSettings struct {
	// Level is the minimum level: debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is "json" (for log collectors) or "console" (for people).
	Format string `yaml:"format"`
}

// DefaultLogSettings returns JSON logs at info level. environ is unused.
func DefaultLogSettings(environ []string) LogSettings {
	return LogSettings{Level: "info", Format: "json"}
}

// Validate checks the level and the format.
func (l LogSettings) Validate() error {
	var c setting.Check
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, l.Level) {
		c.Add("level", l.Level, `"debug", "info", "warn" or "error"`)
	}
	if l.Format != "json" && l.Format != "console" {
		c.Add("format", l.Format, `"json" or "console"`)
	}
	return c.Err()
}
