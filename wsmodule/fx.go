package wsmodule

import (
	"fmt"
	"reflect"
	"slices"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/lameduck/lameduck/config"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lifecycle"
)

// HubGroup is the Fx value group that collects [*Hub] values. [Module]
// gives every hub in it a drain step in lifecycle.HubDrain.
const HubGroup = "lameduck.hubs"

// AsHub annotates a constructor that returns a *Hub so that the hub joins
// [HubGroup] and drains when the application stops. Mount it yourself
// (for example with [Hub.Route]), or use [Declare], which does both:
//
//	fx.Provide(wsmodule.AsHub(func(cfg config.WebSocket) (*wsmodule.Hub, error) {
//		return wsmodule.NewHub("feed", cfg)
//	}))
func AsHub(constructor any) any {
	return fx.Annotate(constructor, fx.ResultTags(`group:"`+HubGroup+`"`))
}

// Module collects the hubs of [HubGroup], checks that their names are
// unique, provides them as [*Hubs], and adds a drain step ("ws.<name>", phase
// lifecycle.HubDrain) for each to lifecycle.StepGroup. It needs
// lifecycle.Module to run the stop.
var Module = fx.Module("lameduck.wsmodule",
	fx.Provide(newHubs),
	fx.Provide(fx.Annotate(hubSteps, fx.ResultTags(`group:"`+lifecycle.StepGroup+`,flatten"`))),
)

// Hubs is every hub of the application, by name.
type Hubs struct {
	byName map[string]*Hub
	all    []*Hub
}

type hubsParams struct {
	fx.In
	Hubs []*Hub `group:"lameduck.hubs"`
}

func newHubs(p hubsParams) (*Hubs, error) {
	hs := &Hubs{byName: make(map[string]*Hub, len(p.Hubs))}
	for _, h := range p.Hubs {
		if h == nil {
			return nil, fmt.Errorf("wsmodule: a constructor in group %q returned a nil *Hub", HubGroup)
		}
		if _, dup := hs.byName[h.name]; dup {
			return nil, fmt.Errorf("wsmodule: two hubs are named %q: hub names must be unique (they name drain steps and report lines)", h.name)
		}
		hs.byName[h.name] = h
		hs.all = append(hs.all, h)
	}
	slices.SortFunc(hs.all, func(a, b *Hub) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	return hs, nil
}

// Get returns the hub named name.
func (hs *Hubs) Get(name string) (*Hub, bool) {
	h, ok := hs.byName[name]
	return h, ok
}

// All returns every hub, sorted by name.
func (hs *Hubs) All() []*Hub { return slices.Clone(hs.all) }

func hubSteps(hs *Hubs) []lifecycle.Step {
	steps := make([]lifecycle.Step, len(hs.all))
	for i, h := range hs.all {
		steps[i] = h.Step()
	}
	return steps
}

var optionsType = reflect.TypeOf([]Option(nil))

// Declare returns an Fx option that builds a hub named name and mounts it at
// pattern on the named server (a key of config.Servers; "" means the
// default server). newOptions is nil or an Fx constructor that returns the
// hub's options, []Option, and optionally an error; Fx supplies its
// parameters:
//
//	wsmodule.Declare("chat", "public", "GET /ws/chat", func(room *Room) []wsmodule.Option {
//		return []wsmodule.Option{wsmodule.OnMessage(room.Post)}
//	})
//
// The hub is configured by config.WebSocket and logs with the application's
// *zap.Logger if there is one. It is provided as a *Hub named name (inject
// it with `name:"chat"`), joins [HubGroup] and so gets its drain step from
// [Module], and its handler joins httpmodule.RouteGroup. Declare fails at
// fx.New when [Module] is missing, since the hub would then never drain.
func Declare(name, server, pattern string, newOptions any) fx.Option {
	if name == "" || pattern == "" {
		return fx.Error(fmt.Errorf("wsmodule: Declare(%q, %q, %q): a hub needs a name and a pattern", name, server, pattern))
	}
	optionsName := `name:"lameduck.wsmodule.options.` + name + `"`
	var provideOptions fx.Option
	if newOptions == nil {
		provideOptions = fx.Provide(fx.Annotate(func() []Option { return nil }, fx.ResultTags(optionsName)))
	} else {
		t := reflect.TypeOf(newOptions)
		errType := reflect.TypeFor[error]()
		if t.Kind() != reflect.Func || t.NumOut() < 1 || t.NumOut() > 2 || t.Out(0) != optionsType ||
			(t.NumOut() == 2 && t.Out(1) != errType) {
			return fx.Error(fmt.Errorf("wsmodule: Declare(%q): newOptions is a %v; want a function returning []wsmodule.Option or ([]wsmodule.Option, error)", name, t))
		}
		provideOptions = fx.Provide(fx.Annotate(newOptions, fx.ResultTags(optionsName)))
	}
	hubName := `name:"` + name + `"`
	return fx.Options(
		provideOptions,
		fx.Provide(fx.Annotate(
			func(opts []Option, cfg config.WebSocket, log *zap.Logger) (*Hub, error) {
				if log != nil {
					opts = append([]Option{WithLogger(log.Named("wsmodule"))}, opts...)
				}
				return NewHub(name, cfg, opts...)
			},
			fx.ParamTags(optionsName, ``, `optional:"true"`),
			fx.ResultTags(hubName),
		)),
		fx.Provide(fx.Annotate(func(h *Hub) *Hub { return h }, fx.ParamTags(hubName), fx.ResultTags(`group:"`+HubGroup+`"`))),
		fx.Provide(fx.Annotate(func(h *Hub) httpmodule.Route { return h.Route(server, pattern) },
			fx.ParamTags(hubName), fx.ResultTags(`group:"`+httpmodule.RouteGroup+`"`))),
		fx.Invoke(fx.Annotate(func(hs *Hubs) error {
			if hs == nil {
				return fmt.Errorf("wsmodule: hub %q is declared but wsmodule.Module is missing: add it to fx.New, or the hub never drains", name)
			}
			return nil
		}, fx.ParamTags(`optional:"true"`))),
	)
}
