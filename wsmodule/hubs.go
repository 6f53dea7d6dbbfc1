package wsmodule

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/lameduck/lameduck/lifecycle"
)

// Hubs is every hub of an application, by name.
type Hubs struct {
	byName map[string]*Hub
	all    []*Hub
}

// NewHubs collects hubs, whose names must be unique: they name drain steps
// and report lines.
func NewHubs(hubs ...*Hub) (*Hubs, error) {
	hs := &Hubs{byName: make(map[string]*Hub, len(hubs))}
	for _, h := range hubs {
		if h == nil {
			return nil, fmt.Errorf("wsmodule: NewHubs: a nil *Hub")
		}
		if _, dup := hs.byName[h.name]; dup {
			return nil, fmt.Errorf("wsmodule: two hubs are named %q: hub names must be unique (they name drain steps and report lines)", h.name)
		}
		hs.byName[h.name] = h
		hs.all = append(hs.all, h)
	}
	slices.SortFunc(hs.all, func(a, b *Hub) int { return cmp.Compare(a.name, b.name) })
	return hs, nil
}

// Get returns the hub named name.
func (hs *Hubs) Get(name string) (*Hub, bool) {
	h, ok := hs.byName[name]
	return h, ok
}

// All returns every hub, sorted by name.
func (hs *Hubs) All() []*Hub { return slices.Clone(hs.all) }

// Steps returns the drain step of every hub (see [Hub.Step]).
func (hs *Hubs) Steps() []lifecycle.Step {
	steps := make([]lifecycle.Step, len(hs.all))
	for i, h := range hs.all {
		steps[i] = h.Step()
	}
	return steps
}
