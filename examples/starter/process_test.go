package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// raceEnabled is set by race_test.go when the tests run with -race: the
// binary under test is then built with -race too.
var raceEnabled bool

// build compiles the starter once per test binary, into a directory that
// TestMain removes.
var build struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

func starterBinary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			build.err = errors.New("the go command is not on PATH: cannot build the starter")
			return
		}
		if build.dir, build.err = os.MkdirTemp("", "starter-test-"); build.err != nil {
			return
		}
		build.bin = filepath.Join(build.dir, "starter")
		args := []string{"build", "-o", build.bin}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command(goTool, append(args, ".")...).CombinedOutput()
		if err != nil {
			build.err = errors.New("go build ./examples/starter: " + err.Error() + "\n" + string(out))
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.bin
}

// childEnv is the environment of the process under test: the test's, without
// any lameduck setting or Kubernetes marker that would change the defaults,
// plus env.
func childEnv(env ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "LAMEDUCK_") || strings.HasPrefix(kv, "KUBERNETES_SERVICE_HOST=") {
			continue
		}
		out = append(out, kv)
	}
	if os.Getenv("GORACE") == "" {
		// A -race binary sleeps 1s before it exits; the timings we log
		// are the starter's, not the race detector's.
		out = append(out, "GORACE=atexit_sleep_ms=0")
	}
	return append(out, env...)
}

// process is a running starter binary whose standard error the test reads
// line by line.
type process struct {
	t      *testing.T
	cmd    *exec.Cmd
	lines  chan string   // every line of standard error, closed at EOF
	exited chan struct{} // closed when cmd.Wait has returned
	err    error         // cmd.Wait's result, once exited is closed

	mu  sync.Mutex
	all []string
}

// startStarter runs the starter binary with the environment env.
func startStarter(t *testing.T, env ...string) *process {
	t.Helper()
	cmd := exec.Command(starterBinary(t))
	cmd.Env = childEnv(env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{t: t, cmd: cmd, lines: make(chan string, 4096), exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.all = append(p.all, sc.Text())
			p.mu.Unlock()
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.err = cmd.Wait() // after EOF, as StderrPipe requires
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
		}
		for range p.lines { // let the reader reach EOF and Wait
		}
		<-p.exited
		if t.Failed() {
			t.Logf("standard error of the starter:\n%s", p.stderr())
		}
	})
	return p
}

// stderr returns what the process wrote to standard error so far.
func (p *process) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.all, "\n")
}

// logEntry is one JSON log line.
type logEntry map[string]any

func (e logEntry) str(key string) string { s, _ := e[key].(string); return s }

// waitLog reads standard error until a JSON log line with message msg, and
// returns it. It fails the test if the process ends or the line does not
// come within timeout.
func (p *process) waitLog(msg string, timeout time.Duration) logEntry {
	p.t.Helper()
	var found logEntry
	p.waitLine(timeout, "a log line "+msg, func(line string) bool {
		var e logEntry
		if json.Unmarshal([]byte(line), &e) == nil && e.str("msg") == msg {
			found = e
			return true
		}
		return false
	})
	return found
}

// waitLine reads standard error until a line for which match is true.
func (p *process) waitLine(timeout time.Duration, what string, match func(string) bool) {
	p.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("the starter ended before %s", what)
			}
			if match(line) {
				return
			}
		case <-deadline.C:
			p.t.Fatalf("no %s within %v", what, timeout)
		}
	}
}

// signal sends sig to the process.
func (p *process) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// wait waits for the process to exit, reading the rest of its standard
// error, and returns its exit code. It fails the test after timeout.
func (p *process) wait(timeout time.Duration) int {
	p.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case _, ok := <-p.lines:
			if ok {
				continue
			}
			<-p.exited
			var ee *exec.ExitError
			switch {
			case p.err == nil:
				return 0
			case errors.As(p.err, &ee):
				return ee.ExitCode()
			}
			p.t.Fatalf("starter: %v", p.err)
		case <-deadline.C:
			p.t.Fatalf("the starter did not exit within %v", timeout)
		}
	}
}

// logs returns every JSON log line with message msg written so far.
func (p *process) logs(msg string) []logEntry {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []logEntry
	for _, line := range p.all {
		var e logEntry
		if json.Unmarshal([]byte(line), &e) == nil && e.str("msg") == msg {
			out = append(out, e)
		}
	}
	return out
}

// output returns the lines of standard error so far.
func (p *process) output() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.all)
}

// timeline returns the stop report that the starter printed: the line
// "stop (...)" and the indented lines after it.
func (p *process) timeline() string {
	lines := p.output()
	at := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "stop (") })
	if at < 0 {
		return ""
	}
	end := at + 1
	for end < len(lines) && strings.HasPrefix(lines[end], "  ") {
		end++
	}
	return strings.Join(lines[at:end], "\n")
}
