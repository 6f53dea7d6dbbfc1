package lifecycle

import (
	"fmt"
	"strings"
	"time"

	"github.com/lameduck/lameduck/setting"
)

// Settings configure the stop sequence: readiness off, preStop delay,
// shutdown, hub drain, wait, final. Every phase runs under one global
// budget, Total; each phase gets min(its cap, time left - Reserve). In the
// configuration file they are the section "stop".
type Settings struct {
	// Total is the whole budget of the stop, from the first signal to the
	// return of the coordinator. It must fit in the pod's
	// terminationGracePeriodSeconds together with Margin.
	Total time.Duration `yaml:"total"`
	// Reserve is kept at the end of the budget: the shutdown, hub-drain and
	// wait phases never use it, so that steps forced at their deadline can
	// close what is left, the final phase (the admin server) can stop and
	// the report can be written.
	Reserve time.Duration `yaml:"reserve"`
	// PreStopDelay is how long the service keeps serving normally after
	// readiness turns off, so that endpoints and load balancers stop sending
	// traffic before the listeners close. Defaults to 5s when running in
	// Kubernetes (KUBERNETES_SERVICE_HOST is set) and 0 elsewhere.
	PreStopDelay time.Duration `yaml:"preStopDelay"`
	// Shutdown caps the shutdown phase: servers stop accepting, in-flight
	// requests finish; at the cap, request contexts are cancelled and
	// connections closed.
	Shutdown time.Duration `yaml:"shutdown"`
	// HubDrain caps the WebSocket drain phase.
	HubDrain time.Duration `yaml:"hubDrain"`
	// Wait caps the phase that waits for background tasks.
	Wait time.Duration `yaml:"wait"`
	// ForceGrace is how long a phase's steps get, after the phase deadline
	// cancelled their context, to force-close and return before the
	// coordinator moves on without them. It is taken from the Reserve.
	ForceGrace time.Duration `yaml:"forceGrace"`
	// Margin is the time kept after the budget for the remaining Fx OnStop
	// hooks (databases, queues), log flushing and process exit. Fx's stop
	// timeout is Total+Margin, and Total+Margin must fit in GracePeriod.
	Margin time.Duration `yaml:"margin"`
	// GracePeriod is the pod's terminationGracePeriodSeconds, passed in by
	// the Deployment (LAMEDUCK_STOP_GRACE_PERIOD="30s"). When set, start-up
	// fails unless Total+Margin fits in it. Zero means unknown: not checked.
	GracePeriod time.Duration `yaml:"gracePeriod"`
}

// DefaultKubernetesPreStopDelay is the preStop delay used when the process
// runs in Kubernetes and none is configured: long enough for the endpoints
// controller, kube-proxy and common ingress controllers to stop routing to
// the pod.
const DefaultKubernetesPreStopDelay = 5 * time.Second

// DefaultSettings returns the stop settings for production on Kubernetes.
// environ is the process environment in os.Environ form; it decides one
// default: the preStop delay is [DefaultKubernetesPreStopDelay] when
// KUBERNETES_SERVICE_HOST is set (the process runs in a pod) and 0
// elsewhere.
func DefaultSettings(environ []string) Settings {
	preStop := time.Duration(0)
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "KUBERNETES_SERVICE_HOST="); ok && v != "" {
			preStop = DefaultKubernetesPreStopDelay
		}
	}
	return Settings{
		Total:        25 * time.Second,
		Reserve:      time.Second,
		PreStopDelay: preStop,
		Shutdown:     10 * time.Second,
		HubDrain:     5 * time.Second,
		Wait:         4 * time.Second,
		ForceGrace:   250 * time.Millisecond,
		Margin:       3 * time.Second,
	}
}

// Limits of [Settings.Validate].
const (
	// MaxTotal is the longest stop budget allowed.
	MaxTotal = time.Hour
	// MinReserve is the smallest reserve allowed: force-closing and the
	// report need some time.
	MinReserve = 100 * time.Millisecond
)

// FxStopTimeout returns the Fx stop timeout that fits s: the budget plus
// the margin for the OnStop hooks that run after the coordinator's.
func (s Settings) FxStopTimeout() time.Duration { return s.Total + s.Margin }

// Validate checks every setting and the rules between them, and returns a
// [*setting.Error] listing every problem, or nil. A rule that depends on a
// bad setting is not checked, so that one mistake is reported once.
func (s Settings) Validate() error {
	var c setting.Check
	c.Duration("total", s.Total, time.Second, MaxTotal)
	totalOK := s.Total >= time.Second && s.Total <= MaxTotal
	if totalOK {
		c.Duration("reserve", s.Reserve, MinReserve, max(s.Total/2, MinReserve))
	} else {
		c.Duration("reserve", s.Reserve, MinReserve, MaxTotal/2)
	}
	reserveOK := s.Reserve >= MinReserve && (!totalOK || s.Reserve <= max(s.Total/2, MinReserve))
	c.Duration("preStopDelay", s.PreStopDelay, 0, MaxTotal)
	c.Duration("shutdown", s.Shutdown, time.Millisecond, MaxTotal)
	c.Duration("hubDrain", s.HubDrain, 0, MaxTotal)
	c.Duration("wait", s.Wait, 0, MaxTotal)
	if reserveOK {
		c.Duration("forceGrace", s.ForceGrace, time.Millisecond, max(s.Reserve/2, time.Millisecond))
	} else {
		c.Duration("forceGrace", s.ForceGrace, time.Millisecond, MaxTotal/4)
	}
	c.Duration("margin", s.Margin, 0, MaxTotal)
	c.Duration("gracePeriod", s.GracePeriod, 0, 24*time.Hour)
	if c.Err() != nil {
		return c.Err() // the rules between settings need valid settings
	}

	phases := s.PreStopDelay + s.Shutdown + s.HubDrain + s.Wait
	if avail := s.Total - s.Reserve; phases > avail {
		c.Add("total", s.Total.String(), fmt.Sprintf(
			"room for the phases: stop.preStopDelay (%v) + stop.shutdown (%v) + stop.hubDrain (%v) + stop.wait (%v) = %v "+
				"exceeds stop.total (%v) - stop.reserve (%v) = %v; raise stop.total to at least %v or shorten the phases by %v",
			s.PreStopDelay, s.Shutdown, s.HubDrain, s.Wait, phases, s.Total, s.Reserve, avail, phases+s.Reserve, phases-avail))
	}
	if s.GracePeriod > 0 && s.Total+s.Margin > s.GracePeriod {
		need := s.Total + s.Margin
		c.Add("gracePeriod", s.GracePeriod.String(), fmt.Sprintf(
			"room for the stop: stop.total (%v) + stop.margin (%v) = %v does not fit in the grace period (%v); "+
				"raise terminationGracePeriodSeconds (and LAMEDUCK_STOP_GRACE_PERIOD) to at least %d, or lower stop.total to %v or less",
			s.Total, s.Margin, need, s.GracePeriod, int((need+time.Second-1)/time.Second), max(s.GracePeriod-s.Margin, 0)))
	}
	return c.Err()
}
