package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// kind is a kind of replica: a lameduck service, or the naive one.
type kind struct {
	Name     string // "lameduck" or "naive", in the summary
	Bin      string
	Lameduck bool
	// Env is added to every replica's environment.
	Env []string
}

// The stop settings of the replicas behind HAProxy. HAProxy checks /readyz
// every 100ms and marks a replica down after 2 failures, so it stops sending
// new requests about 200ms (plus one check's round trip) after readiness
// turns off; the preStop delay must be longer than that, with room for a
// loaded 2-core machine.
const (
	checkInter   = 100 * time.Millisecond
	checkFall    = 2
	preStopDelay = 800 * time.Millisecond
)

func lameduckKind(b binaries, extra ...string) kind {
	return kind{Name: "lameduck", Bin: b.Service, Lameduck: true, Env: append([]string{
		"LAMEDUCK_STOP_PRE_STOP_DELAY=" + preStopDelay.String(),
		"LAMEDUCK_LOG_LEVEL=info",
		"LAMEDUCK_LOG_FORMAT=json",
	}, extra...)}
}

func naiveKind(b binaries) kind { return kind{Name: "naive", Bin: b.Naive} }

// slot is a replica's fixed place: HAProxy knows it by name and address, and
// every incarnation of the replica listens there.
type slot struct {
	Name      string // r1, r2, ...
	IP        string // 127.0.0.2, ...
	Port      int
	AdminPort int
}

func (s slot) Addr() string      { return net.JoinHostPort(s.IP, strconv.Itoa(s.Port)) }
func (s slot) AdminAddr() string { return net.JoinHostPort(s.IP, strconv.Itoa(s.AdminPort)) }

// newSlots reserves n slots on 127.0.0.2, 127.0.0.3, ...: ports that were
// free a moment ago on addresses nothing else here uses.
func newSlots(t *testing.T, n int) []slot {
	t.Helper()
	var out []slot
	for i := range n {
		ip := fmt.Sprintf("127.0.0.%d", i+2)
		ports := freePorts(t, ip, 2)
		out = append(out, slot{Name: fmt.Sprintf("r%d", i+1), IP: ip, Port: ports[0], AdminPort: ports[1]})
	}
	return out
}

func freePort(t *testing.T, ip string) int {
	t.Helper()
	return freePorts(t, ip, 1)[0]
}

// freePorts returns n different ports that were free a moment ago on ip.
// Every listener stays open until all n are picked: a port released before
// the next is picked can be picked again, and a replica whose public and
// admin addresses are the same refuses to start.
func freePorts(t *testing.T, ip string, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatalf("reserve a port on %s: %v", ip, err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// replica is the replica of one slot; each start is a new incarnation
// (process).
type replica struct {
	slot
	kind  kind
	env   []string
	inc   int
	proc  *proc
	procs []*proc // every incarnation, for counting log lines
}

func newReplica(s slot, k kind, env ...string) *replica {
	return &replica{slot: s, kind: k, env: env}
}

// start starts a new incarnation and waits until its /readyz answers 200.
func (r *replica) start(t *testing.T) {
	t.Helper()
	r.inc++
	env := append([]string{
		"LAMEDUCK_SERVERS_PUBLIC_ADDR=" + r.Addr(),
		"LAMEDUCK_ADMIN_ADDR=" + r.AdminAddr(),
	}, r.kind.Env...)
	env = append(env, r.env...)
	r.proc = startProc(t, fmt.Sprintf("%s/%s#%d", r.kind.Name, r.Name, r.inc), r.kind.Bin, nil, env)
	r.procs = append(r.procs, r.proc)
	waitReady(t, r.proc, "http://"+r.AdminAddr()+"/readyz", 15*time.Second)
}

var probeClient = &http.Client{
	Timeout:   time.Second,
	Transport: &http.Transport{DisableKeepAlives: true},
}

// waitReady polls url, as a readiness probe does, until it answers 200.
func waitReady(t *testing.T, p *proc, url string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if !p.running() {
			t.Fatalf("%s exited before it was ready (%s):\n%s", p.name, p.exitDesc(), tail(p.log.String(), 30))
		}
		if resp, err := probeClient.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %v:\n%s", p.name, timeout, tail(p.log.String(), 30))
		}
		time.Sleep(10 * time.Millisecond) // the probe's period
	}
}

// waitProbe polls url until it answers status.
func waitProbe(t *testing.T, p *proc, url string, status int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if resp, err := probeClient.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == status {
				return
			}
		}
		if !p.running() || time.Now().After(deadline) {
			t.Fatalf("%s: %s never answered %d (%s):\n%s", p.name, url, status, p.exitDesc(), tail(p.log.String(), 30))
		}
		time.Sleep(10 * time.Millisecond) // the probe's period
	}
}

// stopResult is one stop of a replica, as the test saw it.
type stopResult struct {
	Replica  string
	Took     time.Duration // from the signal to the exit
	ExitCode int
	Report   *stopReport // the replica's own account, lameduck only
}

// stop sends sig and waits for the exit.
func (r *replica) stop(t *testing.T, sig syscall.Signal, timeout time.Duration) stopResult {
	t.Helper()
	p := r.proc
	start := time.Now()
	p.signal(t, sig)
	code := p.wait(t, timeout)
	res := stopResult{Replica: p.name, Took: p.end.Sub(start), ExitCode: code}
	if r.kind.Lameduck && sig != syscall.SIGKILL {
		res.Report = findStopReport(p.log)
	}
	return res
}

// logDuration is a duration in a JSON log entry, written as Go writes it
// ("4.52s").
type logDuration time.Duration

func (d *logDuration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = logDuration(v)
	return err
}

// stopReport is the "stop" field of lameduck's "stop ended" log entry (see
// lifecycle.StopReport.MarshalLogObject).
type stopReport struct {
	Trigger  string        `json:"trigger"`
	Clean    bool          `json:"clean"`
	Duration logDuration   `json:"duration"`
	Budget   logDuration   `json:"budget"`
	Signals  int           `json:"signals"`
	Phases   []phaseReport `json:"phases"`
}

type phaseReport struct {
	Phase    string       `json:"phase"`
	Start    logDuration  `json:"start"`
	Duration logDuration  `json:"duration"`
	Allotted logDuration  `json:"allotted"`
	Outcome  string       `json:"outcome"`
	Steps    []stepReport `json:"steps"`
}

type stepReport struct {
	Name     string      `json:"name"`
	Outcome  string      `json:"outcome"`
	Duration logDuration `json:"duration"`
	Error    string      `json:"error"`
	Cut      []string    `json:"cut"`
}

// findStopReport returns the report of the "stop ended" entry in log, or nil.
func findStopReport(log *lineLog) *stopReport {
	for _, ln := range log.Lines() {
		if !strings.Contains(ln.Text, `"stop ended"`) {
			continue
		}
		var e struct {
			Stop stopReport `json:"stop"`
		}
		if json.Unmarshal([]byte(ln.Text), &e) == nil {
			return &e.Stop
		}
	}
	return nil
}

// phase returns the report of the named phase.
func (r *stopReport) phase(name string) (phaseReport, bool) {
	for _, p := range r.Phases {
		if p.Phase == name {
			return p, true
		}
	}
	return phaseReport{}, false
}

// cut returns every straggler the report names.
func (r *stopReport) cut() []string {
	var out []string
	for _, p := range r.Phases {
		for _, s := range p.Steps {
			out = append(out, s.Cut...)
		}
	}
	return out
}

// phases renders a stop report's phases: "readiness-off 0s, prestop-delay 800ms, ...".
func (r *stopReport) phases() string {
	if r == nil {
		return "no report"
	}
	var parts []string
	for _, p := range r.Phases {
		parts = append(parts, fmt.Sprintf("%s %v", p.Phase, time.Duration(p.Duration).Round(time.Millisecond)))
	}
	return strings.Join(parts, ", ")
}

func (r *stopReport) String() string {
	b, _ := json.MarshalIndent(r, "", "  ")
	return string(b)
}

// fdCount counts the open file descriptors of pid.
func fdCount(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("count fds of %d: %v", pid, err)
	}
	return len(ents)
}

// countLogMessages counts the JSON log entries whose "msg" is msg, over every
// incarnation of the replicas.
func countLogMessages(rs []*replica, msg string) int {
	n := 0
	for _, r := range rs {
		for _, p := range r.procs {
			for _, m := range p.log.jsonLines() {
				if m["msg"] == msg {
					n++
				}
			}
		}
	}
	return n
}
