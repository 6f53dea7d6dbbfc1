package kubernetes

import (
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// timelineSVG draws a run second by second from its first rollout: one lane
// per pod (starting, serving, stopping after its deletion, and when
// kube-proxy's rule for it went away), the suite's commands, and a lane of
// failed requests, messages and dials.
func timelineSVG(title string, r *rollRun) string {
	if len(r.events) == 0 {
		return ""
	}
	t0 := r.events[0].T.Add(-2 * time.Second)
	end := r.events[len(r.events)-1].T
	for _, p := range r.pods {
		if p.Exited.After(end) {
			end = p.Exited
		}
	}
	span := end.Sub(t0).Seconds() + 1
	const left, width, lane, top = 150.0, 760.0, 18.0, 40.0
	x := func(t time.Time) float64 {
		s := t.Sub(t0).Seconds()
		return left + width*max(0, min(s, span))/span
	}
	var pods []podRecord
	for _, p := range r.pods {
		if p.App == "starter" {
			pods = append(pods, p)
		}
	}
	height := top + lane*float64(len(pods)+3) + 40
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="11">`+"\n", left+width+20, height+30)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="10" y="18" font-size="13">%s</text>`+"\n", html.EscapeString(title))
	for s := 0; s <= int(span); s += 5 {
		xx := left + width*float64(s)/span
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.1f" y="%.1f" text-anchor="middle" fill="#666">%ds</text>`+"\n",
			xx, top-8, xx, height-30, xx, height-16, s-2)
	}
	seg := func(y float64, from, to time.Time, color, tip string) {
		if from.IsZero() || to.IsZero() || !to.After(from) {
			return
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>`+"\n", x(from), y, max(x(to)-x(from), 1), lane-6, color, html.EscapeString(tip))
	}
	for i, p := range pods {
		y := top + lane*float64(i)
		fmt.Fprintf(&b, `<text x="10" y="%.1f">%s</text>`+"\n", y+lane-8, html.EscapeString(p.Name[max(0, len(p.Name)-16):]))
		stopEnd := p.Exited
		if stopEnd.IsZero() {
			stopEnd = p.Gone
		}
		ready, deleted := p.Ready, p.Deleted
		if deleted.IsZero() {
			deleted = end
		}
		seg(y, p.Running, ready, "#bbb", "starting")
		seg(y, ready, deleted, "#4a8", "serving")
		seg(y, p.Deleted, stopEnd, "#e93", fmt.Sprintf("stopping: deleted to exit %d, %v", p.ExitCode, stopEnd.Sub(p.Deleted).Round(100*time.Millisecond)))
		for _, m := range r.marks[p.Name] {
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="white" stroke-width="1.5"><title>%s</title></line>`+"\n", x(m.T), y+2, x(m.T), y+lane-8, html.EscapeString(m.What))
		}
		if sp, ok := r.ruleSpans[p.Name]; ok && !sp.Gone.IsZero() {
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black" stroke-width="2"><title>kube-proxy rule gone</title></line>`+"\n", x(sp.Gone), y-1, x(sp.Gone), y+lane-5)
		}
	}
	y := top + lane*float64(len(pods))
	fmt.Fprintf(&b, `<text x="10" y="%.1f">failures</text>`+"\n", y+lane-8)
	for _, ft := range r.failureTimes() {
		xx := x(time.Unix(0, ft))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#d22"/>`+"\n", xx, y, xx, y+lane-6)
	}
	y += lane
	for _, e := range r.events {
		xx := x(e.T)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#36c" stroke-dasharray="3,2"/><text x="%.1f" y="%.1f" fill="#36c">%s</text>`+"\n",
			xx, top-8, xx, y+lane, xx+2, y+lane+12, html.EscapeString(strings.TrimPrefix(e.What, "kubectl ")))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#666">grey: starting, green: serving, orange: deleted to exit (white ticks: the stop's phases, from its log),</text>`+"\n", left, height+8)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#666">black tick: kube-proxy stops routing to it, red: a failed request, message or dial</text>`+"\n", left, height+22)
	b.WriteString("</svg>\n")
	return b.String()
}

// writeSVG writes the chart next to the report file, when there is one.
func writeSVG(name, svg string) error {
	path := os.Getenv("LAMEDUCK_K8S_REPORT")
	if path == "" || svg == "" {
		return nil
	}
	return os.WriteFile(filepath.Join(filepath.Dir(fromRoot(path)), name), []byte(svg), 0o644)
}
