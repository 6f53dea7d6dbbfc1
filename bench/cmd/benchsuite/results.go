package main

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchmath"
)

// results holds every measurement of one job, in the Go benchmark format's
// terms: benchmark name -> unit -> one value per run.
type results struct {
	names  []string // in order of first appearance
	values map[string]map[string][]float64
}

// parseResults reads the Go benchmark format (the output of go test -bench,
// or lines the suite writes in the same format) with benchfmt, the reader
// benchstat uses.
func parseResults(data []byte, file string) (*results, error) {
	rs := &results{values: map[string]map[string][]float64{}}
	r := benchfmt.NewReader(bytes.NewReader(data), file)
	for r.Scan() {
		switch rec := r.Result(); rec := rec.(type) {
		case *benchfmt.Result:
			name := string(rec.Name.Full())
			units := rs.values[name]
			if units == nil {
				units = map[string][]float64{}
				rs.values[name] = units
				rs.names = append(rs.names, name)
			}
			for _, v := range rec.Values {
				// Keep the units as the benchmarks report them
				// ("ns/op", not benchfmt's tidied "sec/op").
				unit, value := v.Unit, v.Value
				if v.OrigUnit != "" {
					unit, value = v.OrigUnit, v.OrigValue
				}
				units[unit] = append(units[unit], value)
			}
		case *benchfmt.SyntaxError:
			return nil, rec
		}
	}
	return rs, r.Err()
}

// benchName is a benchmark name split into its base and its sub-benchmark
// parts. Parts of the form key=value are configuration; the suite reads
// one key as the implementation under comparison.
type benchName struct {
	base  string
	parts []string // without the leading '/' and the -GOMAXPROCS suffix
}

func splitName(full string) benchName {
	base, parts := benchfmt.Name(full).Parts()
	n := benchName{base: string(base)}
	for _, p := range parts {
		if p[0] == '/' {
			n.parts = append(n.parts, string(p[1:]))
		}
	}
	return n
}

// value returns the value of key, if a part is key=value.
func (n benchName) value(key string) (string, bool) {
	for _, p := range n.parts {
		if k, v, ok := strings.Cut(p, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// without returns the name without the part for key: the case that
// implementations are compared on.
func (n benchName) without(key string) string {
	out := []string{n.base}
	for _, p := range n.parts {
		if k, _, ok := strings.Cut(p, "="); !ok || k != key {
			out = append(out, p)
		}
	}
	return strings.Join(out, "/")
}

// summary is the median of a sample with its confidence interval, computed
// as benchstat computes it (benchmath.AssumeNothing: order statistics, no
// assumption about the distribution).
type summary struct {
	n      int
	center float64
	lo, hi float64
}

func summarize(values []float64) summary {
	s := benchmath.AssumeNothing.Summary(benchmath.NewSample(slices.Clone(values), &benchmath.DefaultThresholds), 0.95)
	return summary{n: len(values), center: s.Center, lo: s.Lo, hi: s.Hi}
}

// variation is benchstat's "±": the larger distance from the median to an
// end of the 95% confidence interval, in percent of the median. With fewer
// than 6 runs there is no such interval; variation then gives the spread
// of the runs (max-min over the median) marked as such.
func (s summary) variation(values []float64) string {
	if s.center == 0 {
		return "±0%"
	}
	if math.IsInf(s.lo, 0) || math.IsInf(s.hi, 0) {
		if len(values) < 2 {
			return "(1 run)"
		}
		spread := (slices.Max(values) - slices.Min(values)) / math.Abs(s.center)
		return fmt.Sprintf("spread %.0f%% (n=%d)", 100*spread, len(values))
	}
	v := math.Max(s.hi/s.center-1, 1-s.lo/s.center)
	return fmt.Sprintf("±%.0f%%", 100*math.Abs(v))
}
