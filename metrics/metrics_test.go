package metrics_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lameduck/lameduck/lifecycle"
	"github.com/lameduck/lameduck/metrics"
)

// cutter is a step that cuts two requests at its deadline.
type cutter struct{}

func (cutter) Stop(ctx context.Context) error {
	<-ctx.Done()
	return errors.New("2 request(s) cut off")
}

func (cutter) Stragglers() []lifecycle.Straggler {
	return []lifecycle.Straggler{{Kind: "request", Name: "GET /slow"}, {Kind: "request", Name: "GET /slower"}}
}

// A stop forced by its deadline is counted as forced, with what it cut by
// phase and kind, its phases' durations, and the share of its budget used.
func TestForcedStopIsCountedWithWhatItCut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := lifecycle.DefaultSettings(nil)
		cfg.PreStopDelay, cfg.Shutdown = 0, 2*time.Second
		m := metrics.New()
		c := lifecycle.New(cfg, lifecycle.WithObservers(m))
		m.AddCoordinator(c)
		if err := c.Register(lifecycle.Step{Phase: lifecycle.Shutdown, Name: "http.public", Stopper: cutter{}}); err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(m)
		if got := gauge(t, reg, "lameduck_stop_phase", ""); got != metrics.PhaseServing {
			t.Errorf("lameduck_stop_phase before the stop = %v", got)
		}
		c.Interrupt("signal terminated")
		<-c.Done()

		for _, want := range []struct {
			name, labels string
			value        float64
		}{
			{"lameduck_stop_phase", "", metrics.PhaseEnded},
			{"lameduck_stop_signals_total", "", 1},
			{"lameduck_ready", "", 0},
			{"lameduck_stop_cut_total", `kind="request",phase="shutdown"`, 2},
			{"lameduck_stop_cut_total", `kind="task",phase="wait"`, 0},
			{"lameduck_stop_phases_total", `outcome="forced",phase="shutdown"`, 1},
			{"lameduck_stop_phases_total", `outcome="completed",phase="shutdown"`, 0},
			{"lameduck_stop_phases_total", `outcome="completed",phase="wait"`, 1},
			{"lameduck_stops_total", `outcome="forced",trigger="signal terminated"`, 1},
			{"lameduck_stops_total", `outcome="clean",trigger="signal terminated"`, 0},
			{"lameduck_stop_budget_seconds", "", cfg.Total.Seconds()},
			// The shutdown's 2s (the step returns at its deadline) of the
			// 25s budget.
			{"lameduck_stop_budget_used_ratio", "", (2 * time.Second).Seconds() / cfg.Total.Seconds()},
		} {
			if got := gauge(t, reg, want.name, want.labels); got != want.value {
				t.Errorf("%s{%s} = %v, want %v", want.name, want.labels, got, want.value)
			}
		}
		if got := histogramSum(t, reg, "lameduck_stop_phase_duration_seconds", `phase="shutdown"`); got != 2 {
			t.Errorf("shutdown phase duration = %vs, want its 2s deadline", got)
		}
		if got := histogramSum(t, reg, "lameduck_stop_duration_seconds", ""); got != 2 {
			t.Errorf("stop duration up to the final phase = %vs", got)
		}
	})
}

// gauge returns the value of the series name{labels} (labels sorted, as the
// text format writes them) of a counter or gauge.
func gauge(t *testing.T, g prometheus.Gatherer, name, labels string) float64 {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+`="`+l.GetValue()+`"`)
			}
			if strings.Join(ls, ",") != labels {
				continue
			}
			if m.Gauge != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no series %s{%s}", name, labels)
	return 0
}

// histogramSum returns the sum of the histogram name{labels}.
func histogramSum(t *testing.T, g prometheus.Gatherer, name, labels string) float64 {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+`="`+l.GetValue()+`"`)
			}
			if f.GetName() == name && strings.Join(ls, ",") == labels {
				return m.GetHistogram().GetSampleSum()
			}
		}
	}
	t.Fatalf("no histogram %s{%s}", name, labels)
	return 0
}

// The collector passes the registry's own consistency checks (descriptions
// match the metrics, no duplicate series).
func TestCollectorIsConsistent(t *testing.T) {
	m := metrics.New(metrics.WithRoutes())
	if problems, err := testutil.CollectAndLint(m); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}
