package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const wrkOutput = `Running 1s test @ http://127.0.0.1:42593/hello
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   142.78us  317.96us   5.06ms   94.60%
    Req/Sec    39.56k     4.48k   43.75k    81.82%
  Latency Distribution
     50%   74.00us
     75%   88.00us
     90%  149.00us
     99%    1.81ms
  43300 requests in 1.10s, 4.75MB read
Requests/sec:  39218.92
Transfer/sec:      4.30MB
`

const h2loadOutput = `finished in 2.00s, 25212.00 req/s, 861.83KB/s
requests: 25212 total, 25212 started, 25212 done, 25212 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 25216 2xx, 0 3xx, 0 4xx, 0 5xx
`

func TestParseWrk(t *testing.T) {
	m, err := parseWrk([]byte(wrkOutput))
	if err != nil {
		t.Fatal(err)
	}
	if m.rps != 39218.92 || m.p50 != 74 || m.p99 != 1810 {
		t.Errorf("got %+v, want 39218.92 req/s, p50 74µs, p99 1810µs", m)
	}
	bad := strings.Replace(wrkOutput, "Requests/sec", "  Socket errors: connect 0, read 3, write 0, timeout 0\nRequests/sec", 1)
	if _, err := parseWrk([]byte(bad)); err == nil {
		t.Error("wrk output with socket errors: no error")
	}
	if _, err := parseWrk([]byte(strings.Replace(wrkOutput, "     99%    1.81ms\n", "", 1))); err == nil {
		t.Error("wrk output without the 99th percentile: no error")
	}
}

func TestParseH2load(t *testing.T) {
	m, err := parseH2load([]byte(h2loadOutput))
	if err != nil || m.rps != 25212 {
		t.Errorf("got %+v, %v; want 25212 req/s", m, err)
	}
	failed := strings.Replace(h2loadOutput, "0 failed, 0 errored", "3 failed, 0 errored", 1)
	if _, err := parseH2load([]byte(failed)); err == nil {
		t.Error("h2load output with failed requests: no error")
	}
}

func TestH2loadLatencies(t *testing.T) {
	var log strings.Builder
	for i := 1; i <= 100; i++ {
		fmt.Fprintf(&log, "1795243749737237\t200\t%d\n", i)
	}
	log.WriteString("1795243749737237\t-1\t5000000\n") // a failed stream does not count
	p50, p99, err := h2loadLatencies(strings.NewReader(log.String()))
	if err != nil || p50 != 50 || p99 != 99 {
		t.Errorf("p50 %v, p99 %v, %v; want 50 and 99", p50, p99, err)
	}
}

func TestSplitName(t *testing.T) {
	n := splitName("Empty/limit=8/lib=goroutines+WaitGroup-2")
	if n.base != "Empty" || len(n.parts) != 2 {
		t.Fatalf("got %#v", n)
	}
	if v, _ := n.value("lib"); v != "goroutines+WaitGroup" {
		t.Errorf("lib = %q", v)
	}
	if got := n.without("lib"); got != "Empty/limit=8" {
		t.Errorf("without lib: %q", got)
	}
}

func TestVariation(t *testing.T) {
	six := []float64{100, 101, 99, 102, 98, 100}
	if got := summarize(six).variation(six); !regexp.MustCompile(`^±[0-9]+%$`).MatchString(got) {
		t.Errorf("6 runs: %q, want benchstat's ±N%%", got)
	}
	two := []float64{100, 110}
	if got := summarize(two).variation(two); got != "spread 10% (n=2)" {
		t.Errorf("2 runs: %q, want the spread", got)
	}
}

// results of a made-up run in the Go benchmark format.
const sample = `goos: linux
pkg: example
BenchmarkShutdownIdle/proto=http1/impl=lameduck-2   1   50000000 ns/op   50 shutdown-ms
BenchmarkShutdownIdle/proto=http1/impl=plain-2      1  250000000 ns/op  250 shutdown-ms
BenchmarkShutdownIdle/proto=h2c/impl=lameduck-2     1  300000000 ns/op  300 shutdown-ms
BenchmarkShutdownIdle/proto=h2c/impl=plain-2        1 1000000000 ns/op 1000 shutdown-ms
BenchmarkShutdownIdle/proto=http1/impl=lameduck-2   1   70000000 ns/op   70 shutdown-ms
BenchmarkShutdownIdle/proto=http1/impl=plain-2      1  230000000 ns/op  230 shutdown-ms
BenchmarkShutdownIdle/proto=h2c/impl=lameduck-2     1  100000000 ns/op  100 shutdown-ms
BenchmarkShutdownIdle/proto=h2c/impl=plain-2        1 1000000000 ns/op 1000 shutdown-ms
BenchmarkShutdownIdle/proto=h2c/impl=lameduck-2     1  300000000 ns/op  300 shutdown-ms
BenchmarkShutdownIdle/proto=h2c/impl=plain-2        1 1000000000 ns/op 1000 shutdown-ms
`

func idleSpec() *tableSpec {
	for _, c := range comparisons() {
		if c.num == 4 {
			return c.tables[0]
		}
	}
	panic("no comparison 4")
}

func TestBuildTable(t *testing.T) {
	rs, err := parseResults([]byte(sample), "sample")
	if err != nil {
		t.Fatal(err)
	}
	tb, err := buildTable(idleSpec(), rs)
	if err != nil {
		t.Fatal(err)
	}
	if len(tb.rows) != 4 || tb.rows[0].impl != "lameduck" || tb.rows[1].impl != "plain" {
		t.Fatalf("rows %+v, want lameduck then plain in each of 2 cases", tb.rows)
	}
	http1 := tb.rows[0].cells["shutdown-ms"]
	// The ratio is the median of the per-round ratios, 50/250 and 70/230.
	if want := (50.0/250 + 70.0/230) / 2; http1.sum.center != 60 || math.Abs(http1.ratio-want) > 1e-9 {
		t.Errorf("http1 lameduck: median %v, ratio %v; want 60 and %v", http1.sum.center, http1.ratio, want)
	}
	// The http1 target (< 100ms) is met, the h2c one (< 200ms) is not: the
	// median of 300, 100, 300 is 300.
	if c := tb.rows[0].checks; len(c) != 1 || !c[0].met {
		t.Errorf("http1 checks %+v, want one, met", c)
	}
	if c := tb.rows[2].checks; len(c) != 1 || c[0].met {
		t.Errorf("h2c checks %+v, want one, not met", c)
	}
	md := tb.markdown()
	for _, want := range []string{"| proto=http1 | lameduck | 60 ms spread 33% (n=2) | 0.25× spread 41% (n=2) | < 100 ms: a stop waits for work, not for idle connections: met (60 ms) |",
		"plain (baseline)", "**NOT MET** (300 ms)"} {
		if !strings.Contains(md, want) {
			t.Errorf("table lacks %q:\n%s", want, md)
		}
	}
}

func TestRatioTo(t *testing.T) {
	// Paired: one value per round on each side.
	if r, rs := ratioTo([]float64{10, 30, 20}, []float64{20, 30, 10}); r != 1 || len(rs) != 3 {
		t.Errorf("paired: %v %v, want the median of 0.5, 1, 2", r, rs)
	}
	// Not paired: the ratio of the medians.
	if r, rs := ratioTo([]float64{10, 30, 20}, []float64{40}); r != 0.5 || rs != nil {
		t.Errorf("unpaired: %v %v, want 20/40", r, rs)
	}
	if r, _ := ratioTo([]float64{1}, nil); !math.IsNaN(r) {
		t.Errorf("no baseline: %v, want NaN", r)
	}
}

// TestRatioTargetUsesTableRatio checks that a target on a ratio sees the
// same ratio as the table: the median of the per-round ratios.
func TestRatioTargetUsesTableRatio(t *testing.T) {
	var in strings.Builder
	// Drift between rounds, none within: every round's ratio is 1.
	for _, rps := range []int{70000, 30000, 30000, 75000, 78000, 80000} {
		fmt.Fprintf(&in, "BenchmarkRequestPath/tool=wrk/server=bare 1 %d req/s 400 p50-µs 1000 p99-µs\n", rps)
		fmt.Fprintf(&in, "BenchmarkRequestPath/tool=wrk/server=lameduck 1 %d req/s 400 p50-µs 1000 p99-µs\n", rps)
	}
	rs, err := parseResults([]byte(in.String()), "sample")
	if err != nil {
		t.Fatal(err)
	}
	tb, err := buildTable(comparisons()[0].tables[0], rs)
	if err != nil {
		t.Fatal(err)
	}
	r := tb.rows[0]
	if r.impl != "lameduck" || r.cells["req/s"].ratio != 1 || len(r.checks) != 1 || !r.checks[0].met || r.checks[0].measured != "1.00×" {
		t.Errorf("lameduck row: ratio %v, checks %+v; want 1 and the target met at 1.00×", r.cells["req/s"].ratio, r.checks)
	}
}

func TestBuildTableMatchesNothing(t *testing.T) {
	rs, err := parseResults([]byte("BenchmarkOther/impl=plain-2 1 5 ns/op\n"), "sample")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := buildTable(idleSpec(), rs); err == nil {
		t.Error("a spec that matches no benchmark: no error")
	}
}

func TestNoWorse(t *testing.T) {
	l := lookup{values: func(impl, unit string) []float64 {
		return map[string][]float64{
			"fast":  {100, 101, 102, 103, 104, 105},
			"close": {101, 102, 103, 104, 105, 106},
			"slow":  {200, 201, 202, 203, 204, 205},
		}[impl]
	}}
	if ok, _ := l.noWorse("fast", "slow", "ns/op"); !ok {
		t.Error("fast vs slow: not met")
	}
	if ok, why := l.noWorse("close", "fast", "ns/op"); !ok {
		t.Errorf("a difference within the noise: not met (%s)", why)
	}
	if ok, _ := l.noWorse("slow", "fast", "ns/op"); ok {
		t.Error("slow vs fast: met")
	}
}

func TestFormats(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{fmtNs(302.5), "302 ns"}, {fmtMs(999.97), "1 s"}, {fmtNs(1032), "1.03 µs"}, {fmtMs(1069), "1.07 s"}, {fmtUs(120), "120 µs"},
		{fmtBytes(5293), "5.17 KiB"}, {fmtRate(19279), "19.3k/s"}, {formatRatio(0.0186), "0.019×"}, {formatRatio(1.1), "1.10×"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// TestCharts draws every chart from made-up results and checks that each is an
// SVG with its series named.
func TestCharts(t *testing.T) {
	dir := t.TempDir()
	parse := func(s string) *results {
		rs, err := parseResults([]byte(s), "sample")
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	stair := parse(`BenchmarkShutdownStaircase/end=0ms/impl=lameduck-2 1 0.01 end-ms 0.1 return-ms
BenchmarkShutdownStaircase/end=0ms/impl=plain-2 1 0.01 end-ms 0.1 return-ms
BenchmarkShutdownStaircase/end=300ms/impl=lameduck-2 1 300 end-ms 300.2 return-ms
BenchmarkShutdownStaircase/end=300ms/impl=plain-2 1 300 end-ms 511 return-ms
`)
	drain := parse(`BenchmarkDrain/hub=lameduck/clients=1000-2 1 40000000 ns/op
BenchmarkDrain/hub=naive/clients=1000-2 1 220000000 ns/op
BenchmarkDrain/hub=lameduck/clients=10000-2 1 800000000 ns/op
BenchmarkDrain/hub=naive/clients=10000-2 1 1300000000 ns/op
`)
	var pool strings.Builder
	for _, lib := range []string{"bgwork", "pond"} {
		for _, b := range []string{"Empty/limit=0", "Empty/limit=8", "Sleep/limit=100", "CPU/limit=GOMAXPROCS"} {
			pool.WriteString("Benchmark" + b + "/lib=" + lib + "-2 100 300 ns/op\n")
		}
	}
	p := parse(pool.String())
	for _, tc := range []struct {
		file  string
		draw  func(string) error
		wants []string
	}{
		{"stair.svg", func(f string) error { return staircaseChart(stair, f) }, []string{"lameduck server", "plain http.Server.Shutdown"}},
		{"drain.svg", func(f string) error { return drainChart(drain, f) }, []string{"wsmodule Hub.Stop", "200 ms poll"}},
		{"pool.svg", func(f string) error {
			return poolChart(map[string]*results{"pool-empty": p, "pool-sleep": p, "pool-cpu": p}, f)
		}, []string{"bgwork", "pond", "limit 8"}},
	} {
		file := filepath.Join(dir, tc.file)
		if err := tc.draw(file); err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "<svg") {
			t.Errorf("%s is not an SVG", tc.file)
		}
		for _, w := range tc.wants {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s lacks %q", tc.file, w)
			}
		}
	}
	if err := drainChart(stair, filepath.Join(dir, "none.svg")); err == nil {
		t.Error("a chart without its results: no error")
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"6": "6", "^pool-": "'^pool-'", "it's": `'it'\''s'`} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
