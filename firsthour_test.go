package lameduck_test

import (
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/config"
	"github.com/lameduck/lameduck/lifecycle"
)

// A new user's first configuration has a mistake of every kind at once: a
// value that does not parse, a bad enum, an address without its colon, a
// typo in a variable's name and in a file key, a duration out of range, a
// size with a lower-case unit, a bool that is not one, a close code that is
// not allowed. One run must name every one of them, each once, with the
// key (and file line or variable), the value and what to write instead,
// and nothing else: no doubled "want", no problem about a key the user did
// not set (a rule that depends on a bad setting is not checked). The same
// message is what lameduck.Run prints before it exits with 1.
func TestFirstHourEveryMistakeAtOnce(t *testing.T) {
	file := writeConfig(t, `websocket:
  readLimt: 64KiB
  closeCode: 1000
servers:
  public:
    maxHeaderBytes: 64kb
`)
	path := strings.TrimPrefix(file, config.EnvFile+"=")
	environ := []string{
		file,
		"LAMEDUCK_STOP_WAIT=abc",
		"LAMEDUCK_LOG_LEVEL=verbose",
		"LAMEDUCK_SERVERS_PUBLIC_ADDR=8081",
		"LAMEDUCK_TASKS_MAX_RUNING=50",
		"LAMEDUCK_STOP_TOTAL=-5s",
		"LAMEDUCK_ADMIN_PPROF=yes",
	}
	// What the user set: file keys and the variables' keys.
	setKeys := []string{"websocket.readLimt", "websocket.closeCode", "servers.public.maxHeaderBytes",
		"stop.wait", "log.level", "servers.public.addr", "stop.total", "admin.pprof"}
	var setEnv []string
	for _, kv := range environ[1:] {
		name, _, _ := strings.Cut(kv, "=")
		setEnv = append(setEnv, name)
	}

	want := []string{
		// The file's problems, in the order of the file.
		`websocket.readLimt at ` + path + `:2: want a known key (did you mean websocket.readLimit?)`,
		`servers.public.maxHeaderBytes at ` + path + `:6 = "64kb": want bytes or a number with a unit (KiB, MiB, GiB, KB, MB, GB), such as "1MiB"`,
		// The variables' problems, by name.
		`admin.pprof (LAMEDUCK_ADMIN_PPROF) = "yes": want true or false`,
		`stop.wait (LAMEDUCK_STOP_WAIT) = "abc": want a Go duration such as "5s" or "250ms"`,
		`LAMEDUCK_TASKS_MAX_RUNING = "50": want a known LAMEDUCK_* variable (did you mean LAMEDUCK_TASKS_MAX_RUNNING?)`,
		// Validation, section by section.
		`stop.total (LAMEDUCK_STOP_TOTAL) = "-5s": want a duration from 1s to 1h0m0s`,
		`servers.public.addr (LAMEDUCK_SERVERS_PUBLIC_ADDR) = "8081": want a TCP address "host:port" such as ":8080" or "127.0.0.1:0" (port 0 picks a free port)`,
		`websocket.closeCode (LAMEDUCK_WEBSOCKET_CLOSE_CODE) = "1000": want 1001 (Going Away) or 1012 (Service Restart)`,
		`log.level (LAMEDUCK_LOG_LEVEL) = "verbose": want "debug", "info", "warn" or "error"`,
	}
	wantMsg := "config: 9 invalid settings\n  - " + strings.Join(want, "\n  - ")

	cfg, err := lameduck.LoadConfig(environ)
	if err == nil {
		t.Fatalf("LoadConfig accepted it: %+v", cfg)
	}
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("LoadConfig: %T %v, want a *config.Error", err, err)
	}
	msg := err.Error()
	if msg != wantMsg {
		t.Errorf("message:\n%s\nwant:\n%s", msg, wantMsg)
	}
	if strings.Contains(msg, "want want") {
		t.Errorf("doubled word in:\n%s", msg)
	}
	var got []string
	for _, p := range ce.Problems {
		got = append(got, p.String())
		switch {
		case p.Key == "" && !slices.Contains(setEnv, p.Env):
			t.Errorf("problem about a variable the user did not set: %s", p)
		case p.Key != "" && !slices.Contains(setKeys, p.Key):
			t.Errorf("problem about a key the user did not set: %s", p)
		case p.Key != "" && p.Env != "" && p.Env != envOf(p.Key):
			t.Errorf("problem names %s, not the variable of %s: %s", p.Env, p.Key, p)
		}
		if p.Want == "" || strings.HasPrefix(p.Want, "want") {
			t.Errorf("problem does not say what to write, or says want twice: %s", p)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	for _, w := range want {
		if n := strings.Count(msg, w); n != 1 {
			t.Errorf("%d times in the message, want once: %s", n, w)
		}
	}

	// The same environment given to a program whose main is
	// lameduck.Run: it exits with ExitFailed, and the message is all it
	// prints. lameduck.Module validates the sections in the order
	// of their keys (admin, log, servers, stop, tasks, websocket), every
	// run the same.
	runWant := append(slices.Clone(want[:5]), want[8], want[6], want[5], want[7])
	wantMsg = "config: 9 invalid settings\n  - " + strings.Join(runWant, "\n  - ")
	if testing.Short() {
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(environWithout(os.Environ(), config.EnvPrefix, "KUBERNETES_SERVICE_HOST="), childEnv+"=run")
	cmd.Env = append(cmd.Env, environ...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != lifecycle.ExitFailed {
		t.Fatalf("lameduck.Run: %v, want exit status %d\n%s", err, lifecycle.ExitFailed, stderr.String())
	}
	if stderr.String() != wantMsg+"\n" {
		t.Errorf("lameduck.Run's standard error is not just the message:\n%s", stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("lameduck.Run printed to standard output: %q", stdout.String())
	}
}

// environWithout returns environ without the variables whose "name=" starts
// with one of prefixes.
func environWithout(environ []string, prefixes ...string) []string {
	var out []string
	for _, kv := range environ {
		if !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(kv, p) }) {
			out = append(out, kv)
		}
	}
	return out
}
