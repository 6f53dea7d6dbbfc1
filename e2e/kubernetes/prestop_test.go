package kubernetes

import (
	"fmt"
	"testing"
	"time"
)

// Scenario 5: the preStop `sleep` lifecycle action (stable since Kubernetes
// 1.34) in place of lameduck's in-process delay. The kubelet sleeps 5s
// before SIGTERM; the process is configured the way docs/kubernetes.md says
// for a hook: stop.preStopDelay 0, LAMEDUCK_STOP_GRACE_PERIOD = the grace
// period minus the hook (25s), stop.total lowered to fit (20s). One
// `kubectl rollout restart` under HTTP/1 and h2c load from the node: both
// ways lose nothing (scenario 1 measures the in-process delay).
func TestPreStopSleepAction(t *testing.T) {
	c := needCluster(t)
	b := bins(t)
	tag := fmt.Sprintf("e2e-%d", time.Now().Unix())
	im := image{Name: "lameduck", Bin: b.Starter, Lameduck: true}
	c.loadImage(t, b.Starter, "local/lameduck-lameduck:"+tag+"-a")
	r := rollout(t, c, b, im, tag, rollOpts{ns: "lameduck-k8s-prestop", patch: []func(pod, ctr map[string]any){func(pod, ctr map[string]any) {
		ctr["lifecycle"] = map[string]any{"preStop": map[string]any{"sleep": map[string]any{"seconds": 5}}}
		setEnv(ctr, "LAMEDUCK_STOP_PRE_STOP_DELAY", "0s")
		setEnv(ctr, "LAMEDUCK_STOP_TOTAL", "20s")
		setEnv(ctr, "LAMEDUCK_STOP_GRACE_PERIOD", "25s")
	}}})
	const scen = "5. rollout restart, preStop sleep action 5s (stop.preStopDelay 0)"
	notes := fmt.Sprintf("%d pods replaced, %d exits not 0", r.replaced, len(r.badExits))
	record(t, row{Scenario: scen + ", HTTP/1 from the node", Image: "lameduck", Count: r.http1.Requests, Unit: "requests", Failures: r.http1.Failed, MaxStop: r.maxStop,
		Notes: fmt.Sprintf("failed: %s; %s", r.http1.kinds(), notes)})
	record(t, row{Scenario: scen + ", h2c from the node", Image: "lameduck", Count: r.h2c.Requests, Unit: "requests", Failures: r.h2c.Failed, MaxStop: r.maxStop,
		Notes: fmt.Sprintf("failed: %s", r.h2c.kinds())})
	record(t, row{Scenario: scen + ", HTTP/1 new connection per request", Image: "lameduck", Count: r.newConn.Requests, Unit: "requests", Failures: r.newConn.Failed, MaxStop: r.maxStop,
		Notes: fmt.Sprintf("failed: %s", r.newConn.kinds())})
	if f := r.http1.Failed + r.h2c.Failed + r.newConn.Failed; f != 0 || len(r.badExits) > 0 {
		t.Errorf("with the preStop sleep action: %d requests failed; exits: %v", f, r.badExits)
	}
	if r.replaced < 3 || r.http1.OK == 0 || r.h2c.OK == 0 {
		t.Errorf("not a test: %d pods replaced, %d+%d requests", r.replaced, r.http1.OK, r.h2c.OK)
	}
	// The hook's 5s come before SIGTERM, so each stop, measured from the
	// deletion, takes at least that long.
	if r.maxStop < 5*time.Second {
		t.Errorf("longest stop %v: the preStop sleep did not run", r.maxStop)
	}
}
