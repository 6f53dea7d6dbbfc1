package e2e

import (
	"context"
	"debug/buildinfo"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lifecycle"
)

// The h2spec the suite is measured with; .ci/run installs the same. It is
// h2spec's newest release that the go command can install: the later tags
// (v2.3.0 to v2.6.0) have a go.mod without the /v2 suffix, which makes
// them invalid module versions.
const (
	h2specModule  = "github.com/summerwind/h2spec"
	h2specVersion = "v2.2.1+incompatible"
	h2specPackage = h2specModule + "/cmd/h2spec@" + h2specVersion
)

// h2specBody is the body of every response the h2spec target sends: longer
// than one DATA frame at the default SETTINGS_MAX_FRAME_SIZE (16 KiB), so
// that responses span frames, and within the default flow-control window.
var h2specBody = strings.Repeat("lameduck h2spec target\n", 1000) // 23,000 bytes

// TestH2SpecConformance runs h2spec, a conformance tester no one here wrote,
// with all its suites (generic, http2, hpack; strict cases included: one
// more than the default, at no cost in time) against an httpmodule
// server speaking h2c with prior knowledge, and against a bare net/http
// server with the same settings in the same run. A case that fails on ours
// but not on the bare server fails the test, with h2spec's message; cases
// that fail on both are net/http's, and are logged (docs/reliability.md
// lists them with the reason). Then it runs h2spec again against our server
// in its lame-duck window, after readiness off and before shutdown, which
// must conform as well, and checks that the stop is still clean.
func TestH2SpecConformance(t *testing.T) {
	suite(t, "h2spec")
	bin := h2specBinary(t)

	cfg := httpmodule.DefaultServerSettings("127.0.0.1:0")
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, h2specBody)
	})

	ours := httpmodule.NewServer("public", cfg, handler)
	if err := ours.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = ours.Shutdown(ctx) // nothing to do when the stop below ran
	})
	bare, bareAddr := startBareServer(t, cfg, handler)

	// Ours and bare at the same time: the same machine load for both.
	oursH2spec, bareH2spec := startH2spec(t, bin, "ours", ours.Addr()), startH2spec(t, bin, "bare", bareAddr)
	oursRun, bareRun := oursH2spec.result(t), bareH2spec.result(t)
	if t.Failed() {
		return
	}
	t.Logf("h2spec %s --strict: ours %s; bare net/http %s", h2specVersion, oursRun, bareRun)
	compareH2spec(t, "ours", oursRun, bareRun)

	// The lame-duck window: readiness off has run, the preStop delay is
	// running (long enough for h2spec), shutdown has not begun.
	stop := lifecycle.DefaultSettings(nil)
	stop.PreStopDelay = 3 * time.Minute
	stop.Shutdown = 10 * time.Second
	stop.Total = stop.PreStopDelay + stop.Shutdown + stop.HubDrain + stop.Wait + stop.Reserve
	inPreStop := make(chan struct{}, 1)
	c := lifecycle.New(stop, lifecycle.WithObservers(lifecycle.ObserverFunc(func(e lifecycle.Event) {
		if e.Kind == lifecycle.PhaseStarted && e.Phase == lifecycle.PreStopDelay {
			inPreStop <- struct{}{}
		}
	})))
	if err := c.Register(ours.Steps()...); err != nil {
		t.Fatal(err)
	}
	c.Interrupt("h2spec: lame-duck window")
	select {
	case <-inPreStop:
	case <-c.Done():
		t.Fatalf("the stop ended before its preStop delay: %+v", c.Report())
	case <-time.After(30 * time.Second):
		t.Fatal("the preStop delay did not begin within 30s of the stop signal")
	}
	assertLameDuck(t, ours.Addr())
	duckRun := startH2spec(t, bin, "ours-lame-duck", ours.Addr()).result(t)
	if t.Failed() {
		c.Interrupt("h2spec: failed")
		<-c.Done()
		return
	}
	t.Logf("h2spec %s --strict: ours in its lame-duck window %s", h2specVersion, duckRun)
	compareH2spec(t, "ours in its lame-duck window", duckRun, bareRun)

	// A second signal ends the preStop delay; the shutdown must be clean:
	// h2spec closed its connections, nothing is left to cut.
	c.Interrupt("h2spec: done")
	select {
	case <-c.Done():
	case <-time.After(stop.Total + 10*time.Second):
		t.Fatal("the stop did not end within its budget")
	}
	if rep := c.Report(); !rep.Clean() {
		t.Errorf("the stop after h2spec was not clean (something was cut or forced): %+v", rep)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bare.Shutdown(ctx); err != nil {
		t.Errorf("bare server: shutdown: %v", err)
	}
}

// h2specBinary finds h2spec on PATH and checks its version: with
// LAMEDUCK_E2E=require another version fails the test, so that the numbers
// in docs/reliability.md are those of the pinned one.
func h2specBinary(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("h2spec")
	if err != nil {
		t.Fatal(err) // suite checked it
	}
	version := "unknown"
	if bi, err := buildinfo.ReadFile(bin); err == nil && bi.Main.Path == h2specModule {
		version = bi.Main.Version
	}
	if version != h2specVersion {
		msg := fmt.Sprintf("%s is h2spec %s, want %s (install with: go install %s)", bin, version, h2specVersion, h2specPackage)
		if required() {
			t.Fatal(msg)
		}
		t.Log(msg + "; running it anyway")
	}
	return bin
}

// startBareServer starts a plain net/http server with the settings httpmodule
// gives its http.Server for cfg, speaking HTTP/1.1 and h2c: the baseline.
func startBareServer(t *testing.T, cfg httpmodule.ServerSettings, h http.Handler) (*http.Server, net.Addr) {
	t.Helper()
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Handler:           h,
		Protocols:         &protos,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    int(cfg.MaxHeaderBytes),
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: cfg.MaxConcurrentStreams},
		ErrorLog:          log.New(io.Discard, "", 0), // h2spec's bad frames would fill the test's output
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("bare server: %v", err)
		}
	})
	return srv, ln.Addr()
}

// assertLameDuck checks that the server at addr is in its lame-duck window
// the way a client sees it: an HTTP/1 response says "Connection: close".
func assertLameDuck(t *testing.T, addr net.Addr) {
	t.Helper()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("http://" + addr.String() + "/")
	if err != nil {
		t.Fatalf("lame-duck window: GET /: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(b) != h2specBody || !resp.Close {
		t.Fatalf("lame-duck window: GET / = %s, %d bytes, Connection: close %v, err %v; want 200, %d bytes, Connection: close",
			resp.Status, len(b), resp.Close, err, len(h2specBody))
	}
}

// h2specCase is the outcome of one h2spec test case.
type h2specCase struct {
	ID      string // as h2spec names it on its command line: "http2/6.5.3/1"
	Desc    string
	Failed  bool
	Skipped bool
	Message string // for a failed case, the frames h2spec expected and the one it got
}

// h2specRun is the outcome of one h2spec run.
type h2specRun struct {
	Cases                   []h2specCase
	Passed, Failed, Skipped int
	Took                    time.Duration
}

func (r h2specRun) String() string {
	return fmt.Sprintf("%d cases, %d passed, %d failed, %d skipped in %v", len(r.Cases), r.Passed, r.Failed, r.Skipped, r.Took.Round(time.Millisecond))
}

func (r h2specRun) byID() map[string]h2specCase {
	m := make(map[string]h2specCase, len(r.Cases))
	for _, c := range r.Cases {
		m[c.ID] = c
	}
	return m
}

var h2specSummary = regexp.MustCompile(`(?m)^(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed`)

// h2specProc is a running h2spec.
type h2specProc struct {
	name   string
	report string // the path of its JUnit report
	p      *proc
}

// startH2spec starts every h2spec case, strict ones included, against
// addr over h2c with prior knowledge.
func startH2spec(t *testing.T, bin, name string, addr net.Addr) *h2specProc {
	t.Helper()
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(t.TempDir(), name+".xml")
	return &h2specProc{name: name, report: report,
		p: startProc(t, "h2spec-"+name, bin, []string{"--strict", "-h", host, "-p", port, "-j", report}, nil)}
}

// result waits for h2spec to end and reads its JUnit report. It fails the
// test when h2spec did not run to its end: no report, or a report that
// disagrees with the summary h2spec printed or with its exit status.
func (h *h2specProc) result(t *testing.T) h2specRun {
	t.Helper()
	name, report, p := h.name, h.report, h.p
	// h2spec exits 1 when a case failed, and 1 when it could not connect.
	code := p.wait(t, 3*time.Minute)
	run := h2specRun{Took: p.end.Sub(p.start)}
	out := p.log.String()
	if code != 0 && code != 1 {
		t.Errorf("h2spec against %s exited %d:\n%s", name, code, tail(out, 30))
		return run
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Errorf("h2spec against %s (exit %d) wrote no report: %v\n%s", name, code, err, tail(out, 30))
		return run
	}
	cases, err := parseH2specJUnit(b)
	if err != nil {
		t.Errorf("h2spec against %s: %v", name, err)
		return run
	}
	run.Cases = cases
	for _, c := range cases {
		switch {
		case c.Failed:
			run.Failed++
		case c.Skipped:
			run.Skipped++
		default:
			run.Passed++
		}
	}
	m := h2specSummary.FindStringSubmatch(out)
	if m == nil {
		t.Errorf("h2spec against %s printed no summary:\n%s", name, tail(out, 30))
		return run
	}
	printed := fmt.Sprintf("%s tests, %s passed, %s skipped, %s failed", m[1], m[2], m[3], m[4])
	parsed := fmt.Sprintf("%d tests, %d passed, %d skipped, %d failed", len(cases), run.Passed, run.Skipped, run.Failed)
	if printed != parsed {
		t.Errorf("h2spec against %s printed %q, its report says %q", name, printed, parsed)
	}
	if (code == 1) != (run.Failed > 0) {
		t.Errorf("h2spec against %s exited %d with %d failed cases:\n%s", name, code, run.Failed, tail(out, 30))
	}
	return run
}

// The JUnit report of h2spec: one testsuite per section, whose package is
// the section's ID ("http2/6.5.3"); its test cases in order, numbered from 1
// on h2spec's command line. A failed case has an <error> element (or
// <failure>), holding the frames h2spec expected and the one it got.
type junitReport struct {
	Suites []struct {
		Package string `xml:"package,attr"`
		Cases   []struct {
			Desc    string    `xml:"classname,attr"`
			Failure *junitMsg `xml:"failure"`
			Error   *junitMsg `xml:"error"`
			Skipped *junitMsg `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

type junitMsg struct {
	Text string `xml:",chardata"`
}

// parseH2specJUnit returns the cases of an h2spec JUnit report, in order.
func parseH2specJUnit(b []byte) ([]h2specCase, error) {
	var r junitReport
	if err := xml.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("JUnit report: %w", err)
	}
	var cases []h2specCase
	seen := map[string]bool{}
	for _, s := range r.Suites {
		for i, tc := range s.Cases {
			c := h2specCase{ID: s.Package + "/" + strconv.Itoa(i+1), Desc: tc.Desc, Skipped: tc.Skipped != nil}
			for _, m := range []*junitMsg{tc.Failure, tc.Error} {
				if m != nil {
					c.Failed = true
					c.Message = h2specMessage(m.Text)
				}
			}
			if seen[c.ID] {
				return nil, fmt.Errorf("JUnit report: case %s twice", c.ID)
			}
			seen[c.ID] = true
			cases = append(cases, c)
		}
	}
	return cases, nil
}

// compareH2spec fails the test for every case that fails or is skipped on
// ours and passes on bare, or that ran on one side only, and logs the cases that
// fail on both and those that fail on bare only.
func compareH2spec(t *testing.T, name string, ours, bare h2specRun) {
	t.Helper()
	d := diffH2spec(name, ours, bare)
	for _, p := range d.problems {
		t.Error(p)
	}
	for _, c := range d.both {
		t.Logf("h2spec case %s fails on %s and on bare net/http (net/http's behaviour): %s\n\t%s", c.ID, name, c.Desc, c.Message)
	}
	if len(d.bareOnly) > 0 {
		t.Logf("h2spec cases that fail on bare net/http only: %s", strings.Join(d.bareOnly, " "))
	}
}

// h2specDiff is how a run against ours differs from the run against bare.
type h2specDiff struct {
	problems []string     // each fails the test
	both     []h2specCase // fail on both sides, in h2spec's order
	bareOnly []string     // IDs of the cases that fail on bare only
}

// diffH2spec compares the runs case by case. Both must have run the same,
// non-zero, set of cases (a broken h2spec run cannot pass), and no case may
// fail on ours, or be skipped on ours (h2spec skips a case when the
// response it needs did not come), that passes on bare.
func diffH2spec(name string, ours, bare h2specRun) h2specDiff {
	var d h2specDiff
	if len(ours.Cases) == 0 || len(bare.Cases) == 0 || len(ours.Cases) != len(bare.Cases) {
		d.problems = append(d.problems, fmt.Sprintf("h2spec ran %d cases on %s and %d on bare net/http; want the same, non-zero, number",
			len(ours.Cases), name, len(bare.Cases)))
	}
	bareCases, oursCases := bare.byID(), ours.byID()
	for _, c := range ours.Cases {
		b, ok := bareCases[c.ID]
		switch {
		case !ok:
			d.problems = append(d.problems, fmt.Sprintf("h2spec case %s (%s) ran on %s, not on bare net/http", c.ID, c.Desc, name))
		case c.Failed && !b.Failed:
			d.problems = append(d.problems, fmt.Sprintf("h2spec case %s fails on %s and passes on bare net/http: %s\n\t%s", c.ID, name, c.Desc, c.Message))
		case c.Skipped && !b.Skipped:
			d.problems = append(d.problems, fmt.Sprintf("h2spec case %s is skipped on %s and runs on bare net/http: %s", c.ID, name, c.Desc))
		case c.Failed:
			d.both = append(d.both, c)
		case b.Failed:
			d.bareOnly = append(d.bareOnly, b.ID)
		}
	}
	for _, b := range bare.Cases {
		if _, ok := oursCases[b.ID]; !ok {
			d.problems = append(d.problems, fmt.Sprintf("h2spec case %s (%s) ran on bare net/http, not on %s", b.ID, b.Desc, name))
		}
	}
	return d
}

// h2specMessage renders the text of a failed case: h2spec writes the frames
// it expected, one a line, and then the one it got.
func h2specMessage(text string) string {
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) < 2 {
		return "h2spec: " + lines[0]
	}
	return fmt.Sprintf("expected %s; got %s", strings.Join(lines[:len(lines)-1], " or "), lines[len(lines)-1])
}

// The comparison fails on what it must: a case failing or skipped on ours
// only, a case run on one side only, and runs without cases. It reads h2spec's report
// format (an <error> per failed case, numbered by position).
func TestH2SpecDiff(t *testing.T) {
	report := func(ours bool) []byte {
		extra := ""
		if ours {
			extra = `<testcase package="http2/6.9.1" classname="Sends SETTINGS frame to set the initial window size to 1 and sends HEADERS frame" time="2.0"><error>DATA Frame (length:1, flags:0x00, stream_id:1)
Timeout</error></testcase>`
		} else {
			extra = `<testcase package="http2/6.9.1" classname="Sends SETTINGS frame to set the initial window size to 1 and sends HEADERS frame" time="0.01"></testcase>`
		}
		return []byte(`<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="3.5. HTTP/2 Connection Preface" package="http2/3.5" id="3.5" tests="2" skipped="0" failures="0" errors="1">
    <testcase package="http2/3.5" classname="Sends client connection preface" time="0.0002"></testcase>
    <testcase package="http2/3.5" classname="Sends invalid connection preface" time="0.0007"><error>Connection closed
Error: unexpected EOF</error></testcase>
  </testsuite>
  <testsuite name="6.9.1. The Flow-Control Window" package="http2/6.9.1" id="6.9.1" tests="2" skipped="0" failures="0" errors="0">
    <testcase package="http2/6.9.1" classname="Sends SETTINGS frames" time="0.001"></testcase>
    ` + extra + `
  </testsuite>
</testsuites>`)
	}
	parse := func(b []byte) h2specRun {
		cases, err := parseH2specJUnit(b)
		if err != nil {
			t.Fatal(err)
		}
		return h2specRun{Cases: cases}
	}
	ours, bare := parse(report(true)), parse(report(false))
	if got := len(ours.Cases); got != 4 {
		t.Fatalf("parsed %d cases, want 4", got)
	}
	if c := ours.Cases[1]; c.ID != "http2/3.5/2" || !c.Failed || c.Message != "expected Connection closed; got Error: unexpected EOF" {
		t.Errorf("second case = %+v, want http2/3.5/2, failed, with h2spec's message", c)
	}

	d := diffH2spec("ours", ours, bare)
	if len(d.problems) != 1 || !strings.Contains(d.problems[0], "http2/6.9.1/2 fails on ours and passes on bare") ||
		!strings.Contains(d.problems[0], "got Timeout") {
		t.Errorf("problems = %q, want one for http2/6.9.1/2 with h2spec's message", d.problems)
	}
	if len(d.both) != 1 || d.both[0].ID != "http2/3.5/2" {
		t.Errorf("both = %+v, want http2/3.5/2", d.both)
	}
	if d := diffH2spec("ours", bare, ours); len(d.problems) != 0 || !slices.Equal(d.bareOnly, []string{"http2/6.9.1/2"}) {
		t.Errorf("ours passing where bare fails: problems %q, bare only %q; want none, http2/6.9.1/2", d.problems, d.bareOnly)
	}

	skipped := h2specRun{Cases: slices.Clone(bare.Cases)}
	skipped.Cases[0].Skipped = true
	if d := diffH2spec("ours", skipped, bare); len(d.problems) != 1 || !strings.Contains(d.problems[0], "http2/3.5/1 is skipped on ours") {
		t.Errorf("a case skipped on ours only: problems %q, want one for http2/3.5/1", d.problems)
	}

	short := h2specRun{Cases: ours.Cases[:3]}
	if d := diffH2spec("ours", short, bare); len(d.problems) != 2 {
		t.Errorf("a case missing on ours: problems %q, want the count and the case", d.problems)
	}
	if d := diffH2spec("ours", h2specRun{}, h2specRun{}); len(d.problems) != 1 {
		t.Errorf("no cases on either side: problems %q, want one", d.problems)
	}
}
