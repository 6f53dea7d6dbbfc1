package tracing_test

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/lameduck/lameduck/tracing"
)

// gantt draws the spans of one stop as an SVG Gantt chart: one row per span
// (the stop, each phase, each step under its phase), a bar from its start
// to its end on a common time axis, red for a span whose status is an
// error, and a marker with a label for each cut event.
func gantt(spans tracetest.SpanStubs) []byte {
	const (
		width, labelW, rowH, top, right = 1000, 190, 24, 36, 120
	)
	children := map[trace.SpanID][]tracetest.SpanStub{}
	var root tracetest.SpanStub
	for _, s := range spans {
		if !s.Parent.IsValid() {
			root = s
		} else {
			children[s.Parent.SpanID()] = append(children[s.Parent.SpanID()], s)
		}
	}
	type row struct {
		span  tracetest.SpanStub
		depth int
	}
	var rows []row
	var walk func(s tracetest.SpanStub, depth int)
	walk = func(s tracetest.SpanStub, depth int) {
		rows = append(rows, row{s, depth})
		kids := children[s.SpanContext.SpanID()]
		slices.SortFunc(kids, func(a, b tracetest.SpanStub) int {
			if c := a.StartTime.Compare(b.StartTime); c != 0 {
				return c
			}
			return strings.Compare(a.Name, b.Name)
		})
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	walk(root, 0)

	total := root.EndTime.Sub(root.StartTime)
	plotW := float64(width - labelW - right)
	x := func(t time.Time) float64 {
		return labelW + plotW*float64(t.Sub(root.StartTime))/float64(max(total, time.Millisecond))
	}
	var notes []string
	for _, s := range spans {
		for _, ev := range s.Events {
			if ev.Name == tracing.EventCut {
				notes = append(notes, "")
			}
		}
	}
	height := top + rowH*len(rows) + 70 + 18*len(notes)
	notes = notes[:0]

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="8" y="20" font-size="14" font-weight="bold">%s</text>`+"\n",
		html.EscapeString(fmt.Sprintf("One stop as its spans: %s (trigger %q), %v", root.Name, attr(root, tracing.AttrTrigger), total.Round(time.Millisecond))))
	// The time axis: a tick at each round step.
	step := niceStep(total)
	axisY := top + rowH*len(rows) + 8
	for t := time.Duration(0); t <= total; t += step {
		px := x(root.StartTime.Add(t))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", px, top-4, px, axisY)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">+%v</text>`+"\n", px, axisY+14, t)
	}
	for i, r := range rows {
		y := top + i*rowH
		s := r.span
		fill := []string{"#4c72b0", "#55a868", "#8c8c8c"}[min(r.depth, 2)]
		if s.Status.Code == codes.Error {
			fill = "#c44e52"
		}
		x0, x1 := x(s.StartTime), x(s.EndTime)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", 8+14*r.depth, y+15, html.EscapeString(s.Name))
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" rx="2"><title>%s</title></rect>`+"\n",
			x0, y+4, math.Max(x1-x0, 1.5), rowH-8, fill, html.EscapeString(s.Name+": "+s.EndTime.Sub(s.StartTime).String()))
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="#333">%v</text>`+"\n", math.Max(x1, x0+1.5)+4, y+15, roundDur(s.EndTime.Sub(s.StartTime)))
		for _, ev := range s.Events {
			if ev.Name != tracing.EventCut {
				continue
			}
			ex := x(ev.Time)
			fmt.Fprintf(&b, `<path d="M%.1f %d l5 7 l-5 7 l-5 -7 z" fill="white" stroke="#c44e52" stroke-width="1.5"/>`+"\n", ex, y+5)
			label := fmt.Sprintf("cut at +%v by %s:", roundDur(ev.Time.Sub(root.StartTime)), s.Name)
			for _, kv := range ev.Attributes {
				if kv.Key == tracing.AttrCutKind || kv.Key == tracing.AttrCutName {
					label += " " + kv.Value.String()
				}
			}
			notes = append(notes, label)
		}
	}
	// The legend, and what was cut.
	y := axisY + 36
	for i, l := range []struct{ fill, text string }{{"#4c72b0", "the stop"}, {"#55a868", "a phase"}, {"#8c8c8c", "a step"}, {"#c44e52", "did not end cleanly"}} {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n", 8+i*160, y-10, l.fill, 26+i*160, y, l.text)
	}
	for i, n := range notes {
		fmt.Fprintf(&b, `<path d="M%d %d l5 7 l-5 7 l-5 -7 z" fill="white" stroke="#c44e52" stroke-width="1.5"/><text x="%d" y="%d" fill="#c44e52">%s</text>`+"\n",
			13, y+10+i*18, 26, y+22+i*18, html.EscapeString(n))
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// attr returns the value of the span's attribute k, or "".
func attr(s tracetest.SpanStub, k attribute.Key) string {
	for _, kv := range s.Attributes {
		if kv.Key == k {
			return kv.Value.String()
		}
	}
	return ""
}

// niceStep returns a tick interval that gives 5 to 10 ticks over d.
func niceStep(d time.Duration) time.Duration {
	for _, s := range []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
		100 * time.Millisecond, 200 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
		time.Second, 2 * time.Second, 5 * time.Second} {
		if d/s <= 10 {
			return s
		}
	}
	return 10 * time.Second
}

func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
