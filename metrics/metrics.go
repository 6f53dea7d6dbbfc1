package metrics

import (
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lameduck/lameduck/bgwork"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lifecycle"
	"github.com/lameduck/lameduck/wsmodule"
)

// Values of lameduck_stop_phase besides a running phase's number (1 for
// readiness-off to 6 for final: lifecycle.Phase + 1).
const (
	// PhaseServing: no stop has begun.
	PhaseServing = 0
	// PhaseEnded: the stop has ended (only a registry that outlives the
	// admin server shows it).
	PhaseEnded = 7
)

// Outcomes of a stop, the label outcome of lameduck_stops_total.
const (
	// OutcomeClean: nothing was lost.
	OutcomeClean = "clean"
	// OutcomeForced: a step had to cut or cancel something at its
	// deadline or at a second signal.
	OutcomeForced = "forced"
	// OutcomeFailed: a step failed, panicked or was abandoned.
	OutcomeFailed = "failed"
)

// Live gauges, read at each scrape.
var (
	descRequests = prometheus.NewDesc("lameduck_http_requests_in_flight",
		"Requests in flight on each HTTP server (the admin server's include this scrape).", []string{"server"}, nil)
	descRouteRequests = prometheus.NewDesc("lameduck_http_route_requests_in_flight",
		"Requests in flight on each HTTP server, by route pattern.", []string{"server", "route"}, nil)
	descConns = prometheus.NewDesc("lameduck_http_open_connections",
		`Open connections of each HTTP server, by the protocol of their latest request ("new": none yet); hijacked ones (WebSockets) excluded.`,
		[]string{"server", "protocol"}, nil)
	descAccepted = prometheus.NewDesc("lameduck_http_connections_accepted_total",
		"Connections each HTTP server accepted since it last started.", []string{"server"}, nil)
	descWSConns = prometheus.NewDesc("lameduck_websocket_connections",
		"Open WebSocket connections of each hub.", []string{"hub"}, nil)
	descWSQueued = prometheus.NewDesc("lameduck_websocket_queued_messages",
		"Messages accepted and not yet written, over the connections of each hub.", []string{"hub"}, nil)
	descTasksRunning = prometheus.NewDesc("lameduck_tasks_running",
		"Background tasks running in each pool.", []string{"pool"}, nil)
	descTasksQueued = prometheus.NewDesc("lameduck_tasks_queued",
		"Background tasks taken by each pool and waiting for a free slot.", []string{"pool"}, nil)
	descReady = prometheus.NewDesc("lameduck_ready",
		"1 from the end of start-up until the stop begins, else 0 (/readyz's own checks are not run by a scrape).", nil, nil)
	descSignals = prometheus.NewDesc("lameduck_stop_signals_total",
		"Stop signals (SIGTERM, SIGINT) received.", nil, nil)
)

// Buckets of the stop's histograms, in seconds: from a phase that only
// flips flags to a stop that uses a whole 25s budget and more.
var stopBuckets = [...]float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 25, 30, 45, 60}

// Metrics is lameduck's Prometheus collector: a prometheus.Collector of the
// live gauges and the per-stop series, and a lifecycle.Observer that keeps
// the per-stop series. Create it with [New]; its methods are safe for
// concurrent use.
//
// A scrape is consistent: it reads the stop's series at one instant, then
// the live gauges, so that a gauge is never older than the phase the same
// scrape shows (requests in flight in a scrape that shows the hub-drain
// phase are the ones the shutdown cut).
type Metrics struct {
	routes bool

	mu      sync.Mutex
	servers []*httpmodule.Server
	hubs    []*wsmodule.Hub
	pools   []*bgwork.Pool
	coord   *lifecycle.Coordinator
	seen    map[[2]string]bool // routes seen in flight: reported, 0 when idle
	stop    stopState
}

// stopState is the per-stop series, guarded by Metrics.mu.
type stopState struct {
	phase        float64
	phaseSeconds [len(phaseNames)]histogram
	phases       map[[2]string]float64 // phase, outcome
	cut          map[[2]string]float64 // phase, kind
	stops        map[[2]string]float64 // trigger, outcome
	stopSeconds  histogram
	budget, used float64
	start        time.Time
	outcome      string // of the phases so far
}

var phaseNames = func() (names [6]string) {
	for i, p := range lifecycle.Phases() {
		names[i] = p.String()
	}
	return names
}()

// histogram is a histogram over stopBuckets.
type histogram struct {
	count   uint64
	sum     float64
	buckets [len(stopBuckets)]uint64 // cumulative
}

func (h *histogram) observe(v float64) {
	h.count++
	h.sum += v
	for i, le := range stopBuckets {
		if v <= le {
			h.buckets[i]++
		}
	}
}

func (h *histogram) metric(d *prometheus.Desc, labels ...string) prometheus.Metric {
	b := make(map[float64]uint64, len(stopBuckets))
	for i, le := range stopBuckets {
		b[le] = h.buckets[i]
	}
	return prometheus.MustNewConstHistogram(d, h.count, h.sum, b, labels...)
}

// Per-stop series.
var (
	descPhase = prometheus.NewDesc("lameduck_stop_phase",
		"0 while serving; during the stop, the number of the running phase (1 readiness-off, 2 prestop-delay, 3 shutdown, 4 hub-drain, 5 wait, 6 final); 7 once it ended.", nil, nil)
	descPhaseSeconds = prometheus.NewDesc("lameduck_stop_phase_duration_seconds",
		"Duration of each phase of the stop, observed when the phase ends.", []string{"phase"}, nil)
	descPhases = prometheus.NewDesc("lameduck_stop_phases_total",
		"Phases of the stop that ended, by outcome (completed, cut_short, forced: forced by its deadline or a second signal, lost something or not).",
		[]string{"phase", "outcome"}, nil)
	descCut = prometheus.NewDesc("lameduck_stop_cut_total",
		"What the stop cut off (the stragglers of the report), by phase and kind (request, response, websocket, task, ...).",
		[]string{"phase", "kind"}, nil)
	descStops = prometheus.NewDesc("lameduck_stops_total",
		"Stops that reached the final phase, by what began them and how the drain went (clean, forced, failed), counted when the final phase begins.",
		[]string{"trigger", "outcome"}, nil)
	descStopSeconds = prometheus.NewDesc("lameduck_stop_duration_seconds",
		"Time from the start of the stop to the start of its final phase.", nil, nil)
	descBudget = prometheus.NewDesc("lameduck_stop_budget_seconds",
		"The time the stop is allowed (stop.total, or less when the caller's deadline is earlier); 0 until it begins.", nil, nil)
	descBudgetUsed = prometheus.NewDesc("lameduck_stop_budget_used_ratio",
		"The share of its budget the stop has used, as of the end of its latest phase.", nil, nil)
)

// Option configures [New].
type Option func(*Metrics)

// WithRoutes adds lameduck_http_route_requests_in_flight, the requests in
// flight per server and route pattern. Each scrape asks the server's
// ServeMux for the pattern of every request in flight; a route once seen is
// reported until the process ends (0 when idle), so its series does not
// vanish between requests.
func WithRoutes() Option { return func(m *Metrics) { m.routes = true } }

// New returns the collector of lameduck's metrics. It watches nothing until
// told to ([Metrics.AddServers] and the others); the per-stop series exist
// from the start, at zero, so that increase() and rate() see the step from
// 0 to 1.
func New(opts ...Option) *Metrics {
	m := &Metrics{
		seen: map[[2]string]bool{},
		stop: stopState{
			phases:  map[[2]string]float64{},
			cut:     map[[2]string]float64{},
			stops:   map[[2]string]float64{},
			outcome: OutcomeClean,
		},
	}
	for _, o := range opts {
		o(m)
	}
	for _, p := range phaseNames {
		for _, o := range []lifecycle.PhaseOutcome{lifecycle.PhaseCompleted, lifecycle.PhaseCutShort, lifecycle.PhaseForced} {
			m.stop.phases[[2]string{p, outcomeLabel(o)}] = 0
		}
	}
	for _, p := range []lifecycle.Phase{lifecycle.Shutdown, lifecycle.HubDrain, lifecycle.Wait} {
		for _, kind := range []string{"request", "response", "websocket", "task"} {
			m.stop.cut[[2]string{p.String(), kind}] = 0
		}
	}
	for _, t := range []string{"signal terminated", "signal interrupt", lifecycle.TriggerFxStop, lifecycle.TriggerStopCalled} {
		for _, o := range []string{OutcomeClean, OutcomeForced, OutcomeFailed} {
			m.stop.stops[[2]string{t, o}] = 0
		}
	}
	return m
}

// AddServers makes the collector report the requests and connections of
// servers.
func (m *Metrics) AddServers(servers ...*httpmodule.Server) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.servers = append(m.servers, servers...)
}

// AddHubs makes the collector report the connections and queued messages of
// hubs.
func (m *Metrics) AddHubs(hubs ...*wsmodule.Hub) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hubs = append(m.hubs, hubs...)
}

// AddPools makes the collector report the running and queued tasks of pools.
func (m *Metrics) AddPools(pools ...*bgwork.Pool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pools = append(m.pools, pools...)
}

// AddCoordinator makes the collector report readiness and the stop signals
// of c. (The per-stop series come from the events: register m as an
// observer of c too.)
func (m *Metrics) AddCoordinator(c *lifecycle.Coordinator) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.coord = c
}

// Handler returns a handler that serves the metrics of a registry that
// holds only m. To serve m with other collectors, register m with a
// registry of your own and serve it with promhttp.HandlerFor.
func (m *Metrics) Handler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descConns, descAccepted, descWSConns, descWSQueued,
		descTasksRunning, descTasksQueued, descReady, descSignals,
		descPhase, descPhaseSeconds, descPhases, descCut, descStops, descStopSeconds, descBudget, descBudgetUsed} {
		ch <- d
	}
	if m.routes {
		ch <- descRouteRequests
	}
}

// Collect implements prometheus.Collector: it reads the per-stop series,
// then the live figures of what it watches.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	stop := m.stop.metrics()
	servers, hubs, pools, coord := m.servers, m.hubs, m.pools, m.coord
	m.mu.Unlock()
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	if coord != nil {
		ready := 0
		if coord.Health().Started() && !coord.Health().Stopping() {
			ready = 1
		}
		gauge(descReady, ready)
		ch <- prometheus.MustNewConstMetric(descSignals, prometheus.CounterValue, float64(coord.Signals()))
	}
	for _, s := range servers {
		st := s.Stats()
		name := s.Name()
		gauge(descRequests, st.Requests, name)
		gauge(descConns, st.HTTP1Conns, name, "http1")
		gauge(descConns, st.HTTP2Conns, name, "http2")
		gauge(descConns, st.NewConns, name, "new")
		ch <- prometheus.MustNewConstMetric(descAccepted, prometheus.CounterValue, float64(st.Accepted), name)
		if m.routes {
			m.collectRoutes(ch, s)
		}
	}
	for _, h := range hubs {
		st := h.Stats()
		gauge(descWSConns, st.Active, h.Name())
		gauge(descWSQueued, st.Queued, h.Name())
	}
	for _, p := range pools {
		st := p.Stats()
		gauge(descTasksRunning, int(st.Running), p.Name())
		gauge(descTasksQueued, int(st.Queued), p.Name())
	}
	for _, x := range stop {
		ch <- x
	}
}

// metrics returns the per-stop series as they stand.
func (s *stopState) metrics() []prometheus.Metric {
	out := []prometheus.Metric{
		prometheus.MustNewConstMetric(descPhase, prometheus.GaugeValue, s.phase),
		s.stopSeconds.metric(descStopSeconds),
		prometheus.MustNewConstMetric(descBudget, prometheus.GaugeValue, s.budget),
		prometheus.MustNewConstMetric(descBudgetUsed, prometheus.GaugeValue, s.used),
	}
	for i, p := range phaseNames {
		out = append(out, s.phaseSeconds[i].metric(descPhaseSeconds, p))
	}
	for _, c := range []struct {
		d *prometheus.Desc
		v map[[2]string]float64
	}{{descPhases, s.phases}, {descCut, s.cut}, {descStops, s.stops}} {
		for k, v := range c.v {
			out = append(out, prometheus.MustNewConstMetric(c.d, prometheus.CounterValue, v, k[0], k[1]))
		}
	}
	return out
}

// collectRoutes reports the requests in flight on s per route, with 0 for
// the routes seen before.
func (m *Metrics) collectRoutes(ch chan<- prometheus.Metric, s *httpmodule.Server) {
	byRoute := s.RequestsByRoute()
	m.mu.Lock()
	for route := range byRoute {
		m.seen[[2]string{s.Name(), route}] = true
	}
	var routes []string
	for k := range m.seen {
		if k[0] == s.Name() {
			routes = append(routes, k[1])
		}
	}
	m.mu.Unlock()
	slices.Sort(routes)
	for _, route := range routes {
		ch <- prometheus.MustNewConstMetric(descRouteRequests, prometheus.GaugeValue, float64(byRoute[route]), s.Name(), route)
	}
}

// ObserveStop implements lifecycle.Observer: it keeps the per-stop series.
func (m *Metrics) ObserveStop(e lifecycle.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := &m.stop
	if e.Budget > 0 {
		s.budget = e.Budget.Seconds()
	}
	switch e.Kind {
	case lifecycle.StopBegan:
		s.start = e.Time
	case lifecycle.PhaseStarted:
		s.phase = float64(e.Phase) + 1
		if e.Phase == lifecycle.Final {
			// The last moment a scrape can read it: the final phase
			// stops the admin server.
			s.stops[[2]string{e.Trigger, s.outcome}]++
			s.stopSeconds.observe(e.Time.Sub(s.start).Seconds())
		}
	case lifecycle.PhaseEnded:
		pr := e.PhaseReport
		s.phaseSeconds[e.Phase].observe(pr.Duration.Seconds())
		s.phases[[2]string{e.Phase.String(), outcomeLabel(pr.Outcome)}]++
		for _, st := range pr.Stragglers() {
			s.cut[[2]string{e.Phase.String(), st.Kind}]++
		}
		s.outcome = worse(s.outcome, stepsOutcome(pr.Steps))
		if e.Budget > 0 && !s.start.IsZero() {
			s.used = e.Time.Sub(s.start).Seconds() / e.Budget.Seconds()
		}
	case lifecycle.StopEnded:
		s.phase = PhaseEnded
	}
}

// outcomeLabel is a phase outcome as a label value.
func outcomeLabel(o lifecycle.PhaseOutcome) string {
	if o == lifecycle.PhaseCutShort {
		return "cut_short"
	}
	return string(o)
}

// stepsOutcome is how a phase's steps went, as a stop outcome.
func stepsOutcome(steps []lifecycle.StepReport) string {
	out := OutcomeClean
	for _, s := range steps {
		switch {
		case s.Outcome == lifecycle.StepFailed || s.Outcome == lifecycle.StepPanicked || s.Outcome == lifecycle.StepAbandoned:
			return OutcomeFailed
		case s.Outcome == lifecycle.StepForced || len(s.Stragglers) > 0:
			out = OutcomeForced
		}
	}
	return out
}

// worse returns the worse of two stop outcomes.
func worse(a, b string) string {
	rank := map[string]int{OutcomeClean: 0, OutcomeForced: 1, OutcomeFailed: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}
