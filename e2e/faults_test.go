package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// faultBudget is the stop budget of the replicas in the fault scenarios:
// small, so that a stop that has to force something ends quickly.
const faultBudget = 3 * time.Second

// faultEnv configures faultBudget: 300ms preStop delay, 1s shutdown, 500ms
// hub drain, 500ms wait, 250ms force grace, 500ms reserve.
var faultEnv = []string{
	"LAMEDUCK_STOP_TOTAL=" + faultBudget.String(),
	"LAMEDUCK_STOP_RESERVE=500ms",
	"LAMEDUCK_STOP_PRE_STOP_DELAY=300ms",
	"LAMEDUCK_STOP_SHUTDOWN=1s",
	"LAMEDUCK_STOP_HUB_DRAIN=500ms",
	"LAMEDUCK_STOP_WAIT=500ms",
	"LAMEDUCK_STOP_FORCE_GRACE=250ms",
	"LAMEDUCK_LOG_LEVEL=info",
	"LAMEDUCK_LOG_FORMAT=json",
}

// stopSlack is what a stop may take beyond its budget: the process's exit
// after the coordinator returned.
const stopSlack = 200 * time.Millisecond

// startOne starts one replica of bin (no load balancer) with env.
func startOne(t *testing.T, name, bin string, env ...string) *replica {
	t.Helper()
	r := newReplica(newSlots(t, 1)[0], kind{Name: name, Bin: bin, Lameduck: true}, env...)
	r.start(t)
	return r
}

// expectForcedStop checks a stop that had to cut something off: it ended
// within the budget plus stopSlack, with exit status 3, and its report
// names culprit.
func expectForcedStop(t *testing.T, res stopResult, budget time.Duration, culprit string) {
	t.Helper()
	if res.Took > budget+stopSlack {
		t.Errorf("%s: the stop took %v, want at most the budget %v + %v", res.Replica, res.Took, budget, stopSlack)
	}
	if res.ExitCode != 3 {
		t.Errorf("%s: exit status %d, want 3 (stopped in budget, something force-closed)", res.Replica, res.ExitCode)
	}
	if res.Report == nil {
		t.Fatalf("%s: no \"stop ended\" entry in its log", res.Replica)
	}
	if res.Report.Clean {
		t.Errorf("%s: report says clean, want not clean:\n%v", res.Replica, res.Report)
	}
	found := false
	for _, c := range res.Report.cut() {
		found = found || strings.Contains(c, culprit)
	}
	if !found {
		t.Errorf("%s: the report does not name %q; it cut %q:\n%v", res.Replica, culprit, res.Report.cut(), res.Report)
	}
}

func faultRow(name string, res stopResult, failures int64, notes string) row {
	return row{Scenario: "5. fault: " + name, Replica: "lameduck", Requests: 1, Unit: "stop", Failures: failures,
		MaxStop: res.Took, Notes: fmt.Sprintf("exit %d; %s", res.ExitCode, notes)}
}

// Scenario 5a: a handler that ignores its context holds the shutdown phase
// until its deadline; the stop force-closes its connection, ends in budget
// with exit status 3, and names the route.
func TestFaultHandlerIgnoresContext(t *testing.T) {
	suite(t)
	b := bins(t)
	r := startOne(t, "replica", b.Replica, faultEnv...)
	resp, err := http.Get("http://" + r.Addr() + "/stubborn?d=1h")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() // the headers are flushed: the handler runs
	res := r.stop(t, syscall.SIGTERM, 10*time.Second)
	_, bodyErr := io.ReadAll(resp.Body)
	expectForcedStop(t, res, faultBudget, "GET /stubborn")
	if p, ok := res.Report.phase("shutdown"); !ok || p.Outcome != "forced" {
		t.Errorf("shutdown phase %+v, want forced", p)
	}
	t.Logf("the stuck request's client saw: %v", bodyErr)
	record(t, faultRow("handler ignores its context", res, 1, "cut: "+strings.Join(res.Report.cut(), "; ")))
}

// Scenario 5b: a WebSocket peer that never answers the close frame holds
// the hub drain until its deadline; the stop force-closes it and names the
// peer's address.
func TestFaultSilentWebSocketPeer(t *testing.T) {
	suite(t)
	b := bins(t)
	r := startOne(t, "service", b.Service, faultEnv...)
	peer := dialSilentWebSocket(t, r.Addr())
	res := r.stop(t, syscall.SIGTERM, 10*time.Second)
	expectForcedStop(t, res, faultBudget, peer.LocalAddr().String())
	if p, ok := res.Report.phase("hub-drain"); !ok || p.Outcome != "forced" {
		t.Errorf("hub-drain phase %+v, want forced", p)
	}
	record(t, faultRow("WebSocket peer never answers close", res, 1, "cut: "+strings.Join(res.Report.cut(), "; ")))
}

// dialSilentWebSocket completes a WebSocket handshake on a raw TCP
// connection that then never reads or writes again.
func dialSilentWebSocket(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("WebSocket handshake: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("WebSocket handshake: %s", resp.Status)
	}
	return c
}

// Scenario 5c: a background task that ignores cancellation holds the wait
// phase until its deadline; the stop abandons it and names it.
func TestFaultTaskIgnoresCancellation(t *testing.T) {
	suite(t)
	b := bins(t)
	r := startOne(t, "replica", b.Replica, faultEnv...)
	resp, err := http.Post("http://"+r.Addr()+"/jobs?d=1h&stubborn=1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	name := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusAccepted || !strings.HasPrefix(name, "stubborn-job-") {
		t.Fatalf("POST /jobs: %s %q", resp.Status, body)
	}
	res := r.stop(t, syscall.SIGTERM, 10*time.Second)
	expectForcedStop(t, res, faultBudget, name)
	if p, ok := res.Report.phase("wait"); !ok || p.Outcome != "forced" {
		t.Errorf("wait phase %+v, want forced", p)
	}
	record(t, faultRow("task ignores cancellation", res, 1, "cut: "+strings.Join(res.Report.cut(), "; ")))
}

// Scenario 5d: SIGKILL of one replica under load. Requests in flight on it
// and those HAProxy sends it before its health check fails are lost; once
// HAProxy has marked it down, nothing more fails.
func TestFaultSIGKILLUnderLoad(t *testing.T) {
	suite(t, "haproxy")
	b := bins(t)
	f := startFleet(t, lameduckKind(b), 3, lbOptions{})
	gen := startLoadgen(t, b, "loadgen", "-url", "http://"+f.lb.Addr+"/hello", "-c", "8", "-rate", "800", "-max", "5m")
	waitRequests(t, f, 2000) // under load

	victim := f.replicas[1]
	killed := time.Now()
	victim.stop(t, syscall.SIGKILL, 10*time.Second)
	f.lb.waitStatus(t, victim.Name, "DOWN", 10*time.Second)
	down := time.Now()
	after := f.lbCounts(t).FrontendRequests
	waitRequests(t, f, after+2000) // HAProxy routes around it
	victim.start(t)
	f.lb.waitStatus(t, victim.Name, "UP", 10*time.Second)
	waitRequests(t, f, f.lbCounts(t).FrontendRequests+1000)
	r := gen.finish(t)

	late := 0
	for _, ft := range r.FailureTimes {
		if ft < killed.UnixNano() || ft > down.Add(500*time.Millisecond).UnixNano() {
			late++
		}
	}
	t.Logf("SIGKILL of %s (exit: %s): HAProxy marked it down %v later; %d of %d requests failed (%s); %d of them outside [kill, down+500ms]",
		victim.Name, victim.procs[0].exitDesc(), down.Sub(killed).Round(time.Millisecond), r.Failed, r.Requests, r.kinds(), late)
	if late > 0 || len(r.FailureTimes) != int(r.Failed) {
		t.Errorf("%d failures outside the window between the kill and HAProxy marking the replica down (+500ms): the load balancer did not route around it", late)
	}
	if r.OK == 0 {
		t.Error("no successful request")
	}
	record(t, row{Scenario: "5. fault: SIGKILL of one replica under load", Replica: "lameduck", Requests: r.Requests, Unit: "requests",
		Failures: r.Failed, Restarts: 1, Notes: fmt.Sprintf("expected loss, all within %v of the kill (HAProxy: down after %d failed checks at %v): %s",
			down.Sub(killed).Round(time.Millisecond), checkFall, checkInter, r.kinds())})
}

// waitRequests waits until HAProxy's frontend has received n requests.
func waitRequests(t *testing.T, f *fleet, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for f.lbCounts(t).FrontendRequests < n {
		if time.Now().After(deadline) {
			t.Fatalf("HAProxy received fewer than %d requests in 30s", n)
		}
		time.Sleep(20 * time.Millisecond) // the load's own pace
	}
}

// Scenario 5e: a second SIGTERM during the preStop delay skips the rest of
// the delay: the stop ends at once, cleanly (exit 0), and says so.
func TestFaultSecondSignalDuringPreStop(t *testing.T) {
	suite(t)
	b := bins(t)
	const preStop = 5 * time.Second
	budget := 10 * time.Second
	r := startOne(t, "service", b.Service, "LAMEDUCK_STOP_TOTAL="+budget.String(), "LAMEDUCK_STOP_PRE_STOP_DELAY="+preStop.String(),
		"LAMEDUCK_STOP_SHUTDOWN=1s", "LAMEDUCK_STOP_HUB_DRAIN=1s", "LAMEDUCK_STOP_WAIT=1s", "LAMEDUCK_LOG_FORMAT=json")
	start := time.Now()
	r.proc.signal(t, syscall.SIGTERM)
	waitProbe(t, r.proc, "http://"+r.AdminAddr()+"/readyz", http.StatusServiceUnavailable) // in the delay: readiness is off
	waitLog(t, r.proc, `"stop phase ended","phase":"readiness-off"`)
	r.proc.signal(t, syscall.SIGTERM)
	code := r.proc.wait(t, 2*budget)
	res := stopResult{Replica: r.proc.name, Took: r.proc.end.Sub(start), ExitCode: code, Report: findStopReport(r.proc.log)}
	if res.ExitCode != 0 {
		t.Errorf("exit status %d, want 0: skipping the delay loses nothing", res.ExitCode)
	}
	if res.Took >= preStop {
		t.Errorf("the stop took %v, want well under the %v preStop delay", res.Took, preStop)
	}
	if res.Report == nil {
		t.Fatal("no \"stop ended\" entry in the log")
	}
	if p, ok := res.Report.phase("prestop-delay"); !ok || p.Outcome != "cut short" {
		t.Errorf("prestop-delay phase %+v, want cut short", p)
	}
	if res.Report.Signals != 2 {
		t.Errorf("report counts %d signals, want 2", res.Report.Signals)
	}
	record(t, faultRow("second SIGTERM during the preStop delay", res, 0,
		fmt.Sprintf("prestop-delay cut short (of %v), clean, 2 signals in the report", preStop)))
}

// Scenario 5f: a third signal exits at once with status 4. The stop is
// held by a handler that ignores its context, after a second signal cut
// the preStop delay short.
func TestFaultThirdSignalExits(t *testing.T) {
	suite(t)
	b := bins(t)
	env := append(append([]string(nil), faultEnv...), "LAMEDUCK_STOP_TOTAL=20s", "LAMEDUCK_STOP_PRE_STOP_DELAY=5s", "LAMEDUCK_STOP_SHUTDOWN=10s")
	r := startOne(t, "replica", b.Replica, env...)
	resp, err := http.Get("http://" + r.Addr() + "/stubborn?d=1h")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() // in flight
	start := time.Now()
	r.proc.signal(t, syscall.SIGTERM)
	waitLog(t, r.proc, `"stop phase ended","phase":"readiness-off"`)
	r.proc.signal(t, syscall.SIGTERM)
	waitLog(t, r.proc, `"stop phase ended","phase":"prestop-delay"`) // the shutdown phase waits for the handler
	third := time.Now()
	r.proc.signal(t, syscall.SIGTERM)
	code := r.proc.wait(t, 10*time.Second)
	res := stopResult{Replica: r.proc.name, Took: r.proc.end.Sub(start), ExitCode: code}
	if code != 4 {
		t.Errorf("exit status %d, want 4 (third signal)", code)
	}
	if d := r.proc.end.Sub(third); d > time.Second {
		t.Errorf("exited %v after the third signal, want at once", d)
	}
	waitLog(t, r.proc, `third stop signal`)
	record(t, faultRow("third SIGTERM while a handler holds the shutdown", res, 1, "exits at once with status 4; the log says \"third stop signal\""))
}

// waitLog waits for a line of p's log that contains s.
func waitLog(t *testing.T, p *proc, s string) {
	t.Helper()
	if _, _, ok := p.log.waitFor(0, func(l string) bool { return strings.Contains(l, s) }, 10*time.Second, p.exited); !ok {
		t.Fatalf("%s: no log line with %q (%s):\n%s", p.name, s, p.exitDesc(), tail(p.log.String(), 30))
	}
}
