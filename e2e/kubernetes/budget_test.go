package kubernetes

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Scenario 6: the stop budget against terminationGracePeriodSeconds, with
// the manifests of examples/kubernetes and one change each:
//
//	a. the grace period lowered to 20s (and LAMEDUCK_STOP_GRACE_PERIOD with
//	   it): the budget (25s + 3s margin) does not fit, and the pod refuses to
//	   start, with exit status 1 and the message that says what to change.
//	b. a handler that ignores its context (e2e/internal/replica's /stubborn)
//	   in flight when the pod is deleted: the stop cuts it at the shutdown
//	   deadline and the container exits with 3 within the grace period.
//	c. the same stuck handler with a 10s grace period and no
//	   LAMEDUCK_STOP_GRACE_PERIOD (so that start-up cannot check): the
//	   kubelet kills the process at 10s, in the middle of its stop.
func TestBudget(t *testing.T) {
	c := needCluster(t)
	b := bins(t)
	tag := fmt.Sprintf("e2e-%d", time.Now().Unix())
	c.loadImage(t, b.Starter, "local/lameduck-lameduck:"+tag+"-budget")
	c.loadImage(t, b.Replica, "local/lameduck-replica:"+tag)
	const scen = "6. budget vs terminationGracePeriodSeconds"

	t.Run("refuses to start", func(t *testing.T) {
		t.Parallel()
		ns := c.namespace(t, "lameduck-k8s-budget-a")
		pods := watchPods(t, c, ns)
		c.must(t, time.Minute, manifests(t, b.Root, "local/lameduck-lameduck:"+tag+"-budget", 1, func(pod, ctr map[string]any) {
			pod["terminationGracePeriodSeconds"] = 20
			setEnv(ctr, "LAMEDUCK_STOP_GRACE_PERIOD", "20s")
		}), "apply", "-n", ns, "-f", "-")
		var exited podRecord
		pods.waitFor(t, "the container's first exit", 2*time.Minute, func(recs []podRecord) bool {
			for _, r := range recs {
				if r.App == "starter" && (!r.Exited.IsZero() || r.LastExitCode >= 0) && r.logs != nil && r.logs.ended() {
					exited = r
					return true
				}
			}
			return false
		})
		code := exited.ExitCode
		if exited.Exited.IsZero() {
			code = exited.LastExitCode
		}
		log := exited.logs.text()
		get := c.must(t, 30*time.Second, "", "get", "pods", "-n", ns, "-l", appLabel)
		t.Logf("kubectl get pods:\n%s\nthe pod's log:\n%s", get, log)
		const want = "does not fit in the grace period (20s)"
		if code != 1 || !strings.Contains(log, want) || exited.ready {
			t.Errorf("exit %d, ready %v, log %q; want exit 1, never ready, and a log that says %q", code, exited.ready, log, want)
		}
		record(t, row{Scenario: scen + ": grace period 20s < budget 28s", Image: "lameduck", Count: 1, Unit: "pod", Failures: b2i(code != 1),
			Notes: fmt.Sprintf("the pod never starts: exit %d, %q; kubectl get pods: %s", code, firstLine(log, "stop.gracePeriod"), podStatusColumn(get))})
	})

	for _, tc := range []struct {
		name      string
		grace     int
		envGrace  string
		wantExit  int
		wantCut   bool // the stop report says what it cut
		scenario  string
		checkNote string
	}{
		{"stuck handler, exit 3", 30, "30s", 3, true, scen + ": handler ignores its context, grace 30s", "exit 3 within the grace period; the report names GET /stubborn"},
		{"stuck handler, grace too short", 10, "", 137, false, scen + ": handler ignores its context, grace 10s, unchecked", "SIGKILL at the grace period, mid-stop: no report"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := c.namespace(t, fmt.Sprintf("lameduck-k8s-budget-%d", tc.grace))
			pods := watchPods(t, c, ns)
			c.must(t, time.Minute, manifests(t, b.Root, "local/lameduck-replica:"+tag, 1, func(pod, ctr map[string]any) {
				pod["terminationGracePeriodSeconds"] = tc.grace
				setEnv(ctr, "LAMEDUCK_STOP_GRACE_PERIOD", tc.envGrace)
			}), "apply", "-n", ns, "-f", "-")
			pods.waitFor(t, "a Ready pod", 2*time.Minute, settled("starter", 1, ""))
			var pod podRecord
			for _, r := range pods.snapshot() {
				if r.App == "starter" && r.Gone.IsZero() {
					pod = r
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+pod.IP+":8080/stubborn?d=1h", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close() // the headers are flushed: the handler runs
			c.must(t, 30*time.Second, "", "delete", "pod", "-n", ns, pod.Name, "--wait=false")
			pods.waitFor(t, "the container's exit", 2*time.Minute, func(recs []podRecord) bool {
				for _, r := range recs {
					if r.Name == pod.Name && !r.Exited.IsZero() {
						pod = r
						return true
					}
				}
				return false
			})
			cancel() // after a SIGKILL nothing closes the connection
			_, _ = io.Copy(io.Discard, resp.Body)
			pods.waitFor(t, "the pod's log", time.Minute, func(recs []podRecord) bool {
				for _, r := range recs {
					if r.Name == pod.Name {
						return r.logs == nil || r.logs.ended()
					}
				}
				return true
			})
			took := pod.Exited.Sub(pod.Deleted)
			log := ""
			if pod.logs != nil {
				log = pod.logs.text()
			}
			report := strings.Contains(log, "GET /stubborn") && strings.Contains(log, "stop ended")
			grace := time.Duration(tc.grace) * time.Second
			t.Logf("exit %d (%s) %v after the deletion; report naming GET /stubborn: %v", pod.ExitCode, pod.Reason, took, report)
			var fail int64
			if pod.ExitCode != tc.wantExit || report != tc.wantCut {
				fail = 1
				t.Errorf("exit %d, stop report naming the route: %v; want exit %d and %v; log:\n%s", pod.ExitCode, report, tc.wantExit, tc.wantCut, tail(log, 30))
			}
			if tc.wantExit == 3 && took >= grace {
				fail = 1
				t.Errorf("the stop took %v, want less than the grace period %v", took, grace)
			}
			record(t, row{Scenario: tc.scenario, Image: "lameduck", Count: 1, Unit: "stop", Failures: fail, MaxStop: took,
				Notes: fmt.Sprintf("exit %d (%s) %v after the deletion: %s", pod.ExitCode, pod.Reason, took.Round(100*time.Millisecond), tc.checkNote)})
		})
	}
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// firstLine returns the first line of s that contains sub, trimmed.
func firstLine(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "- "))
		}
	}
	return ""
}

// podStatusColumn returns the STATUS and RESTARTS columns of the first pod
// in kubectl get pods' output.
func podStatusColumn(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 {
		return "?"
	}
	f := strings.Fields(lines[1])
	if len(f) < 4 {
		return lines[1]
	}
	return "STATUS " + f[2] + ", RESTARTS " + f[3]
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
