package e2e

import (
	"fmt"
	"testing"
	"time"
)

// restartCadence is how often a rolling restart starts the next replica's
// restart, for both kinds of replica, so that both see the same number of
// restarts in the same time.
const restartCadence = 2500 * time.Millisecond

// httpRun is the outcome of one rolling restart under HTTP load.
type httpRun struct {
	tool     string // "wrk" or "h2load"
	toolReqs int64
	toolFail int64
	toolKind string
	h2       h2loadResult
	gen      loadResult
	restarts int
	maxStop  time.Duration
	lb       lbCounts
}

func (r httpRun) requests() int64 { return r.toolReqs + r.gen.Requests }
func (r httpRun) failures() int64 { return r.toolFail + r.gen.Failed }
func (r httpRun) notes() string {
	return fmt.Sprintf("%s: %s; loadgen: %d failed %s, %d body bytes checked; %s", r.tool, r.toolKind, r.gen.Failed, r.gen.kinds(), r.gen.Bytes, r.lb)
}

// loadSizes are the sizes of the bodies internal/loadgen asks for in the
// rolling restarts, in turn, each checked by its length and SHA-256: empty,
// one byte, around the 4 KiB write buffers and the 16 KiB HTTP/2 frame, and
// one of many frames. wrk and h2load cannot check a body; they ask for
// /hello and count statuses and errors.
const loadSizes = "0,1,4090,4095,4096,4097,16383,16384,16385,100000"

// rollingRestart runs a fleet of 3 replicas of kind k behind HAProxy, loads
// it for d with the external tool (wrk for http1, h2load for h2c) on /hello
// and with internal/loadgen on /download (checked bodies) together,
// restarts the replicas one at a time throughout, and returns the counts.
func rollingRestart(t *testing.T, k kind, opt lbOptions, d time.Duration) httpRun {
	t.Helper()
	b := bins(t)
	f := startFleet(t, k, 3, opt)
	url := "http://" + f.lb.Addr + "/hello"
	proto := "http1"
	if opt.H2 {
		proto = "h2c"
	}

	gen := startLoadgen(t, b, "loadgen", "-url", "http://"+f.lb.Addr+"/download", "-sizes", loadSizes,
		"-proto", proto, "-c", "8", "-rate", "800", "-max", (d + 2*time.Minute).String())
	secs := fmt.Sprintf("%ds", int(d.Seconds()))
	var tool *proc
	run := httpRun{}
	if opt.H2 {
		run.tool = "h2load"
		tool = startProc(t, "h2load", "h2load", []string{"-D", secs, "--warm-up-time", "0", "-t", "1", "-c", "8", "-m", "8", url}, nil)
	} else {
		run.tool = "wrk"
		tool = startProc(t, "wrk", "wrk", []string{"-t", "1", "-c", "16", "-d", secs, "--timeout", "10s", url}, nil)
	}
	// Restart until the tool's time is nearly up, so that every restart
	// happens under its load, and at least once per replica.
	until := make(chan struct{})
	timer := time.AfterFunc(d-restartCadence, func() { close(until) })
	defer timer.Stop()
	run.restarts = f.roll(t, until, restartCadence, len(f.replicas))
	if code := tool.wait(t, d+time.Minute); code != 0 {
		t.Fatalf("%s exited %d:\n%s", run.tool, code, tail(tool.log.String(), 30))
	}
	run.gen = gen.finish(t)
	out := tool.log.String()
	if opt.H2 {
		r, err := parseH2load(out)
		if err != nil {
			t.Fatal(err)
		}
		run.h2 = r
		run.toolReqs, run.toolFail, run.toolKind = r.Done, r.Failures(), r.kinds()
	} else {
		r, err := parseWrk(out)
		if err != nil {
			t.Fatal(err)
		}
		run.toolReqs, run.toolFail, run.toolKind = r.Requests, r.Failures(), r.kinds()
	}
	run.maxStop = f.maxStop()
	run.lb = f.lbCounts(t)
	t.Logf("%s replicas, %s: %d restarts, %s: %d requests, %d failed (%s); loadgen: %d requests, %d failed (%s), %d body bytes checked, %d retried by the Go client; %s",
		k.Name, proto, run.restarts, run.tool, run.toolReqs, run.toolFail, run.toolKind,
		run.gen.Requests, run.gen.Failed, run.gen.kinds(), run.gen.Bytes, run.gen.Retried, run.lb)
	if slow := f.slowest(); slow.Report != nil {
		t.Logf("slowest stop: %s in %v: %s", slow.Replica, slow.Took.Round(time.Millisecond), slow.Report.phases())
	}
	for kind, s := range run.gen.Samples {
		t.Logf("  loadgen sample %s: %s", kind, s)
	}
	if run.failures() > 0 {
		t.Logf("HAProxy's error log (the last lines):\n%s", tail(f.lb.proc.log.String(), 15))
	}
	return run
}

// loadDuration is how long each rolling restart runs under load: at least
// 30s at scale 1.
func loadDuration() time.Duration { return scaled(30*time.Second, 10*time.Second) }

// Scenario 1: a rolling restart under constant HTTP/1 load loses no request
// with lameduck replicas, and the same restarts of naive replicas (plain
// Shutdown on SIGTERM) lose requests: the suite can see loss. HAProxy does
// not retry anything.
func TestRollingRestartHTTP1(t *testing.T) {
	suite(t, "haproxy", "wrk")
	b := bins(t)
	const scenario = "1. rolling restart, HTTP/1 (wrk + loadgen)"
	t.Run("lameduck", func(t *testing.T) {
		r := rollingRestart(t, lameduckKind(b), lbOptions{}, loadDuration())
		expectNoLoss(t, r)
		record(t, row{Scenario: scenario, Replica: "lameduck", Requests: r.requests(), Unit: "requests",
			Failures: r.failures(), Restarts: r.restarts, MaxStop: r.maxStop, Notes: r.notes()})
	})
	t.Run("naive", func(t *testing.T) {
		r := rollingRestart(t, naiveKind(b), lbOptions{}, loadDuration())
		expectLoss(t, r)
		record(t, row{Scenario: scenario, Replica: "naive", Requests: r.requests(), Unit: "requests",
			Failures: r.failures(), Restarts: r.restarts, MaxStop: r.maxStop, Notes: r.notes()})
	})
}

// Scenario 2: the same with h2c (HTTP/2 with prior knowledge) from the
// clients through HAProxy to the replicas: no failed stream. HAProxy does
// not retry refused streams here, so a GOAWAY sent while it still routes to
// a replica would show as failures: lameduck sends it at shutdown, after the
// preStop delay, not at readiness off (an earlier version did, and lost
// about 700 streams per run).
func TestRollingRestartH2C(t *testing.T) {
	suite(t, "haproxy", "h2load")
	b := bins(t)
	const scenario = "2. rolling restart, h2c (h2load + loadgen)"
	t.Run("lameduck", func(t *testing.T) {
		r := rollingRestart(t, lameduckKind(b), lbOptions{H2: true}, loadDuration())
		expectNoLoss(t, r)
		record(t, row{Scenario: scenario, Replica: "lameduck", Requests: r.requests(), Unit: "streams",
			Failures: r.failures(), Restarts: r.restarts, MaxStop: r.maxStop, Notes: r.notes()})
	})
	t.Run("naive", func(t *testing.T) {
		r := rollingRestart(t, naiveKind(b), lbOptions{H2: true}, loadDuration())
		expectLoss(t, r)
		record(t, row{Scenario: scenario, Replica: "naive", Requests: r.requests(), Unit: "streams",
			Failures: r.failures(), Restarts: r.restarts, MaxStop: r.maxStop, Notes: r.notes()})
	})
}

// expectNoLoss fails the test unless every request succeeded.
func expectNoLoss(t *testing.T, r httpRun) {
	t.Helper()
	if r.failures() != 0 || r.lb.Sent5xx != 0 {
		t.Errorf("lameduck replicas: %d failed requests during %d restarts, want 0: %s", r.failures(), r.restarts, r.notes())
	}
	if r.toolReqs == 0 || r.gen.OK == 0 || r.gen.Bytes == 0 || r.restarts < 3 {
		t.Errorf("not a test: %s sent %d requests, loadgen %d ok with %d body bytes checked, %d restarts", r.tool, r.toolReqs, r.gen.OK, r.gen.Bytes, r.restarts)
	}
}

// expectLoss fails the test if the naive replicas lost nothing: the suite
// must be able to see loss.
func expectLoss(t *testing.T, r httpRun) {
	t.Helper()
	if r.failures() == 0 {
		t.Errorf("naive replicas: 0 failed requests in %d restarts: the suite should see the loss that a plain Shutdown causes", r.restarts)
	}
}
