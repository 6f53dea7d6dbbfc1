package lifecycle

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// tightenMargin is kept between a caller's deadline (Fx's stop timeout) and
// the end of the budget, so that the coordinator returns before the caller
// gives up on it.
const tightenMargin = 50 * time.Millisecond

// tighten moves the end of the budget before ctx's deadline. c.mu is held.
func (c *Coordinator) tighten(ctx context.Context) {
	dl, ok := ctx.Deadline()
	if !ok || !dl.Add(-tightenMargin).Before(c.end) {
		return
	}
	c.log.Warn("the caller's stop deadline is shorter than the budget: shrinking the budget; "+
		"give fx.StopTimeout at least stop.total + stop.margin (lameduck.Run does)",
		zap.Duration("budget_left", time.Until(dl.Add(-tightenMargin))), zap.Duration("stop.total", c.cfg.Total))
	c.end = dl.Add(-tightenMargin)
	if c.current != nil {
		c.current.reschedule()
	}
}

// budgetEnd returns the end of the budget.
func (c *Coordinator) budgetEnd() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.end
}

// allot returns how long phase p may run, starting at now: min(its cap,
// time left - reserve). The final phase runs in the reserve: it gets half
// of it, and leaves the force grace. After a second signal (hurried) every
// phase gets at most the force grace, the preStop delay nothing. c.mu is
// held.
func (c *Coordinator) allot(p Phase, nSteps int, now time.Time) time.Duration {
	left := c.end.Sub(now) - c.cfg.Reserve
	var limit time.Duration
	switch p {
	case ReadinessOff:
		limit = c.cfg.ForceGrace // flipping flags takes no time
	case PreStopDelay:
		limit = c.cfg.PreStopDelay
		if c.hurried {
			limit = 0
		}
		if nSteps > 0 {
			limit = max(limit, c.cfg.ForceGrace)
		}
	case Shutdown:
		limit = c.cfg.Shutdown
	case HubDrain:
		limit = c.cfg.HubDrain
	case Wait:
		limit = c.cfg.Wait
	case Final:
		limit = c.cfg.Reserve / 2
		left = c.end.Sub(now) - c.cfg.ForceGrace
	}
	if c.hurried {
		limit = min(limit, c.cfg.ForceGrace)
	}
	return max(0, min(limit, left))
}
