package e2e

import (
	"fmt"
	"testing"
	"time"
)

// jobDoneMsg is the log message of a completed background job: examples/
// starter, internal/replica and internal/naive log one per job.
const jobDoneMsg = "job done"

// jobRun is the outcome of a rolling restart under POST /jobs load.
type jobRun struct {
	gen       loadResult
	started   int64 // jobs the replicas answered 202 for
	completed int   // "job done" lines in every replica's log
	restarts  int
	maxStop   time.Duration
}

func (r jobRun) lost() int64     { return r.started - int64(r.completed) }
func (r jobRun) failures() int64 { return r.lost() + r.gen.Failed }
func (r jobRun) notes() string {
	return fmt.Sprintf("%d jobs started (202), %d completed, %d lost; %d requests failed %s", r.started, r.completed, r.lost(), r.gen.Failed, r.gen.kinds())
}

// rollingRestartJobs posts /jobs?d=500ms&n=2 through HAProxy while the
// replicas restart one at a time, then stops every replica and counts the
// jobs that completed.
func rollingRestartJobs(t *testing.T, k kind, d time.Duration) jobRun {
	t.Helper()
	b := bins(t)
	f := startFleet(t, k, 3, lbOptions{})
	gen := startLoadgen(t, b, "loadgen-jobs", "-method", "POST", "-url", "http://"+f.lb.Addr+"/jobs?d=500ms&n=2",
		"-count-prefix", "job-", "-c", "4", "-rate", "100", "-max", (d + 2*time.Minute).String())
	until := make(chan struct{})
	timer := time.AfterFunc(d, func() { close(until) })
	defer timer.Stop()
	run := jobRun{restarts: f.roll(t, until, restartCadence, len(f.replicas))}
	run.gen = gen.finish(t)
	// Stop every replica: a lameduck replica waits for its jobs.
	for _, res := range f.stopAll(t) {
		if k.Lameduck && res.ExitCode != 0 {
			t.Errorf("%s: exit code %d, want 0", res.Replica, res.ExitCode)
		}
	}
	run.started = run.gen.Lines
	run.completed = countLogMessages(f.replicas, jobDoneMsg)
	run.maxStop = f.maxStop()
	t.Logf("%s replicas: %d restarts; %s", k.Name, run.restarts, run.notes())
	return run
}

// Scenario 4: requests that start background jobs during a rolling restart:
// every job a replica accepted completes. Naive replicas exit without
// waiting for theirs.
func TestRollingRestartBackgroundJobs(t *testing.T) {
	suite(t, "haproxy")
	b := bins(t)
	const scenario = "4. rolling restart, background jobs (POST /jobs)"
	d := scaled(15*time.Second, 8*time.Second)
	t.Run("lameduck", func(t *testing.T) {
		r := rollingRestartJobs(t, lameduckKind(b), d)
		if r.failures() != 0 {
			t.Errorf("lameduck replicas: %s; want every job completed and no failed request", r.notes())
		}
		if r.started == 0 || r.restarts < 3 {
			t.Errorf("not a test: %d jobs started, %d restarts", r.started, r.restarts)
		}
		record(t, row{Scenario: scenario, Replica: "lameduck", Requests: r.started, Unit: "jobs",
			Failures: r.failures(), Restarts: r.restarts, MaxStop: r.maxStop, Notes: r.notes()})
	})
	t.Run("naive", func(t *testing.T) {
		r := rollingRestartJobs(t, naiveKind(b), d)
		if r.lost() <= 0 {
			t.Errorf("naive replicas: %s; the suite should see that a plain Shutdown abandons running goroutines", r.notes())
		}
		record(t, row{Scenario: scenario, Replica: "naive", Requests: r.started, Unit: "jobs",
			Failures: r.failures(), Restarts: r.restarts, MaxStop: r.maxStop, Notes: r.notes()})
	})
}
