package lameduck_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/goleak"

	"github.com/lameduck/lameduck"
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
// RunApp's exit status. It prints "ready" when started.
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
	case "prestop": // a long preStop delay that a second signal skips
		cfg.Stop.PreStopDelay = 2 * time.Second
		step = func(context.Context) error { return nil }
	}
	app := fx.New(
		fx.StopTimeout(cfg.Stop.FxStopTimeout()),
		lameduck.WithConfig(cfg),
		fx.Provide(lameduck.AsStep(func() lifecycle.Step { return lifecycle.NewStep(lifecycle.Shutdown, "http.child", step) })),
		fx.Invoke(func(lc fx.Lifecycle) {
			lc.Append(fx.StartHook(func() { fmt.Println("ready") }))
		}),
	)
	return lameduck.RunApp(app)
}

// runChild starts the test binary as a child in mode, waits until it serves,
// sends it the signals with the given gaps, and returns its exit code and
// how long it ran after the first signal.
func runChild(t *testing.T, mode string, signals ...time.Duration) (int, time.Duration) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "ready" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("child did not start: %q\n%s", sc.Text(), stderr.String())
	}
	start := time.Now()
	for _, gap := range signals {
		time.Sleep(gap) // spacing between a person's Ctrl-C presses, not a wait for an event
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	err = cmd.Wait()
	took := time.Since(start)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, took
	case errors.As(err, &ee):
		return ee.ExitCode(), took
	}
	t.Fatalf("child: %v\n%s", err, stderr.String())
	return 0, 0
}

func TestExitStatusTellsHowTheStopWent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	t.Parallel()
	for _, tc := range []struct {
		name    string
		mode    string
		signals []time.Duration
		want    int
		within  time.Duration
	}{
		{"clean stop exits 0", "clean", []time.Duration{0}, lifecycle.ExitClean, 2 * time.Second},
		{"forced stop exits 3 within the budget", "stuck", []time.Duration{0}, lifecycle.ExitForced, 6*time.Second + 200*time.Millisecond},
		{"second signal skips the preStop delay", "prestop", []time.Duration{0, 100 * time.Millisecond}, lifecycle.ExitClean, 1500 * time.Millisecond},
		{"third signal exits at once with 4", "stuck", []time.Duration{0, 50 * time.Millisecond, 50 * time.Millisecond}, lifecycle.ExitAborted, 900 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, took := runChild(t, tc.mode, tc.signals...)
			if code != tc.want {
				t.Errorf("exit status %d, want %d", code, tc.want)
			}
			if took > tc.within {
				t.Errorf("child ran %v after the first signal, want at most %v", took, tc.within)
			}
		})
	}
}
