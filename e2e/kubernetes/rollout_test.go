package kubernetes

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// image is one kind of replica the suite deploys with the same manifests.
type image struct {
	Name     string // "lameduck" or "naive"
	Bin      string
	Lameduck bool
}

// The loads, kept modest: the cluster and the suite share the machine with
// whatever else runs on it.
const (
	httpRate    = 100 // requests/s, each of HTTP/1 and h2c, from the node
	podRate     = 50  // requests/s of HTTP/1 from the load pod
	jobRate     = 20  // POST /jobs per second, one 500ms job each
	wsClients   = 20
	publishEach = 100 * time.Millisecond
	jobDoneMsg  = `"msg":"job done"`
)

// rollRun is what one image went through: two rollouts of a 3-replica
// Deployment under every load at once.
type rollRun struct {
	http1, h2c, inPod, jobs loadResult
	newConn                 loadResult // HTTP/1, a connection per request
	jobsDone                int
	ws                      *wsVerdict
	pods                    []podRecord
	replaced                int // pods deleted by the rollouts
	maxStop                 time.Duration
	badExits                []string // pods that did not exit with 0
	events                  []timelineEvent
	// lags are, for each replaced pod, the time from the deletion (as the
	// watch saw it) to the first poll of the node's iptables rules that no
	// longer sent the Service's traffic to it.
	lags      []time.Duration
	ruleSpans map[string]ruleSpan        // by pod name
	marks     map[string][]timelineEvent // by pod name: its stop's phases, from its log
	wsFails   []int64                    // abnormal closes and failed dials, Unix ns
}

// failureTimes are the times of every failure the run counted.
func (r *rollRun) failureTimes() []int64 {
	var out []int64
	for _, l := range []loadResult{r.http1, r.h2c, r.newConn, r.inPod, r.jobs} {
		out = append(out, l.FailureTimes...)
	}
	return append(out, r.wsFails...)
}

// Scenarios 1, 2 and 3: `kubectl rollout restart`, then an image change,
// of the 3-replica Deployment of examples/kubernetes, under HTTP/1 and h2c
// load to the ClusterIP from this node and from a load pod, WebSocket
// clients through the Service, and background jobs posted through it. The
// starter loses nothing; the naive replica, deployed with the same
// manifests, loses what a plain Shutdown loses.
func TestRollout(t *testing.T) {
	c := needCluster(t)
	b := bins(t)
	tag := fmt.Sprintf("e2e-%d", time.Now().Unix())
	c.loadImage(t, b.Loadgen, "local/lameduck-loadgen:"+tag)
	images := []image{{Name: "lameduck", Bin: b.Starter, Lameduck: true}, {Name: "naive", Bin: b.Naive}}
	for _, im := range images {
		c.loadImage(t, im.Bin, "local/lameduck-"+im.Name+":"+tag+"-a", "local/lameduck-"+im.Name+":"+tag+"-b")
	}
	runs := map[string]*rollRun{}
	for _, im := range images {
		t.Run(im.Name, func(t *testing.T) {
			r := rollout(t, c, b, im, tag, rollOpts{imageChange: true, all: true})
			runs[im.Name] = r
			recordRollout(t, im, r)
			if im.Lameduck {
				if f := r.http1.Failed + r.h2c.Failed + r.newConn.Failed + r.inPod.Failed + r.ws.failures() + int64(r.jobs.Lines) - int64(r.jobsDone) + r.jobs.Failed; f != 0 || len(r.badExits) > 0 {
					t.Errorf("lameduck lost %d requests, messages or jobs; exits: %v", f, r.badExits)
				}
				if r.replaced < 6 || r.http1.OK == 0 || r.h2c.OK == 0 || r.newConn.OK == 0 || r.inPod.OK == 0 || r.ws.checked == 0 || r.jobs.Lines == 0 {
					t.Errorf("not a test: %d pods replaced, %d+%d+%d requests, %d messages checked, %d jobs", r.replaced, r.http1.OK, r.h2c.OK, r.inPod.OK, r.ws.checked, r.jobs.Lines)
				}
			}
		})
	}
	if n := runs["naive"]; n != nil {
		lost := n.http1.Failed + n.h2c.Failed + n.newConn.Failed + n.inPod.Failed + n.ws.failures() + n.jobs.Lines - int64(n.jobsDone)
		if lost <= 0 {
			t.Errorf("the naive replica lost nothing: the suite cannot see loss")
		}
	}
	for _, im := range images {
		if r := runs[im.Name]; r != nil {
			writeTimeline(t, im.Name, r)
			addSVG("kubernetes-rollout-"+im.Name+".svg", timelineSVG(fmt.Sprintf("%s: kubectl rollout restart, then kubectl set image, 3 replicas, under load through the Service", im.Name), r))
		}
	}
}

// rollOpts says what a rollout run does besides `kubectl rollout restart`
// under HTTP/1 and h2c load from the node.
type rollOpts struct {
	ns          string                          // namespace prefix; default lameduck-k8s-<image>
	patch       []func(pod, ctr map[string]any) // changes to the manifests, for scenarios that test one
	imageChange bool                            // then roll again with kubectl set image
	all         bool                            // also the load pod, WebSocket clients and jobs
}

// rollout deploys im with the manifests, starts the loads, rolls the
// Deployment, stops the loads, scales to zero and counts.
func rollout(t *testing.T, c *cluster, b binaries, im image, tag string, o rollOpts) *rollRun {
	if o.ns == "" {
		o.ns = "lameduck-k8s-" + im.Name
	}
	ns := c.namespace(t, o.ns)
	pods := watchPods(t, c, ns)
	rl := watchRules(ns)
	defer rl.stop()
	start := time.Now()
	c.must(t, time.Minute, manifests(t, b.Root, "local/lameduck-"+im.Name+":"+tag+"-a", 3, o.patch...), "apply", "-n", ns, "-f", "-")
	c.must(t, 3*time.Minute, "", "rollout", "status", "-n", ns, "deploy/"+deployName, "--timeout=170s")
	pods.waitFor(t, "3 Ready pods", time.Minute, settled("starter", 3, ""))
	ip := strings.TrimSpace(c.must(t, 30*time.Second, "", "get", "svc", "-n", ns, deployName, "-o", "jsonpath={.spec.clusterIP}"))
	base := "http://" + ip
	waitService(t, base, rl, 3)
	t.Logf("%s: 3 pods Ready behind %s after %v", im.Name, ip, time.Since(start).Round(time.Millisecond))

	if o.all {
		// The load pod: HTTP/1 to the ClusterIP from inside the cluster.
		c.must(t, time.Minute, loadPod(tag, base+"/hello"), "apply", "-n", ns, "-f", "-")
		pods.waitFor(t, "the load pod's first success", time.Minute, func(recs []podRecord) bool {
			for _, r := range recs {
				if r.App == "loadgen" && r.logs != nil && r.logs.count("ready") > 0 {
					return true
				}
			}
			return false
		})
	}
	http1 := startLoadgen(t, b.Loadgen, "loadgen-http1", "-url", base+"/hello", "-proto", "http1", "-c", "4", "-rate", fmt.Sprint(httpRate))
	h2c := startLoadgen(t, b.Loadgen, "loadgen-h2c", "-url", base+"/hello", "-proto", "h2c", "-c", "4", "-rate", fmt.Sprint(httpRate))
	newConn := startLoadgen(t, b.Loadgen, "loadgen-new-conn", "-url", base+"/hello", "-proto", "http1", "-new-conn", "-c", "4", "-rate", fmt.Sprint(httpRate))
	var jobs, ws *proc
	pub := newPublisher(pods, "starter")
	ctx, cancel := context.WithCancel(context.Background())
	var pubDone sync.WaitGroup
	defer func() { cancel(); pubDone.Wait() }()
	if o.all {
		jobs = startLoadgen(t, b.Loadgen, "loadgen-jobs", "-method", "POST", "-url", base+"/jobs?d=500ms&n=1", "-count-prefix", "job-", "-c", "2", "-rate", fmt.Sprint(jobRate))
		ws = startProc(t, "wsload", b.Wsload, "-url", "ws://"+ip+"/ws", "-n", fmt.Sprint(wsClients), "-max", "5m")
		pubDone.Go(func() { pub.run(ctx, publishEach) })
		waitWS(t, ws, wsClients, -1, time.Minute)
	}

	var ev []timelineEvent
	mark := func(what string) { ev = append(ev, timelineEvent{T: time.Now(), What: what}) }
	roll := func(what string, args ...string) {
		mark(what)
		c.must(t, time.Minute, "", args...)
		c.must(t, 4*time.Minute, "", "rollout", "status", "-n", ns, "deploy/"+deployName, "--timeout=230s")
		pods.waitFor(t, "the old pods to be gone after "+what, 2*time.Minute, settled("starter", 3, ""))
		mark(what + ": done")
	}
	roll("kubectl rollout restart", "rollout", "restart", "-n", ns, "deploy/"+deployName)
	if o.imageChange {
		roll("kubectl set image", "set", "image", "-n", ns, "deploy/"+deployName, containerName+"=local/lameduck-"+im.Name+":"+tag+"-b")
	}
	r := &rollRun{events: ev, ws: &wsVerdict{}, ruleSpans: map[string]ruleSpan{}, marks: map[string][]timelineEvent{}}
	if o.all {
		// Every client is connected again and has a message published
		// after the last pod was replaced.
		waitWS(t, ws, wsClients, pub.last()+1, time.Minute)
	}
	r.http1 = finishLoadgen(t, http1)
	r.h2c = finishLoadgen(t, h2c)
	r.newConn = finishLoadgen(t, newConn)
	if o.all {
		r.jobs = finishLoadgen(t, jobs)
		cancel()
		pubDone.Wait()
		var wsOut wsOutput
		ws.finish(t, "stop", `{"conns"`, &wsOut)
		r.ws = checkWS(pub, wsClients, wsOut)
		for _, c := range wsOut.Conns {
			if c.By == "error" || c.By == "server" && c.Code != 1001 {
				r.wsFails = append(r.wsFails, c.Close)
			}
		}
		for _, d := range wsOut.DialFailures {
			r.wsFails = append(r.wsFails, d.T)
		}
		c.must(t, time.Minute, "", "delete", "pod", "-n", ns, "loadgen", "--wait=true")
		pods.waitFor(t, "the load pod's result", time.Minute, allGone("loadgen"))
		for _, p := range pods.snapshot() {
			if p.App == "loadgen" && p.logs != nil {
				line := p.logs.last("{")
				if err := jsonUnmarshal(line, &r.inPod); err != nil {
					t.Fatalf("load pod: %v; its log:\n%s", err, p.logs.text())
				}
			}
		}
	}

	// Stop every pod: lameduck's wait for their jobs, and their logs end.
	mark("kubectl scale --replicas=0")
	c.must(t, time.Minute, "", "scale", "-n", ns, "deploy/"+deployName, "--replicas=0")
	pods.waitFor(t, "every pod to be gone", 2*time.Minute, allGone("starter"))
	r.events = ev
	for _, p := range pods.snapshot() {
		if p.App != "starter" {
			continue
		}
		r.pods = append(r.pods, p)
		if p.logs != nil {
			r.jobsDone += p.logs.count(jobDoneMsg)
			r.marks[p.Name] = p.logs.stopMarks()
		}
		if !p.Deleted.IsZero() && !p.Exited.IsZero() {
			if d := p.Exited.Sub(p.Deleted); d > r.maxStop {
				r.maxStop = d
			}
		}
		if !p.Deleted.IsZero() && p.Deleted.Before(ev[len(ev)-1].T) {
			r.replaced++
			if sp, ok := rl.span(p.IP + ":8080"); ok && !sp.Gone.IsZero() {
				r.lags = append(r.lags, sp.Gone.Sub(p.Deleted))
				r.ruleSpans[p.Name] = sp
			}
		}
		if p.ExitCode != 0 || p.Exited.IsZero() {
			r.badExits = append(r.badExits, fmt.Sprintf("%s: exit %d (%s)", p.Name, p.ExitCode, p.Reason))
		}
	}
	t.Logf("%s: pods:\n%s", im.Name, describe(r.pods))
	return r
}

// loadPod is the load pod: e2e/internal/loadgen as a pod, sending HTTP/1
// requests to url until it is deleted, then printing its result. Its
// standard input stays open (stdin: true), so it runs until SIGTERM.
func loadPod(tag, url string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: loadgen
  labels: {app.kubernetes.io/name: loadgen}
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  enableServiceLinks: false
  terminationGracePeriodSeconds: 15
  securityContext: {runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532}
  containers:
    - name: loadgen
      image: local/lameduck-loadgen:%s
      imagePullPolicy: Never
      stdin: true
      args: ["-url", %q, "-proto", "http1", "-c", "2", "-rate", "%d", "-max", "5m"]
      resources: {requests: {cpu: 50m, memory: 32Mi}}
`, tag, url, podRate)
}

func recordRollout(t *testing.T, im image, r *rollRun) {
	const scen = "rollout restart + image change, 3 replicas"
	stops := fmt.Sprintf("%d pods replaced, %d exits not 0", r.replaced, len(r.badExits))
	rec := func(num int, what string, n int64, unit string, failures int64, notes string) {
		record(t, row{Scenario: fmt.Sprintf("%d. %s, %s", num, scen, what), Image: im.Name, Count: n, Unit: unit,
			Failures: failures, MaxStop: r.maxStop, Notes: notes})
	}
	rec(1, "HTTP/1 from the node", r.http1.Requests, "requests", r.http1.Failed, fmt.Sprintf("failed: %s; %s; %s", r.http1.kinds(), stops, lagNote(r.lags)))
	rec(1, "h2c from the node", r.h2c.Requests, "requests", r.h2c.Failed, fmt.Sprintf("failed: %s", r.h2c.kinds()))
	rec(1, "HTTP/1, a new connection per request, from the node", r.newConn.Requests, "requests", r.newConn.Failed, fmt.Sprintf("failed: %s", r.newConn.kinds()))
	rec(1, "HTTP/1 from a pod", r.inPod.Requests, "requests", r.inPod.Failed, fmt.Sprintf("failed: %s", r.inPod.kinds()))
	rec(2, "WebSocket clients", r.ws.checked, "messages", r.ws.failures(), r.ws.notes())
	lost := r.jobs.Lines - int64(r.jobsDone)
	rec(3, "background jobs", r.jobs.Lines, "jobs", lost+r.jobs.Failed,
		fmt.Sprintf("%d jobs accepted (202), %d completed, %d lost; %d POSTs failed: %s", r.jobs.Lines, r.jobsDone, lost, r.jobs.Failed, r.jobs.kinds()))
	for _, p := range r.ws.problems {
		t.Logf("%s WebSocket: %s", im.Name, p)
	}
	for _, s := range []loadResult{r.http1, r.h2c, r.inPod, r.jobs} {
		for k, v := range s.Samples {
			t.Logf("%s sample %s: %s", im.Name, k, v)
		}
	}
}

// lagNote renders the propagation lags: "rule gone 0.1-0.4s after the
// deletion (6 pods)".
func lagNote(lags []time.Duration) string {
	if len(lags) == 0 {
		return "iptables rules not watched (needs root on a node)"
	}
	s := append([]time.Duration(nil), lags...)
	slices.Sort(s)
	return fmt.Sprintf("kube-proxy rule gone %v-%v after the deletion (median %v, %d pods, polled every %v)",
		s[0].Round(10*time.Millisecond), s[len(s)-1].Round(10*time.Millisecond), s[len(s)/2].Round(10*time.Millisecond), len(s), rulePoll)
}
