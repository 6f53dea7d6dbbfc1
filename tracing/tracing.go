package tracing

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/lameduck/lameduck/lifecycle"
)

// ScopeName is the instrumentation scope of the stop's spans.
const ScopeName = "github.com/lameduck/lameduck/tracing"

// Attributes of the stop's spans.
const (
	AttrTrigger    = attribute.Key("lameduck.stop.trigger")     // what began the stop
	AttrBudget     = attribute.Key("lameduck.stop.budget_s")    // the budget, seconds
	AttrBudgetUsed = attribute.Key("lameduck.stop.budget_used") // share of the budget used
	AttrClean      = attribute.Key("lameduck.stop.clean")       // nothing was lost
	AttrSignals    = attribute.Key("lameduck.stop.signals")     // stop signals received
	AttrPhase      = attribute.Key("lameduck.phase")            // the phase's name
	AttrAllotted   = attribute.Key("lameduck.phase.allotted_s") // the phase's time, seconds
	AttrOutcome    = attribute.Key("lameduck.outcome")          // of a phase or a step
	AttrForcedBy   = attribute.Key("lameduck.phase.forced_by")  // deadline, second signal
	AttrShortened  = attribute.Key("lameduck.phase.shortened")  // a second signal came before it
	AttrStep       = attribute.Key("lameduck.step")             // the step's name
	AttrCutKind    = attribute.Key("lameduck.cut.kind")         // request, websocket, task, ...
	AttrCutName    = attribute.Key("lameduck.cut.name")         // route, hub, task name
	AttrCutDetail  = attribute.Key("lameduck.cut.detail")       // server, remote address
	AttrCutAge     = attribute.Key("lameduck.cut.age_s")        // how long it had run, seconds
)

// EventCut is the name of the event, on a step's span, for each thing the
// step cut off.
const EventCut = "cut"

// Observer is a lifecycle.Observer that records the stop as spans of the
// tracer provider it was made with. Create it with [New].
type Observer struct {
	tp     trace.TracerProvider
	tracer trace.Tracer

	mu         sync.Mutex
	ctx        context.Context // holds the stop's span
	stop       trace.Span
	phase      trace.Span
	phaseStart time.Time
}

// New returns an observer that records each stop with tp.
func New(tp trace.TracerProvider) *Observer {
	return &Observer{tp: tp, tracer: tp.Tracer(ScopeName), ctx: context.Background()}
}

// ObserveStop implements lifecycle.Observer.
func (o *Observer) ObserveStop(e lifecycle.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch e.Kind {
	case lifecycle.StopBegan:
		o.ctx, o.stop = o.tracer.Start(context.Background(), "lameduck.stop",
			trace.WithTimestamp(e.Time), trace.WithSpanKind(trace.SpanKindInternal),
			trace.WithAttributes(AttrTrigger.String(e.Trigger), AttrBudget.Float64(e.Budget.Seconds())))
	case lifecycle.PhaseStarted:
		if o.stop == nil {
			return
		}
		_, o.phase = o.tracer.Start(o.ctx, e.Phase.String(), trace.WithTimestamp(e.Time),
			trace.WithAttributes(AttrPhase.String(e.Phase.String()), AttrAllotted.Float64(e.Deadline.Sub(e.Time).Seconds())))
		o.phaseStart = e.Time
	case lifecycle.PhaseEnded:
		if o.phase == nil {
			return
		}
		o.endPhase(e)
	case lifecycle.StopEnded:
		if o.stop == nil {
			return
		}
		r := e.Report
		used := 0.0
		if r.Budget > 0 {
			used = r.Duration.Seconds() / r.Budget.Seconds()
		}
		o.stop.SetAttributes(AttrTrigger.String(r.Trigger), AttrBudget.Float64(r.Budget.Seconds()),
			AttrBudgetUsed.Float64(used), AttrClean.Bool(r.Clean()), AttrSignals.Int(r.Signals))
		if !r.Clean() {
			o.stop.SetStatus(codes.Error, fmt.Sprintf("not clean: %d cut off", len(r.Stragglers())))
		}
		o.stop.End(trace.WithTimestamp(e.Time))
		o.stop = nil
	}
}

// endPhase records the steps of the phase that ended and ends its span.
func (o *Observer) endPhase(e lifecycle.Event) {
	pr := e.PhaseReport
	phaseCtx := trace.ContextWithSpan(o.ctx, o.phase)
	end := o.phaseStart.Add(pr.Duration)
	for _, s := range pr.Steps {
		stepEnd := o.phaseStart.Add(s.Duration)
		_, span := o.tracer.Start(phaseCtx, s.Name, trace.WithTimestamp(o.phaseStart),
			trace.WithAttributes(AttrStep.String(s.Name), AttrOutcome.String(string(s.Outcome))))
		for _, st := range s.Stragglers {
			span.AddEvent(EventCut, trace.WithTimestamp(stepEnd), trace.WithAttributes(
				AttrCutKind.String(st.Kind), AttrCutName.String(st.Name),
				AttrCutDetail.String(st.Detail), AttrCutAge.Float64(st.Age.Seconds())))
		}
		if s.Err != nil {
			span.RecordError(s.Err, trace.WithTimestamp(stepEnd))
			span.SetStatus(codes.Error, s.Err.Error())
		}
		span.End(trace.WithTimestamp(stepEnd))
	}
	o.phase.SetAttributes(AttrOutcome.String(string(pr.Outcome)))
	if pr.ForcedBy != "" {
		o.phase.SetAttributes(AttrForcedBy.String(string(pr.ForcedBy)))
	}
	if pr.Shortened {
		o.phase.SetAttributes(AttrShortened.Bool(true))
	}
	if !pr.Clean() {
		o.phase.SetStatus(codes.Error, "a step did not end cleanly")
	}
	o.phase.End(trace.WithTimestamp(end))
	o.phase = nil
}

// Flush exports the spans the tracer provider holds, if it can be flushed
// (the SDK's *trace.TracerProvider can): call it once the stop has ended
// and before the process exits. It returns when they are exported or ctx
// ends.
func (o *Observer) Flush(ctx context.Context) error {
	if f, ok := o.tp.(interface{ ForceFlush(context.Context) error }); ok {
		if err := f.ForceFlush(ctx); err != nil {
			return fmt.Errorf("tracing: flush the stop's spans: %w", err)
		}
	}
	return nil
}
