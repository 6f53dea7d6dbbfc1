package config

import "go.uber.org/fx"

// Module loads the configuration of the process ([LoadProcess]) and provides
// it to the Fx graph, both whole (Config) and as each section on its own
// (Stop, Servers, Admin, WebSocket, Tasks, Log), so that a module depends only
// on the section it reads. A bad configuration fails fx.New with the list of
// problems.
var Module = fx.Module("lameduck.config",
	fx.Provide(LoadProcess),
	sections,
)

// Supply provides cfg instead of loading one: for tests and for programs
// that build their configuration themselves. cfg is validated first.
func Supply(cfg Config) fx.Option {
	return fx.Module("lameduck.config",
		fx.Provide(func() (Config, error) { return cfg, cfg.Validate() }),
		sections,
	)
}

var sections = fx.Provide(
	func(c Config) Stop { return c.Stop },
	func(c Config) Servers { return c.Servers },
	func(c Config) Admin { return c.Admin },
	func(c Config) WebSocket { return c.WebSocket },
	func(c Config) Tasks { return c.Tasks },
	func(c Config) Log { return c.Log },
)
