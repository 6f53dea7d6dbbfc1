package kubernetes

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Scenario 7: the PodDisruptionBudget of examples/kubernetes
// (maxUnavailable 1) and `kubectl drain` of the node of a pod, under HTTP/1
// and h2c load from the node. On a single-node cluster the evicted pod's
// replacement cannot be scheduled (the node is cordoned), so after the first
// eviction the budget blocks every other one: the drain gives up at its
// timeout with two pods still serving, and nothing is lost. Uncordoning lets
// the replacement start.
func TestDrain(t *testing.T) {
	c := needCluster(t)
	if c.nodes != 1 {
		t.Skipf("the cluster has %d nodes: the scenario shows what the budget blocks on one node", c.nodes)
	}
	b := bins(t)
	tag := fmt.Sprintf("e2e-%d", time.Now().Unix())
	c.loadImage(t, b.Starter, "local/lameduck-lameduck:"+tag+"-a")
	ns := c.namespace(t, "lameduck-k8s-drain")
	pods := watchPods(t, c, ns)
	rl := watchRules(ns)
	defer rl.stop()
	c.must(t, time.Minute, manifests(t, b.Root, "local/lameduck-lameduck:"+tag+"-a", 3), "apply", "-n", ns, "-f", "-")
	pods.waitFor(t, "3 Ready pods", 3*time.Minute, settled("starter", 3, ""))
	node := ""
	for _, r := range pods.snapshot() {
		node = r.Node
	}
	ip := strings.TrimSpace(c.must(t, 30*time.Second, "", "get", "svc", "-n", ns, deployName, "-o", "jsonpath={.spec.clusterIP}"))
	waitService(t, "http://"+ip, rl, 3)
	http1 := startLoadgen(t, b.Loadgen, "loadgen-http1", "-url", "http://"+ip+"/hello", "-proto", "http1", "-c", "4", "-rate", fmt.Sprint(httpRate))
	h2c := startLoadgen(t, b.Loadgen, "loadgen-h2c", "-url", "http://"+ip+"/hello", "-proto", "h2c", "-c", "4", "-rate", fmt.Sprint(httpRate))

	t.Cleanup(func() { c.must(t, 30*time.Second, "", "uncordon", node) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tl := &rollRun{ruleSpans: map[string]ruleSpan{}}
	mark := func(what string) { tl.events = append(tl.events, timelineEvent{T: time.Now(), What: what}) }
	mark("kubectl drain")
	// Only this test's pods: the node may run others.
	out, err := c.run(ctx, "", "drain", node, "--pod-selector="+appLabel, "--ignore-daemonsets", "--timeout=25s")
	t.Logf("kubectl drain (%v):\n%s", err, out)
	evicted := strings.Count(out, "evicted")
	blocked := strings.Contains(out+fmt.Sprint(err), "disruption budget")
	var serving int
	for _, r := range pods.snapshot() {
		if r.App == "starter" && r.Deleted.IsZero() && r.ready {
			serving++
		}
	}
	mark("kubectl uncordon")
	c.must(t, 30*time.Second, "", "uncordon", node)
	pods.waitFor(t, "3 Ready pods after uncordon", 3*time.Minute, settled("starter", 3, ""))
	mark("3 pods Ready")
	r1, r2 := finishLoadgen(t, http1), finishLoadgen(t, h2c)
	tl.http1, tl.h2c = r1, r2
	for _, p := range pods.snapshot() {
		tl.pods = append(tl.pods, p)
		if sp, ok := rl.span(p.IP + ":8080"); ok && !sp.Gone.IsZero() {
			tl.ruleSpans[p.Name] = sp
		}
	}
	writeTimeline(t, "drain", tl)
	c.must(t, time.Minute, "", "scale", "-n", ns, "deploy/"+deployName, "--replicas=0")
	pods.waitFor(t, "every pod to be gone", 2*time.Minute, allGone("starter"))
	var bad []string
	for _, p := range pods.snapshot() {
		if p.App == "starter" && p.ExitCode != 0 {
			bad = append(bad, fmt.Sprintf("%s: exit %d", p.Name, p.ExitCode))
		}
	}
	failed := r1.Failed + r2.Failed
	notes := fmt.Sprintf("kubectl drain: %d pod evicted, then the budget blocked the rest (%v) until its 25s timeout, %d pods serving; HTTP/1 failed: %s, h2c failed: %s",
		evicted, blocked, serving, r1.kinds(), r2.kinds())
	record(t, row{Scenario: "7. PodDisruptionBudget + kubectl drain of the node", Image: "lameduck", Count: r1.Requests + r2.Requests, Unit: "requests", Failures: failed, Notes: notes})
	if failed != 0 || len(bad) > 0 {
		t.Errorf("drain: %d requests failed; exits: %v", failed, bad)
	}
	if err == nil || !blocked || evicted < 1 {
		t.Errorf("drain: error %v, %d evicted, blocked by the budget: %v; want the budget to stop it after one eviction", err, evicted, blocked)
	}
	if serving < 2 {
		t.Errorf("%d pods serving while the budget held, want 2", serving)
	}
}
