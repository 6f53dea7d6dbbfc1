package wsmodule

import (
	"fmt"
	"strings"

	"github.com/lameduck/lameduck/setting"
)

// check reports every setting of cfg and o that NewHub cannot work with,
// and a missing name: the hub's one check of its settings, [Settings.Validate]
// with its options.
func check(name string, cfg Settings, o hubOptions) error {
	var bad []string
	if name == "" {
		bad = append(bad, "the hub has no name: name it after what it serves (e.g. \"chat\")")
	}
	if probs, ok := setting.Problems(cfg.Validate()); ok {
		for _, p := range probs {
			bad = append(bad, "websocket."+p.String())
		}
	}
	if o.readBuf < minReadBuffer || o.writeBuf < 1 {
		bad = append(bad, fmt.Sprintf("buffer sizes %d (read) and %d (write): want at least %d and 1", o.readBuf, o.writeBuf, minReadBuffer))
	}
	if len(bad) > 0 {
		return fmt.Errorf("wsmodule: hub %q: %s", name, strings.Join(bad, "; "))
	}
	return nil
}
