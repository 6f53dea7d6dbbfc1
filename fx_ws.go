package lameduck

import (
	"fmt"
	"reflect"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lifecycle"
	"github.com/lameduck/lameduck/wsmodule"
)

// HubGroup collects *wsmodule.Hub values: each gets a drain step in the
// hub-drain phase.
const HubGroup = "lameduck.hubs"

// AsHub annotates a constructor that returns a *wsmodule.Hub so that the
// hub joins HubGroup and drains when the application stops. Mount it
// yourself (it is an http.Handler), or use [WebSocketHub], which does both:
//
//	fx.Provide(lameduck.AsHub(func(cfg wsmodule.Settings) (*wsmodule.Hub, error) {
//		return wsmodule.NewHub("feed", cfg)
//	}))
func AsHub(constructor any) any { return inGroup(constructor, HubGroup) }

// wsModule collects the hubs of HubGroup, checks that their names are
// unique, provides them as *wsmodule.Hubs and registers their drain steps.
var wsModule = fx.Module("lameduck.ws",
	fx.Provide(func(p struct {
		fx.In
		Hubs []*wsmodule.Hub `group:"lameduck.hubs"`
	}) (*wsmodule.Hubs, error) {
		return wsmodule.NewHubs(p.Hubs...)
	}),
	fx.Provide(fx.Annotate(func(hs *wsmodule.Hubs) []lifecycle.Step { return hs.Steps() },
		fx.ResultTags(`group:"`+StepGroup+`,flatten"`))),
)

var optionsType = reflect.TypeFor[[]wsmodule.Option]()

// WebSocketHub returns an Fx option that builds a hub named name and mounts
// it at pattern on the named server ("" means the default server).
// newOptions is nil or an Fx constructor that returns the hub's options,
// []wsmodule.Option, and optionally an error; Fx supplies its parameters:
//
//	lameduck.WebSocketHub("chat", "public", "GET /ws/chat", func(room *Room) []wsmodule.Option {
//		return []wsmodule.Option{wsmodule.OnMessage(room.Post)}
//	})
//
// The hub is configured by the "websocket" section and logs with the
// application's *zap.Logger. It is provided as a *wsmodule.Hub named name
// (inject it with `name:"chat"`), joins HubGroup and so drains when the
// application stops, and its handler joins RouteGroup.
func WebSocketHub(name, server, pattern string, newOptions any) fx.Option {
	if name == "" || pattern == "" {
		return fx.Error(fmt.Errorf("lameduck: WebSocketHub(%q, %q, %q): a hub needs a name and a pattern", name, server, pattern))
	}
	optionsName := `name:"lameduck.ws.options.` + name + `"`
	var provideOptions fx.Option
	if newOptions == nil {
		provideOptions = fx.Provide(fx.Annotate(func() []wsmodule.Option { return nil }, fx.ResultTags(optionsName)))
	} else {
		t := reflect.TypeOf(newOptions)
		errType := reflect.TypeFor[error]()
		if t.Kind() != reflect.Func || t.NumOut() < 1 || t.NumOut() > 2 || t.Out(0) != optionsType ||
			(t.NumOut() == 2 && t.Out(1) != errType) {
			return fx.Error(fmt.Errorf("lameduck: WebSocketHub(%q): newOptions is a %v; want a function returning []wsmodule.Option or ([]wsmodule.Option, error)", name, t))
		}
		provideOptions = fx.Provide(fx.Annotate(newOptions, fx.ResultTags(optionsName)))
	}
	hubName := `name:"` + name + `"`
	return fx.Options(
		provideOptions,
		fx.Provide(fx.Annotate(
			func(opts []wsmodule.Option, cfg wsmodule.Settings, log *zap.Logger) (*wsmodule.Hub, error) {
				if log != nil {
					opts = append([]wsmodule.Option{wsmodule.WithLogger(log.Named("wsmodule"))}, opts...)
				}
				return wsmodule.NewHub(name, cfg, opts...)
			},
			fx.ParamTags(optionsName, ``, `optional:"true"`),
			fx.ResultTags(hubName),
		)),
		fx.Provide(fx.Annotate(func(h *wsmodule.Hub) *wsmodule.Hub { return h }, fx.ParamTags(hubName), fx.ResultTags(`group:"`+HubGroup+`"`))),
		fx.Provide(fx.Annotate(func(h *wsmodule.Hub) httpmodule.Route {
			return httpmodule.Route{Server: server, Pattern: pattern, Handler: h, Module: "websocket hub " + name}
		}, fx.ParamTags(hubName), fx.ResultTags(`group:"`+RouteGroup+`"`))),
		fx.Invoke(fx.Annotate(func(hs *wsmodule.Hubs) error {
			if hs == nil {
				return fmt.Errorf("lameduck: WebSocketHub(%q): the app lacks lameduck's modules (lameduck.Module or lameduck.WithConfig), so the hub would never drain", name)
			}
			return nil
		}, fx.ParamTags(`optional:"true"`))),
	)
}
