package config

import (
	"cmp"
	"slices"

	"go.uber.org/fx"
)

// Environment is the process environment, in os.Environ form, that an Fx
// application's configuration is loaded from: its LAMEDUCK_* variables and
// the file named by LAMEDUCK_CONFIG. An application supplies one; lameduck's
// Module supplies os.Environ().
type Environment []string

// SectionGroup is the Fx value group that collects the [Section] values of
// an application. [Provide] adds to it.
const SectionGroup = "lameduck.config"

// Loaded is provided by [Module] once every section of the application has
// been loaded and validated together.
type Loaded struct{}

// Module loads every [Section] of the Fx value group [SectionGroup] from the
// application's [Environment] at once, so that unknown keys and variables
// are found across all modules and every problem is reported together: a
// bad configuration fails fx.New with one [*Error].
var Module = fx.Module("lameduck.config",
	fx.Provide(func(p struct {
		fx.In
		Env      Environment `optional:"true"`
		Sections []Section   `group:"lameduck.config"`
	}) (Loaded, error) {
		// Fx hands a value group over in random order: sort it, so that
		// the problems come out in the same order every run.
		slices.SortFunc(p.Sections, func(a, b Section) int { return cmp.Compare(a.Key, b.Key) })
		return Loaded{}, Load(p.Env, p.Sections...)
	}),
)

// holder is one application's value of a section of type T.
type holder[T any] struct{ v T }

// Provide adds the section key, settings of type T starting from
// defaults(environ), to an Fx application's configuration, and provides
// the loaded T. A module that owns settings registers them with it:
//
//	config.Provide("grpc", grpcmodule.DefaultSettings)
//
// The application needs [Module] (lameduck's Module includes it). T may
// implement [Validator] and [CrossValidator]; tests change a value with
// fx.Decorate.
func Provide[T any](key string, defaults func(environ []string) T) fx.Option {
	return fx.Options(
		fx.Provide(
			func(p struct {
				fx.In
				Env Environment `optional:"true"`
			}) *holder[T] {
				return &holder[T]{v: defaults(p.Env)}
			},
			fx.Annotate(func(h *holder[T]) Section { return Section{Key: key, Value: &h.v} },
				fx.ResultTags(`group:"lameduck.config"`)),
			func(h *holder[T], _ Loaded) T { return h.v },
		),
	)
}
