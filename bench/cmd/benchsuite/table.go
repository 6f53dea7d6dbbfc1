package main

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/perf/benchmath"
)

// A metric is one unit a table shows.
type metric struct {
	unit   string // as the benchmark reports it: "ns/op", "lag-µs"
	label  string // the column's header
	format func(float64) string
	ratio  bool // show the ratio to the baseline in the same case
	exact  bool // a count that does not vary (allocs/op): no variation shown
}

// A tableSpec says how to turn a job's results into a table: which
// benchmarks, which sub-benchmark key names the implementations under
// comparison, which of them is the baseline, and which metrics and targets
// to show.
type tableSpec struct {
	title    string
	job      string         // the job whose results it shows
	bench    *regexp.Regexp // benchmark base names
	col      string         // the key naming the implementation: "impl", "lib"
	baseline string         // the value of col measured as the baseline
	order    []string       // values of col in display order; others follow
	metrics  []metric
	targets  []target
	note     string // markdown under the table
}

// A target is a goal, with the reason for it, checked against one row.
type target struct {
	text    string                        // "≤ 2 ms: a stop is as long as its work"
	applies func(cs, impl string) bool    // the rows it is checked on
	check   func(v lookup) (bool, string) // met, and what was measured
}

// ratioTo returns the ratio of vals to base. When both have one value per
// round (the implementation and its baseline ran back to back in the same
// round), it is the median of the per-round ratios, which cancels the drift
// of a shared machine from round to round; those ratios are returned too.
// Otherwise it is the ratio of the medians. It is NaN without a baseline.
func ratioTo(vals, base []float64) (float64, []float64) {
	if len(vals) == 0 || len(base) == 0 {
		return math.NaN(), nil
	}
	if len(vals) == len(base) {
		var rs []float64
		for i := range vals {
			if base[i] == 0 {
				rs = nil
				break
			}
			rs = append(rs, vals[i]/base[i])
		}
		if rs != nil {
			return summarize(rs).center, rs
		}
	}
	b := summarize(base).center
	if b == 0 {
		return math.NaN(), nil
	}
	return summarize(vals).center / b, nil
}

// lookup gives a target the results of the case of the row it checks.
type lookup struct {
	values func(impl, unit string) []float64
}

// median returns the median of unit for implementation impl.
func (l lookup) median(impl, unit string) (float64, bool) {
	vals := l.values(impl, unit)
	if len(vals) == 0 {
		return 0, false
	}
	return summarize(vals).center, true
}

// ratio returns the ratio of impl's unit to base's (see ratioTo).
func (l lookup) ratio(impl, base, unit string) (float64, bool) {
	r, _ := ratioTo(l.values(impl, unit), l.values(base, unit))
	return r, !math.IsNaN(r)
}

// noWorse reports whether impl's unit is no larger than other's, or not
// distinguishable from it: benchstat's test (Mann-Whitney U, p < 0.05)
// finds no significant difference. With fewer than 4 runs on a side that
// test can never find one, so the medians decide. It also says what it
// found.
func (l lookup) noWorse(impl, other, unit string) (bool, string) {
	a, b := l.values(impl, unit), l.values(other, unit)
	if len(a) == 0 || len(b) == 0 {
		return false, "no result"
	}
	ma, mb := summarize(a).center, summarize(b).center
	ratio := formatRatio(ma/mb) + " " + other
	if ma <= mb {
		return true, ratio
	}
	if len(a) < 4 || len(b) < 4 {
		return false, ratio
	}
	c := benchmath.AssumeNothing.Compare(benchmath.NewSample(slices.Clone(a), &benchmath.DefaultThresholds),
		benchmath.NewSample(slices.Clone(b), &benchmath.DefaultThresholds))
	if c.P >= c.Alpha {
		return true, fmt.Sprintf("%s, not a significant difference: p=%.2f, n=%d+%d", ratio, c.P, len(a), len(b))
	}
	return false, fmt.Sprintf("%s, p=%.3f", ratio, c.P)
}

// A row is one implementation in one case.
type row struct {
	cs, impl string
	cells    map[string]cell // by unit
	checks   []checked
}

type cell struct {
	values []float64
	sum    summary
	ratio  float64   // to the baseline; NaN if there is none
	ratios []float64 // per round, when they pair up
}

// checked is a target checked against a row.
type checked struct {
	target   *target
	met      bool
	measured string
}

// A table is a tableSpec filled with results.
type table struct {
	spec *tableSpec
	rows []row
	runs int // the most runs any cell has
}

// buildTable fills spec with rs. It fails if the spec matches nothing, so
// that a renamed benchmark cannot silently drop out of the report.
func buildTable(spec *tableSpec, rs *results) (*table, error) {
	t := &table{spec: spec}
	var cases []string
	impls := map[string][]string{}
	byKey := map[[2]string]map[string][]float64{}
	for _, full := range rs.names {
		n := splitName(full)
		if !spec.bench.MatchString(n.base) {
			continue
		}
		impl, _ := n.value(spec.col)
		cs := n.without(spec.col)
		if !slices.Contains(cases, cs) {
			cases = append(cases, cs)
		}
		if !slices.Contains(impls[cs], impl) {
			impls[cs] = append(impls[cs], impl)
		}
		byKey[[2]string{cs, impl}] = rs.values[full]
	}
	if len(cases) == 0 {
		return nil, fmt.Errorf("table %q: no results of benchmarks matching %s in job %s", spec.title, spec.bench, spec.job)
	}
	rank := func(impl string) int {
		if i := slices.Index(spec.order, impl); i >= 0 {
			return i
		}
		return len(spec.order)
	}
	for _, cs := range cases {
		list := impls[cs]
		slices.SortStableFunc(list, func(a, b string) int { return rank(a) - rank(b) })
		for _, impl := range list {
			r := row{cs: cs, impl: impl, cells: map[string]cell{}}
			for _, m := range spec.metrics {
				vals := byKey[[2]string{cs, impl}][m.unit]
				if len(vals) == 0 {
					continue
				}
				c := cell{values: vals, sum: summarize(vals), ratio: math.NaN()}
				c.ratio, c.ratios = ratioTo(vals, byKey[[2]string{cs, spec.baseline}][m.unit])
				r.cells[m.unit] = c
				t.runs = max(t.runs, len(vals))
			}
			t.rows = append(t.rows, r)
		}
	}
	for i := range t.rows {
		r := &t.rows[i]
		look := lookup{values: func(impl, unit string) []float64 { return byKey[[2]string{r.cs, impl}][unit] }}
		for j := range spec.targets {
			tg := &spec.targets[j]
			if tg.applies(r.cs, r.impl) {
				met, measured := tg.check(look)
				r.checks = append(r.checks, checked{tg, met, measured})
			}
		}
	}
	return t, nil
}

// caseLabel is how a row's case reads in the table: without the benchmark
// base name when every row has the same one.
func (t *table) caseLabel(cs string) string {
	bases := map[string]bool{}
	for _, r := range t.rows {
		bases[strings.SplitN(r.cs, "/", 2)[0]] = true
	}
	if len(bases) > 1 {
		return cs
	}
	_, rest, ok := strings.Cut(cs, "/")
	if !ok {
		return "—"
	}
	return rest
}

// markdown renders the table: one row per implementation and case, each
// metric as "median ±variation", the ratio to the baseline, and the targets
// checked on the row.
func (t *table) markdown() string {
	// Only the metrics some row has: a benchmark may not report them all.
	var metrics []metric
	for _, m := range t.spec.metrics {
		for _, r := range t.rows {
			if _, ok := r.cells[m.unit]; ok {
				metrics = append(metrics, m)
				break
			}
		}
	}
	var b strings.Builder
	hasTargets := false
	for _, r := range t.rows {
		hasTargets = hasTargets || len(r.checks) > 0
	}
	head := []string{"case"}
	if t.spec.col != "" {
		head = append(head, t.spec.col)
	}
	for _, m := range metrics {
		head = append(head, m.label)
		if m.ratio {
			head = append(head, "vs "+t.spec.baseline)
		}
	}
	if hasTargets {
		head = append(head, "target")
	}
	b.WriteString("| " + strings.Join(head, " | ") + " |\n|")
	for range head {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range t.rows {
		cells := []string{t.caseLabel(r.cs)}
		if t.spec.col != "" {
			impl := r.impl
			if impl == t.spec.baseline && impl != "" {
				impl += " (baseline)"
			}
			cells = append(cells, impl)
		}
		for _, m := range metrics {
			c, ok := r.cells[m.unit]
			if !ok {
				cells = append(cells, "—")
				if m.ratio {
					cells = append(cells, "—")
				}
				continue
			}
			v := m.format(c.sum.center)
			if !m.exact && len(c.values) > 1 {
				v += " " + c.sum.variation(c.values)
			}
			cells = append(cells, v)
			if m.ratio {
				r := formatRatio(c.ratio)
				if len(c.ratios) > 1 && r != "1.00×" {
					r += " " + summarize(c.ratios).variation(c.ratios)
				}
				cells = append(cells, r)
			}
		}
		if hasTargets {
			var ts []string
			for _, c := range r.checks {
				verdict := "met"
				if !c.met {
					verdict = "**NOT MET**"
				}
				ts = append(ts, fmt.Sprintf("%s: %s (%s)", c.target.text, verdict, c.measured))
			}
			cells = append(cells, strings.Join(ts, "; "))
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	return b.String()
}

func formatRatio(r float64) string {
	switch {
	case math.IsNaN(r):
		return "—"
	case r < 0.1:
		return fmt.Sprintf("%.2g×", r)
	default:
		return fmt.Sprintf("%.2f×", r)
	}
}

// Formats of values by kind. Durations keep three significant digits.

func fmtNs(v float64) string {
	// Thresholds a little under each power of 1000, so that 999.97 ms,
	// which rounds to 1000, reads as 1.00 s.
	switch a := math.Abs(v); {
	case a >= 999.5e6:
		return sig3(v/1e9) + " s"
	case a >= 999.5e3:
		return sig3(v/1e6) + " ms"
	case a >= 999.5:
		return sig3(v/1e3) + " µs"
	default:
		return sig3(v) + " ns"
	}
}

func fmtUs(v float64) string { return fmtNs(v * 1e3) }
func fmtMs(v float64) string { return fmtNs(v * 1e6) }

func fmtBytes(v float64) string {
	if math.Abs(v) >= 1024 {
		return sig3(v/1024) + " KiB"
	}
	return sig3(v) + " B"
}

func fmtCount(v float64) string { return sig3(v) }

func fmtRate(v float64) string {
	switch {
	case v >= 1e6:
		return sig3(v/1e6) + "M/s"
	case v >= 1e3:
		return sig3(v/1e3) + "k/s"
	default:
		return sig3(v) + "/s"
	}
}

// sig3 formats v with three significant digits, without an exponent.
func sig3(v float64) string {
	v, _ = strconv.ParseFloat(strconv.FormatFloat(v, 'g', 3, 64), 64) // 0.99997 -> 1
	if v == math.Trunc(v) && math.Abs(v) < 1e6 {
		return fmt.Sprintf("%.0f", v)
	}
	switch a := math.Abs(v); {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}
