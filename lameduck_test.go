package lameduck_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/config"
	"github.com/lameduck/lameduck/lifecycle"
)

const childEnv = "LDTEST_CHILD_MODE"

func TestMain(m *testing.M) {
	switch mode := os.Getenv(childEnv); mode {
	case "":
	case "run": // lameduck.Run as a program's main calls it, configured by the environment
		lameduck.Run(lameduck.IgnoreSignals)
	default:
		os.Exit(child(mode))
	}
	goleak.VerifyTestMain(m)
}

// child runs an app whose shutdown step behaves as mode says, and returns
// RunApp's exit status. It prints "ready" when started, "phase <name>" when
// a phase of the stop begins, "signal 2" when it has counted a second stop
// signal, and "report <JSON>" when the stop has ended.
func child(mode string) int {
	cfg := lameduck.DefaultConfig(nil)
	cfg.Stop.Total = 6 * time.Second
	cfg.Stop.Reserve = 500 * time.Millisecond
	cfg.Stop.PreStopDelay = 0
	cfg.Stop.Shutdown = time.Second
	cfg.Stop.HubDrain = time.Second
	cfg.Stop.Wait = time.Second
	cfg.Stop.ForceGrace = 100 * time.Millisecond
	cfg.Log.Level = "error"
	cfg.Admin.Addr = "127.0.0.1:0"
	for name, srv := range cfg.Servers {
		srv.Addr = "127.0.0.1:0"
		cfg.Servers[name] = srv
	}
	var step func(ctx context.Context) error
	switch mode {
	case "clean":
		step = func(context.Context) error { return nil }
	case "stuck": // ignores its context: abandoned, exit 3
		step = func(context.Context) error { select {} }
	case "stuck-long-grace": // the same, with 5s for a third signal after the second
		cfg.Stop.ForceGrace = 5 * time.Second
		cfg.Stop.Total, cfg.Stop.Reserve = 60*time.Second, 20*time.Second
		cfg.Log.Level = "warn" // the second signal's warning reaches the hook below
		step = func(context.Context) error { select {} }
	case "prestop": // a long preStop delay that a second signal skips
		cfg.Stop.PreStopDelay = 2 * time.Second
		step = func(context.Context) error { return nil }
	}
	var mu sync.Mutex
	say := func(line string) { mu.Lock(); fmt.Println(line); mu.Unlock() }
	app := fx.New(
		fx.StopTimeout(cfg.Stop.FxStopTimeout()),
		lameduck.WithConfig(cfg),
		fx.Provide(lameduck.AsStep(func() lifecycle.Step { return lifecycle.NewStep(lifecycle.Shutdown, "http.child", step) })),
		fx.Provide(lameduck.AsObserver(func() lifecycle.Observer {
			return lifecycle.ObserverFunc(func(e lifecycle.Event) {
				switch e.Kind {
				case lifecycle.PhaseStarted:
					say("phase " + e.Phase.String())
				case lifecycle.StopEnded:
					b, _ := json.Marshal(e.Report)
					say("report " + string(b))
				}
			})
		})),
		// The coordinator's warning for a second signal, as a line the
		// parent waits for before it sends a third.
		fx.Decorate(func(l *zap.Logger) *zap.Logger {
			return l.WithOptions(zap.Hooks(func(e zapcore.Entry) error {
				if strings.HasPrefix(e.Message, "second stop signal") {
					say("signal 2")
				}
				return nil
			}))
		}),
		fx.Invoke(func(lc fx.Lifecycle) {
			lc.Append(fx.StartHook(func() { say("ready") }))
		}),
	)
	return lameduck.RunApp(app)
}

// childRun is a child process: its exit status and its stop report (nil if
// it printed none).
type childRun struct {
	code   int
	report *lifecycle.StopReport
	stderr string
}

// runChild starts the test binary as a child in mode and, for each line of
// script in turn, waits until the child prints it and then sends it
// SIGTERM. It returns how the child ended.
func runChild(t *testing.T, mode string, script ...string) childRun {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(environWithout(os.Environ(), config.EnvPrefix, "KUBERNETES_SERVICE_HOST="), childEnv+"="+mode)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var run childRun
	read := func(line string) {
		if rest, ok := strings.CutPrefix(line, "report "); ok {
			run.report = new(lifecycle.StopReport)
			if err := json.Unmarshal([]byte(rest), run.report); err != nil {
				t.Errorf("the child's report: %v", err)
			}
		}
	}
	hang := time.NewTimer(time.Minute) // a guard against a child that hangs, not a measurement
	defer hang.Stop()
	for _, want := range script {
	wait:
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					_ = cmd.Wait()
					t.Fatalf("the child ended before it printed %q\n%s", want, stderr.String())
				}
				read(line)
				if line == want {
					break wait
				}
			case <-hang.C:
				_ = cmd.Process.Kill()
				t.Fatalf("the child did not print %q\n%s", want, stderr.String())
			}
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	for line := range lines {
		read(line)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		run.code = ee.ExitCode()
	default:
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}
	run.stderr = stderr.String()
	return run
}

// The exit status says how the stop went, and the stop ends within its
// budget as the child's own report measures it; each signal is sent when
// the child has reached the point it is meant for, not after a pause.
func TestExitStatusTellsHowTheStopWent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	t.Parallel()
	t.Run("clean stop exits 0", func(t *testing.T) {
		t.Parallel()
		run := runChild(t, "clean", "ready")
		if run.code != lifecycle.ExitClean || run.report == nil || !run.report.Clean() {
			t.Errorf("exit status %d, report %v; want 0 and a clean report\n%s", run.code, run.report, run.stderr)
		}
	})
	t.Run("forced stop exits 3 within the budget", func(t *testing.T) {
		t.Parallel()
		run := runChild(t, "stuck", "ready")
		if run.code != lifecycle.ExitForced || run.report == nil {
			t.Fatalf("exit status %d, report %v; want 3 and a report\n%s", run.code, run.report, run.stderr)
		}
		if run.report.Duration > run.report.Budget {
			t.Errorf("the stop took %v of a %v budget", run.report.Duration, run.report.Budget)
		}
		sd, _ := run.report.Phase(lifecycle.Shutdown)
		if i := slices.IndexFunc(sd.Steps, func(s lifecycle.StepReport) bool { return s.Name == "http.child" }); i < 0 || sd.Steps[i].Outcome != lifecycle.StepAbandoned {
			t.Errorf("shutdown steps %+v, want the stuck step abandoned", sd.Steps)
		}
	})
	t.Run("second signal skips the preStop delay", func(t *testing.T) {
		t.Parallel()
		run := runChild(t, "prestop", "ready", "phase prestop-delay")
		if run.code != lifecycle.ExitClean || run.report == nil {
			t.Fatalf("exit status %d, report %v; want 0 and a report\n%s", run.code, run.report, run.stderr)
		}
		pd, _ := run.report.Phase(lifecycle.PreStopDelay)
		if pd.Outcome != lifecycle.PhaseCutShort || pd.Duration >= 2*time.Second || run.report.Signals != 2 {
			t.Errorf("preStop %s after %v with %d signals, want cut short by the second signal", pd.Outcome, pd.Duration, run.report.Signals)
		}
	})
	t.Run("third signal exits at once with 4", func(t *testing.T) {
		t.Parallel()
		run := runChild(t, "stuck-long-grace", "ready", "phase shutdown", "signal 2")
		if run.code != lifecycle.ExitAborted || run.report != nil {
			t.Errorf("exit status %d, report %v; want 4 and no report (the stop was abandoned)\n%s", run.code, run.report, run.stderr)
		}
	})
}
