package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Scenario 7: every byte of a response survives the stop. Bodies of sizes
// around the write-buffer and frame boundaries (4 KiB, 16 KiB), 0 B, 1 B,
// 1 MiB, streamed bodies of many flushes, sizes drawn from a logged seed;
// one, three and a hundred streams at once; over HTTP/1 and h2c, direct
// and through HAProxy; each response placed before, across or after the
// GOAWAY by a signal from the server (see integrity_servers_test.go). Every
// body is checked by its length and SHA-256 against the bytes the seed in
// its request defines (internal/body), and against the Content-Digest
// header the server sent. A bare net/http server with the same settings,
// stopped with Shutdown, runs the same cases in the same test: it must
// deliver every byte too, which shows the cases can be passed, and the
// checks can see what a stop loses.
//
// LAMEDUCK_E2E_SEED=<n> repeats a run's random sizes and seeds.
func TestResponseIntegrity(t *testing.T) {
	suite(t, "curl", "h2load")
	plan := newIntegrityPlan(t)
	start := time.Now()
	var results []stopResults
	for _, proto := range []string{"http1", "h2c"} {
		t.Run(proto, func(t *testing.T) {
			for _, path := range []string{"direct", "haproxy"} {
				t.Run(path, func(t *testing.T) {
					if path == "haproxy" {
						suite(t, "haproxy")
					}
					for _, tm := range integrityTimings {
						if tm.H2COnly && proto != "h2c" {
							continue
						}
						t.Run(tm.Name, func(t *testing.T) {
							t.Logf("%s: %s", tm.Name, tm.Doc)
							for _, kind := range []string{kindLameduck, kindBare} {
								t.Run(kind, func(t *testing.T) {
									r := runIntegrityStop(t, plan, kind, proto, path, tm)
									results = append(results, r)
									r.assert(t)
								})
							}
						})
					}
				})
			}
		})
	}
	t.Logf("%d stops in %v", len(results), time.Since(start).Round(time.Millisecond))
	for _, kind := range []string{kindLameduck, kindBare} {
		rows := integrityRows(results, kind)
		t.Logf("%s:\n%s", kind, integrityTable(rows))
		var lost []string
		for _, r := range results {
			if r.Kind == kind {
				lost = append(lost, r.lostCases()...)
			}
		}
		if len(lost) > 0 {
			t.Logf("%s: %d cases lost bytes:\n  %s", kind, len(lost), strings.Join(lost, "\n  "))
		}
		recordIntegrity(t, kind, rows, plan)
	}
}

// integrityTiming is where the held responses of one stop wait, and the
// preStop delay of that stop (lameduck's stop.preStopDelay; the bare
// server waits as long before its Shutdown).
type integrityTiming struct {
	Name    string
	Hold    hold
	PreStop time.Duration
	// Doc says what the timing places where, for the report.
	Doc string
	// H2COnly: the timing runs over h2c only.
	H2COnly bool
}

var integrityTimings = []integrityTiming{
	{"before", holdStop, time.Second,
		"each response starts when the stop begins and completes in the 1s preStop delay, before the GOAWAY", false},
	{"across", holdAcross, 0,
		"half of each body is written and flushed before the stop; the rest once the shutdown phase has begun", false},
	{"after", holdGoAway, 0,
		"each response starts once a canary connection got the server's GOAWAY (HTTP/1: was closed as idle)", false},
	{"sleep600", holdSleep, 0,
		"each handler sleeps 600ms, then writes; the stop begins 200ms in; no preStop delay", false},
	{"sleep600-prestop2s", holdSleep, 2 * time.Second,
		"the same over h2c with a 2s preStop delay: the responses complete before the GOAWAY", true},
}

// integrityPlan is the sizes and seeds of a run.
type integrityPlan struct {
	Seed   uint64
	Sizes  []bodySpec // every size the cases ask for
	Random []int      // the sizes among them drawn from Seed
	// Band is ten sizes from 1,000 to 4,000 bytes drawn from Seed, each
	// asked for by three streams at once: the responses whose last frame
	// most often straddles one of the server's 4 KiB writes.
	Band []int
	next uint64 // the next stream's seed
	mu   sync.Mutex
}

// The fixed sizes: empty, one byte, around net/http's 4 KiB write buffers
// (4090 with its headers is the first HTTP/2 response to straddle one),
// around the 16 KiB HTTP/2 frame, 1 MiB, and a streamed body.
var (
	fixedSizes = []int{0, 1, 4090, 4095, 4096, 4097, 16383, 16384, 16385}
	largeSize  = 1 << 20
	streamSize = 100_000
)

func newIntegrityPlan(t *testing.T) *integrityPlan {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("LAMEDUCK_E2E_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("LAMEDUCK_E2E_SEED=%q: want an unsigned integer", v)
		}
		seed = s
	}
	r := rand.New(rand.NewPCG(seed, 0x73697a6573)) // "sizes"
	p := &integrityPlan{Seed: seed, next: seed}
	for _, n := range fixedSizes {
		p.Sizes = append(p.Sizes, bodySpec{Size: n})
	}
	// Three sizes between the boundaries above, one beyond them.
	for _, n := range []int{1 + r.IntN(16384), 1 + r.IntN(16384), 16386 + r.IntN(16384), 32769 + r.IntN(100_000)} {
		p.Random = append(p.Random, n)
		p.Sizes = append(p.Sizes, bodySpec{Size: n})
	}
	p.Sizes = append(p.Sizes, bodySpec{Size: largeSize}, bodySpec{Size: streamSize, Stream: true})
	for range 10 {
		p.Band = append(p.Band, 1000+r.IntN(3001))
	}
	t.Logf("integrity plan: seed %d (LAMEDUCK_E2E_SEED=%d repeats it); random sizes %v; sizes %v; three streams each of %v",
		seed, seed, p.Random, p.Sizes, p.Band)
	return p
}

func (p *integrityPlan) seed() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.next++
	return p.next
}

func (p *integrityPlan) streams(specs ...bodySpec) []stream {
	out := make([]stream, len(specs))
	for i, b := range specs {
		out[i] = stream{Seed: p.seed(), Body: b}
	}
	return out
}

// mixed returns n specs cycling through every size but the largest.
func (p *integrityPlan) mixed(n int) []bodySpec {
	var pool []bodySpec
	for _, b := range p.Sizes {
		if b.Size < largeSize {
			pool = append(pool, b)
		}
	}
	out := make([]bodySpec, n)
	for i := range out {
		out[i] = pool[i%len(pool)]
	}
	return out
}

// cases returns the cases of one stop: with Go's client, every size alone
// and three at once, three at once of each size of the band, and a hundred
// streams of mixed sizes; with curl, one
// stream of a few sizes; over h2c, h2load's hundred streams of mixed sizes.
func (p *integrityPlan) cases(h2c bool) (goCases, curlCases []icase, h2loadCase *icase) {
	for _, b := range p.Sizes {
		goCases = append(goCases, icase{Client: "go", Conc: 1, Streams: p.streams(b)})
		goCases = append(goCases, icase{Client: "go", Conc: 3, Streams: p.streams(b, b, b)})
	}
	for _, n := range p.Band {
		b := bodySpec{Size: n}
		goCases = append(goCases, icase{Client: "go", Conc: 3, Streams: p.streams(b, b, b)})
	}
	goCases = append(goCases, icase{Client: "go", Conc: 100, Mixed: true, Streams: p.streams(p.mixed(100)...)})
	for _, b := range p.Sizes {
		if slices.Contains([]int{0, 1, 4090, 4097, 16385, largeSize}, b.Size) || b.Stream {
			curlCases = append(curlCases, icase{Client: "curl", Conc: 1, Streams: p.streams(b)})
		}
	}
	if h2c {
		h2loadCase = &icase{Client: "h2load", Conc: 100, Mixed: true, Streams: p.streams(p.mixed(100)...)}
	}
	return goCases, curlCases, h2loadCase
}

// stopResults is one stop of one server with its cases.
type stopResults struct {
	Kind, Proto, Path string
	Timing            integrityTiming
	Cases             []caseResult
	Stop              stopOutcome
	Took              time.Duration
}

// runIntegrityStop starts a server of kind, sends every case of the plan
// at once (held as the timing says), waits until every response has
// started, stops the server and checks what arrived.
func runIntegrityStop(t *testing.T, plan *integrityPlan, kind, proto, path string, tm integrityTiming) stopResults {
	t.Helper()
	h2c := proto == "h2c"
	ev := newStopEvents()
	g := newGate(tm.Hold, ev)
	var s *itServer
	if kind == kindLameduck {
		s = startLameduck(t, tm.PreStop, g, ev)
	} else {
		s = startBare(t, tm.PreStop, g, ev)
	}
	base := "http://" + s.addr()
	var lb *lb
	if path == "haproxy" {
		// No health checks: this scenario is about the responses in
		// flight, and a check that a server busy with them answers late
		// would mark it down. For the same reason, a second try when
		// HAProxy's connection to the server (it opens more than one
		// when a stop sends more streams than the server's
		// MaxConcurrentStreams) is not up in 3s: no byte of a request has
		// reached the server then, so nothing is replayed or hidden.
		lb = startLB(t, []slot{s.slot}, lbOptions{H2: h2c, NoCheck: true, ConnectTimeout: 3 * time.Second, ConnectRetries: 3})
		base = "http://" + lb.Addr
	}
	if tm.Hold == holdGoAway {
		startCanary(t, h2c, s.addr(), ev)
	}

	goCases, curlCases, h2loadCase := plan.cases(h2c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	all := slices.Concat(goCases, curlCases)
	if h2loadCase != nil {
		all = append(all, *h2loadCase)
	}
	goResults := make([]caseResult, len(goCases))
	var wg sync.WaitGroup
	for i, c := range goCases {
		wg.Go(func() { goResults[i] = goCase(ctx, base, h2c, c) })
	}
	dir := t.TempDir()
	var curls []*curlRun
	for _, c := range curlCases {
		curls = append(curls, startCurl(t, dir, base, h2c, c.Streams[0]))
	}
	var h2l *h2loadRun
	if h2loadCase != nil {
		h2l = startH2load(t, base, *h2loadCase)
	}
	if err := g.waitEntered(all); err != nil {
		if lb != nil {
			st := lb.stats(t)
			fe, srv := st["public/FRONTEND"], st["replicas/r1"]
			err = fmt.Errorf("%w\nHAProxy: frontend %s sessions (%s in all), server %s sessions, %s queued, %s connect errors, %s response errors\n%s",
				err, fe["scur"], fe["stot"], srv["scur"], srv["qcur"], srv["econ"], srv["eresp"], tail(lb.proc.log.String(), 10))
		}
		cancel()
		s.stop(t) // releases the held responses
		wg.Wait()
		t.Fatal(err)
	}
	if tm.Hold == holdSleep {
		<-closedAfter(sleepStopAfter) // the scenario: the stop begins 200ms into the handlers' sleep
	}
	began := time.Now()
	out := stopResults{Kind: kind, Proto: proto, Path: path, Timing: tm}
	out.Stop = s.stop(t)
	out.Took = time.Since(began)
	wg.Wait()
	out.Cases = append(out.Cases, goResults...)
	for i, c := range curls {
		r := caseResult{icase: curlCases[i], Checksummed: true, Results: []streamResult{c.result(t)}}
		r.tally()
		out.Cases = append(out.Cases, r)
	}
	if h2l != nil {
		out.Cases = append(out.Cases, h2l.result(t))
	}
	select {
	case <-ev.ch[evShutdown]:
		for i := range out.Cases {
			c := &out.Cases[i]
			for _, r := range c.Results {
				if !r.Done.IsZero() && r.Done.Before(ev.at[evShutdown]) {
					c.BeforeShutdown++
				}
			}
		}
	default:
	}
	return out
}

// assert fails the test for every case that lost bytes, and for a stop
// that was not clean, or that says clean when bytes were lost.
func (r stopResults) assert(t *testing.T) {
	t.Helper()
	lost := r.lostCases()
	if len(lost) > 0 {
		t.Errorf("%s, %s, %s, %s: %d of %d cases lost bytes:\n  %s", r.Kind, r.Proto, r.Path, r.Timing.Name,
			len(lost), len(r.Cases), strings.Join(lost, "\n  "))
	}
	switch {
	case !r.Stop.Clean:
		t.Errorf("%s: the stop was not clean: %s", r.Kind, r.Stop.Note)
	case len(lost) > 0 && r.Kind == kindLameduck:
		t.Errorf("%s: the stop report says clean, yet %d cases lost bytes: the report must name what the stop cut", r.Kind, len(lost))
	}
	sum := r.sum()
	t.Logf("%s %s %s %s: %d cases, %d streams (%d done before the shutdown began), %d of %d body bytes received, %d truncated, %d failed; stop %v",
		r.Kind, r.Proto, r.Path, r.Timing.Name, sum.Cases, sum.Streams, sum.BeforeShutdown, sum.Received, sum.Bytes, sum.Truncated, sum.Failed, r.Took.Round(time.Millisecond))
}

// lostCases describes each case that lost bytes: server, protocol, path,
// timing, client, size, concurrency, and what went wrong.
func (r stopResults) lostCases() []string {
	var out []string
	for _, c := range r.Cases {
		if c.lost() == 0 {
			continue
		}
		out = append(out, fmt.Sprintf("%s %s %s %s: %s c=%d %s: %d of %d streams truncated, %d failed, %d done before the shutdown began: %s",
			r.Kind, r.Proto, r.Path, r.Timing.Name, c.Client, c.Conc, c.sizeLabel(), c.Truncated, len(c.Streams), c.Failed, c.BeforeShutdown, c.Detail))
	}
	return out
}

// integrityRow is one line of a server's table.
type integrityRow struct {
	Proto, Path, Timing                   string
	Cases, Streams                        int
	Bytes, Received                       int64
	Truncated, Failed, LostCases, Unclean int
	BeforeShutdown                        int
}

func (r stopResults) sum() integrityRow {
	row := integrityRow{Proto: r.Proto, Path: r.Path, Timing: r.Timing.Name}
	for _, c := range r.Cases {
		row.Cases++
		row.Streams += len(c.Streams)
		row.Bytes += c.bytes()
		row.Received += c.Checked
		row.Truncated += c.Truncated
		row.Failed += c.Failed
		row.BeforeShutdown += c.BeforeShutdown
		if c.lost() > 0 {
			row.LostCases++
		}
	}
	if !r.Stop.Clean {
		row.Unclean++
	}
	return row
}

func integrityRows(results []stopResults, kind string) []integrityRow {
	var rows []integrityRow
	for _, r := range results {
		if r.Kind == kind {
			rows = append(rows, r.sum())
		}
	}
	return rows
}

func totalRow(rows []integrityRow) integrityRow {
	t := integrityRow{Proto: "**all**"}
	for _, r := range rows {
		t.Cases += r.Cases
		t.Streams += r.Streams
		t.Bytes += r.Bytes
		t.Received += r.Received
		t.Truncated += r.Truncated
		t.Failed += r.Failed
		t.BeforeShutdown += r.BeforeShutdown
		t.LostCases += r.LostCases
		t.Unclean += r.Unclean
	}
	return t
}

// integrityTable renders a server's rows and their total as Markdown.
func integrityTable(rows []integrityRow) string {
	var b strings.Builder
	b.WriteString("| protocol | path | timing | cases | responses | done before the shutdown | body bytes | received | truncated | failed | cases with loss | unclean stops |\n")
	b.WriteString("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range append(slices.Clone(rows), totalRow(rows)) {
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %d | %d | %d | %d | %d | %d | %d | %d |\n",
			r.Proto, r.Path, r.Timing, r.Cases, r.Streams, r.BeforeShutdown, r.Bytes, r.Received, r.Truncated, r.Failed, r.LostCases, r.Unclean)
	}
	return b.String()
}

// integrityReport is what the scenario adds to docs/reliability.md.
var integrityReport struct {
	sync.Mutex
	tables map[string]string // by server kind
	plan   string
}

// recordIntegrity adds a server's totals to the summary table and its table
// to the report.
func recordIntegrity(t *testing.T, kind string, rows []integrityRow, p *integrityPlan) {
	t.Helper()
	tot := totalRow(rows)
	replica := kind
	record(t, row{Scenario: "7. response integrity across the stop", Replica: replica, Requests: int64(tot.Streams), Unit: "responses",
		Failures: int64(tot.Truncated + tot.Failed),
		Notes: fmt.Sprintf("%d cases in %d stops, %d body bytes checked by length and SHA-256 (h2load: by count); %d truncated, %d failed, %d unclean stops",
			tot.Cases, len(rows), tot.Bytes, tot.Truncated, tot.Failed, tot.Unclean)})
	integrityReport.Lock()
	defer integrityReport.Unlock()
	if integrityReport.tables == nil {
		integrityReport.tables = map[string]string{}
	}
	integrityReport.tables[kind] = integrityTable(rows)
	integrityReport.plan = fmt.Sprintf("seed %d, random sizes %v", p.Seed, p.Random)
}
