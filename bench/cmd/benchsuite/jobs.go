package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// A job is one benchmark run repeated in every round: a Go test binary with
// a -bench pattern, or (with run set) a program of the suite's own that
// writes results in the Go benchmark format.
type job struct {
	name      string   // short name; also the raw results file, raw/NAME.txt
	module    string   // "root" (the lameduck module) or "bench"
	pkg       string   // the package, relative to its module: "./httpmodule"
	bench     string   // the -test.bench pattern
	benchtime string   // the -test.benchtime value
	args      []string // further flags for the test binary
	maxRounds int      // run in at most this many rounds (0: every round)
	timeout   time.Duration

	// run, if set, runs the job instead of a test binary: one round's
	// results in the Go benchmark format.
	run func(ctx context.Context, s *suite, round int) ([]byte, error)

	out bytes.Buffer // every round's results
}

// command returns the command that reproduces j's results with count
// runs, as typed from the repository's root.
func (j *job) command(count int) string {
	if j.run != nil {
		return fmt.Sprintf("cd bench && go run ./cmd/benchsuite -only '^%s$' -count %d", j.name, count)
	}
	if j.maxRounds > 0 {
		count = min(count, j.maxRounds)
	}
	args := []string{"go test -run '^$'", "-bench '" + j.bench + "'", "-benchtime " + j.benchtime,
		fmt.Sprintf("-count %d", count), j.pkg}
	args = append(args, j.args...)
	cmd := strings.Join(args, " ")
	if j.module == "bench" {
		cmd = "cd bench && " + cmd
	}
	return cmd
}

// binaryName is the test binary's file name in the work directory.
func (j *job) binaryName() string {
	return strings.NewReplacer("/", "_", ".", "").Replace(j.module+j.pkg) + ".test"
}

// moduleDir is where j's module is checked out.
func (s *suite) moduleDir(module string) string {
	if module == "root" {
		return s.root
	}
	return filepath.Join(s.root, "bench")
}

// build compiles the test binary of every job (once per package) into the
// work directory.
func (s *suite) build(ctx context.Context, jobs []*job) error {
	built := map[string]bool{}
	for _, j := range jobs {
		if j.run != nil || built[j.binaryName()] {
			continue
		}
		built[j.binaryName()] = true
		start := time.Now()
		cmd := exec.CommandContext(ctx, "go", "test", "-c", "-o", filepath.Join(s.work, j.binaryName()), j.pkg)
		cmd.Dir = s.moduleDir(j.module)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s (go test -c %s in %s): %w\n%s", j.name, j.pkg, cmd.Dir, err, out)
		}
		s.logf("built %-34s %6.1fs", j.module+"/"+strings.TrimPrefix(j.pkg, "./"), time.Since(start).Seconds())
	}
	return nil
}

// resultLine matches a line of benchmark results.
var resultLine = regexp.MustCompile(`(?m)^Benchmark\S+\s+\d+\s`)

// runRound runs j once; its results are appended to j.out.
func (s *suite) runRound(ctx context.Context, j *job, round int) error {
	start := time.Now()
	var out []byte
	var err error
	if j.run != nil {
		out, err = j.run(ctx, s, round)
	} else {
		out, err = s.runTestBinary(ctx, j)
	}
	if err != nil {
		return fmt.Errorf("%s, round %d: %w", j.name, round+1, err)
	}
	if !resultLine.Match(out) {
		return fmt.Errorf("%s, round %d: no benchmark results in the output:\n%s", j.name, round+1, out)
	}
	j.out.Write(out)
	s.logf("round %d/%d %-22s %6.1fs", round+1, s.count, j.name, time.Since(start).Seconds())
	return nil
}

func (s *suite) runTestBinary(ctx context.Context, j *job) ([]byte, error) {
	timeout := j.timeout
	if timeout == 0 {
		timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	args := append([]string{"-test.run=^$", "-test.bench=" + j.bench, "-test.benchtime=" + j.benchtime,
		"-test.count=1", "-test.timeout=" + timeout.String()}, j.args...)
	cmd := exec.CommandContext(ctx, filepath.Join(s.work, j.binaryName()), args...)
	cmd.Dir = filepath.Join(s.moduleDir(j.module), j.pkg)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	if err != nil || bytes.Contains(stdout.Bytes(), []byte("--- FAIL")) {
		if err == nil {
			err = errors.New("a benchmark failed")
		}
		return nil, fmt.Errorf("%s %s: %w\n%s%s", j.binaryName(), strings.Join(args, " "), err,
			tail(stdout.Bytes(), 60), tail(stderr.Bytes(), 30))
	}
	return stdout.Bytes(), nil
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n") + "\n"
}

// writeRaw writes every job's results to dir/NAME.txt.
func writeRaw(dir string, jobs []*job) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, j := range jobs {
		if err := os.WriteFile(filepath.Join(dir, j.name+".txt"), j.out.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// execCommand is exec.CommandContext in dir.
func execCommand(ctx context.Context, dir, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	return cmd
}
