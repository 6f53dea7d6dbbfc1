package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lineLog keeps the lines a child process writes, with the time each
// arrived, and lets a test wait for a line instead of sleeping.
type lineLog struct {
	mu      sync.Mutex
	lines   []logLine
	partial []byte
	changed chan struct{} // closed and replaced on every new line
	file    *os.File      // a copy, for people (LAMEDUCK_E2E_KEEP)
}

type logLine struct {
	At   time.Time
	Text string
}

func newLineLog(file *os.File) *lineLog { return &lineLog{changed: make(chan struct{}), file: file} }

func (l *lineLog) Write(p []byte) (int, error) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil {
		_, _ = l.file.Write(p)
	}
	l.partial = append(l.partial, p...)
	added := false
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, logLine{At: now, Text: string(l.partial[:i])})
		l.partial = l.partial[i+1:]
		added = true
	}
	if added {
		close(l.changed)
		l.changed = make(chan struct{})
	}
	return len(p), nil
}

// Lines returns a copy of the lines so far.
func (l *lineLog) Lines() []logLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]logLine(nil), l.lines...)
}

// String returns the whole log, for failure messages.
func (l *lineLog) String() string {
	var b strings.Builder
	for _, ln := range l.Lines() {
		b.WriteString(ln.Text)
		b.WriteByte('\n')
	}
	return b.String()
}

// waitFor returns the first line at index >= from that matches, waiting
// until timeout, or until done is closed (the process exited: its output is
// complete).
func (l *lineLog) waitFor(from int, match func(string) bool, timeout time.Duration, done <-chan struct{}) (logLine, int, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for last := false; ; {
		l.mu.Lock()
		for i := from; i < len(l.lines); i++ {
			if match(l.lines[i].Text) {
				ln := l.lines[i]
				l.mu.Unlock()
				return ln, i, true
			}
		}
		from = len(l.lines)
		ch := l.changed
		l.mu.Unlock()
		if last {
			return logLine{}, from, false
		}
		select {
		case <-ch:
		case <-done:
			last = true // one last look at what came with the exit
		case <-deadline.C:
			last = true
		}
	}
}

// jsonLines returns the lines that parse as JSON objects.
func (l *lineLog) jsonLines() []map[string]any {
	var out []map[string]any
	for _, ln := range l.Lines() {
		if !strings.HasPrefix(ln.Text, "{") {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(ln.Text), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// proc is a child process whose output goes to a lineLog, killed at the end
// of the test if it is still running.
type proc struct {
	name   string
	cmd    *exec.Cmd
	log    *lineLog
	stdin  io.WriteCloser
	exited chan struct{}
	start  time.Time
	end    time.Time
}

// startProc starts bin with args and env added to a copy of the test's
// environment without LAMEDUCK_ variables (except the suite's own).
func startProc(t *testing.T, name, bin string, args, env []string) *proc {
	t.Helper()
	p := &proc{name: name, exited: make(chan struct{})}
	var file *os.File
	if os.Getenv("LAMEDUCK_E2E_KEEP") != "" {
		f, err := os.CreateTemp("", "lameduck-e2e-"+strings.ReplaceAll(name, "/", "_")+"-*.log")
		if err == nil {
			file = f
			t.Logf("%s: log in %s", name, f.Name())
			t.Cleanup(func() { _ = f.Close() })
		}
	}
	p.log = newLineLog(file)
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = childEnv(env)
	p.cmd.Stdout = p.log
	p.cmd.Stderr = p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := p.cmd.StdinPipe()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	p.stdin = stdin
	p.start = time.Now()
	if err := spawn(p.cmd); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		p.end = time.Now()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
			return
		default:
		}
		_ = p.cmd.Process.Kill()
		<-p.exited
	})
	return p
}

func childEnv(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "LAMEDUCK_") {
			continue // lameduck settings, and this suite's knobs, which a service rejects
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("%s: signal %v: %v", p.name, sig, err)
	}
}

// wait waits for the process to exit and returns its exit code (-1 if a
// signal ended it).
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %v; its log:\n%s", p.name, timeout, tail(p.log.String(), 40))
	}
	return p.cmd.ProcessState.ExitCode()
}

// exitDesc describes how the process ended.
func (p *proc) exitDesc() string {
	if p.cmd.ProcessState == nil {
		return "running"
	}
	return p.cmd.ProcessState.String()
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// readJSONLine waits for a line on the process's output that parses into v
// and starts with prefix.
func (p *proc) readJSONLine(t *testing.T, prefix string, v any, timeout time.Duration) {
	t.Helper()
	ln, _, ok := p.log.waitFor(0, func(s string) bool { return strings.HasPrefix(s, prefix) }, timeout, p.exited)
	if !ok {
		t.Fatalf("%s: no result line (%s); its output:\n%s", p.name, p.exitDesc(), tail(p.log.String(), 30))
	}
	if err := json.Unmarshal([]byte(ln.Text), v); err != nil {
		t.Fatalf("%s: result %q: %v", p.name, tail(ln.Text, 3), err)
	}
}

// Children get SIGKILL when the test binary dies (Pdeathsig), so that a
// test killed by its timeout leaves no replica or HAProxy behind. Linux
// sends that signal when the thread that started the child exits, not the
// process, and Go may end threads; so every child is started from one
// goroutine locked to its thread, which lives until the tests are done.
var (
	spawnOnce sync.Once
	spawnReq  chan spawnCall
	spawnDone chan struct{}
)

type spawnCall struct {
	cmd *exec.Cmd
	err chan error
}

func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnReq, spawnDone = make(chan spawnCall), make(chan struct{})
		go func() {
			runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
			defer close(spawnDone)
			for c := range spawnReq {
				c.err <- c.cmd.Start()
			}
		}()
	})
	c := spawnCall{cmd: cmd, err: make(chan error, 1)}
	spawnReq <- c
	return <-c.err
}

// stopSpawner ends the spawning goroutine (and its thread) once every test
// is done and every child has exited.
func stopSpawner() {
	if spawnReq != nil {
		close(spawnReq)
		<-spawnDone
	}
}
