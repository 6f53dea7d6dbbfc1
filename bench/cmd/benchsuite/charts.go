package main

import (
	"bytes"
	"cmp"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// The charts are drawn from the same results as the tables, with
// gonum.org/v1/plot, and written as SVG.

// series is one line of a chart: points in the order of x.
type series struct {
	name string
	pts  plotter.XYs
}

// median returns the median of unit in the results of benchmark full.
func (rs *results) median(full, unit string) (float64, bool) {
	vals := rs.values[full][unit]
	if len(vals) == 0 {
		return 0, false
	}
	return summarize(vals).center, true
}

// seriesBy groups the benchmarks of rs whose base is bench into one series
// per value of col, with x and y read from the medians of xOf and yOf.
func seriesBy(rs *results, bench, col string, order []string, xOf, yOf func(full string, n benchName) (float64, bool)) []series {
	var out []series
	index := map[string]int{}
	for _, full := range rs.names {
		n := splitName(full)
		if n.base != bench {
			continue
		}
		impl, _ := n.value(col)
		x, ok1 := xOf(full, n)
		y, ok2 := yOf(full, n)
		if !ok1 || !ok2 {
			continue
		}
		i, ok := index[impl]
		if !ok {
			i = len(out)
			index[impl] = i
			out = append(out, series{name: impl})
		}
		out[i].pts = append(out[i].pts, plotter.XY{X: x, Y: y})
	}
	for i := range out {
		slices.SortFunc(out[i].pts, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
	}
	rank := func(s series) int {
		if i := slices.Index(order, s.name); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.SortStableFunc(out, func(a, b series) int { return rank(a) - rank(b) })
	return out
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	return p
}

// addLines adds each series as a line with points, in the colours and
// shapes of plotutil.
func addLines(p *plot.Plot, ss []series, label func(string) string) error {
	for i, s := range ss {
		l, pts, err := plotter.NewLinePoints(s.pts)
		if err != nil {
			return err
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.5)
		pts.Color = plotutil.Color(i)
		pts.Shape = plotutil.Shape(i)
		p.Add(l, pts)
		p.Legend.Add(label(s.name), l, pts)
	}
	return nil
}

// staircaseChart draws when the shutdown returns against when the last
// request ends: plain Shutdown's staircase next to lameduck's line.
func staircaseChart(rs *results, file string) error {
	at := func(unit string) func(string, benchName) (float64, bool) {
		return func(full string, _ benchName) (float64, bool) { return rs.median(full, unit) }
	}
	ss := seriesBy(rs, "ShutdownStaircase", "impl", []string{"lameduck", "plain"}, at("end-ms"), at("return-ms"))
	if len(ss) == 0 {
		return fmt.Errorf("%s: no ShutdownStaircase results", file)
	}
	p := newPlot("Shutdown return vs end of the last request", "last request ends (ms after the shutdown began)",
		"shutdown returns (ms after it began)")
	maxX := 0.0
	for _, s := range ss {
		maxX = max(maxX, s.pts[len(s.pts)-1].X)
	}
	ideal, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: maxX, Y: maxX}})
	if err != nil {
		return err
	}
	ideal.Color = color.Gray{Y: 160}
	ideal.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(ideal)
	p.Legend.Add("the request's end", ideal)
	if err := addLines(p, ss, func(impl string) string {
		return map[string]string{"lameduck": "lameduck server", "plain": "plain http.Server.Shutdown"}[impl]
	}); err != nil {
		return err
	}
	return save(p, file, 7, 4.5)
}

// drainChart draws the WebSocket drain time against the number of clients.
func drainChart(rs *results, file string) error {
	clients := func(_ string, n benchName) (float64, bool) {
		v, ok := n.value("clients")
		x, err := strconv.ParseFloat(v, 64)
		return x, ok && err == nil
	}
	drainMs := func(full string, _ benchName) (float64, bool) {
		v, ok := rs.median(full, "ns/op")
		return v / 1e6, ok
	}
	ss := seriesBy(rs, "Drain", "hub", []string{"lameduck", "naive"}, clients, drainMs)
	if len(ss) == 0 {
		return fmt.Errorf("%s: no Drain results", file)
	}
	p := newPlot("WebSocket drain: every close handshake complete", "connected clients", "drain time (ms)")
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	if err := addLines(p, ss, func(hub string) string {
		return map[string]string{"lameduck": "wsmodule Hub.Stop", "naive": "serial close frames + 200 ms poll"}[hub]
	}); err != nil {
		return err
	}
	return save(p, file, 6, 4)
}

// poolChart draws ns/task by library, one panel per workload.
func poolChart(jobs map[string]*results, file string) error {
	type panel struct{ job, bench, title string }
	panels := []panel{
		{"pool-empty", "Empty/limit=0", "(a) empty tasks, unbounded"},
		{"pool-empty", "Empty/limit=8", "(a) empty tasks, limit 8"},
		{"pool-sleep", "Sleep/limit=100", "(b) 1 ms sleeps, limit 100"},
		{"pool-cpu", "CPU/limit=GOMAXPROCS", "(c) 1 µs CPU tasks, limit GOMAXPROCS"},
	}
	// The libraries in the tables' order, then any other a benchmark has.
	libs := []string{"bgwork", "goroutines+WaitGroup", "errgroup", "conc", "ants", "pond"}
	for _, pn := range panels {
		if rs := jobs[pn.job]; rs != nil {
			for _, full := range rs.names {
				if l, ok := splitName(full).value("lib"); ok && !slices.Contains(libs, l) {
					libs = append(libs, l)
				}
			}
		}
	}
	var plots [][]*plot.Plot
	for i, pn := range panels {
		rs := jobs[pn.job]
		if rs == nil {
			return fmt.Errorf("%s: no results of %s", file, pn.job)
		}
		var vals []float64
		var names []string
		for _, lib := range libs {
			for _, full := range rs.names {
				n := splitName(full)
				if l, _ := n.value("lib"); l == lib && n.without("lib") == pn.bench {
					if v, ok := rs.median(full, "ns/op"); ok {
						vals = append(vals, v)
						names = append(names, lib)
					}
				}
			}
		}
		if len(vals) == 0 {
			return fmt.Errorf("%s: no results for %s", file, pn.bench)
		}
		p := plot.New()
		p.Title.Text = pn.title
		p.X.Label.Text = "time per task (lower is better)"
		p.X.Tick.Marker = nsTicks{}
		p.Add(plotter.NewGrid())
		// The first library at the top: bars from the bottom up.
		var labels plotter.XYLabels
		ylabels := make([]string, len(vals))
		for k := range vals {
			at := len(vals) - 1 - k
			bar, err := plotter.NewBarChart(plotter.Values{vals[k]}, vg.Points(14))
			if err != nil {
				return err
			}
			bar.Horizontal = true
			bar.XMin = float64(at)
			bar.LineStyle.Width = 0
			bar.Color = plotutil.Color(1)
			if strings.HasPrefix(names[k], "bgwork") {
				bar.Color = plotutil.Color(0)
			}
			p.Add(bar)
			ylabels[at] = names[k]
			labels.XYs = append(labels.XYs, plotter.XY{X: vals[k], Y: float64(at)})
			labels.Labels = append(labels.Labels, " "+fmtNs(vals[k]))
		}
		l, err := plotter.NewLabels(labels)
		if err != nil {
			return err
		}
		for k := range l.TextStyle {
			l.TextStyle[k].YAlign = draw.YCenter
		}
		p.Add(l)
		p.NominalY(ylabels...)
		p.X.Min = 0
		p.X.Max = slices.Max(vals) * 1.3
		if i%2 == 0 {
			plots = append(plots, nil)
		}
		plots[len(plots)-1] = append(plots[len(plots)-1], p)
	}
	tiles := draw.Tiles{Rows: len(plots), Cols: 2, PadX: vg.Points(20), PadY: vg.Points(20),
		PadTop: vg.Points(8), PadBottom: vg.Points(8), PadLeft: vg.Points(8), PadRight: vg.Points(8)}
	return render(file, 10*vg.Inch, 6*vg.Inch, func(dc draw.Canvas) {
		canvases := plot.Align(plots, tiles, dc)
		for i := range plots {
			for j := range plots[i] {
				plots[i][j].Draw(canvases[i][j])
			}
		}
	})
}

// pngHook, if set, is called with every chart drawn, so that a test can
// also draw it as PNG to look at.
var pngHook func(file string, w, h vg.Length, paint func(draw.Canvas))

// render draws paint on an SVG canvas of w × h and writes it to file.
func render(file string, w, h vg.Length, paint func(draw.Canvas)) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	c := vgsvg.New(w, h)
	paint(draw.New(c))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return fmt.Errorf("chart %s: %w", file, err)
	}
	if pngHook != nil {
		pngHook(file, w, h, paint)
	}
	return os.WriteFile(file, b.Bytes(), 0o644)
}

func save(p *plot.Plot, file string, w, h float64) error {
	return render(file, vg.Length(w)*vg.Inch, vg.Length(h)*vg.Inch, p.Draw)
}

// nsTicks marks an axis of nanoseconds with readable durations.
type nsTicks struct{}

func (nsTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = fmtNs(ts[i].Value)
		}
	}
	return ts
}
