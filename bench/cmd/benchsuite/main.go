// Command benchsuite builds and runs every benchmark comparison of
// lameduck, each with its baseline in the same run, and writes the report:
// docs/benchmarks.md with a table per comparison (medians, ratios to the
// baseline, variation, the targets), SVG charts, and the raw
// results.
//
// From the bench directory:
//
//	go run ./cmd/benchsuite          # the full suite (about 12 minutes on 2 cores)
//	go run ./cmd/benchsuite -quick   # a smoke run in under 3 minutes
//
// It runs the benchmarks in rounds: every benchmark once per round, -count
// rounds, so that drift of a shared machine spreads over all of them. It
// never fails on a number; it fails if a benchmark fails, or a tool it
// needs (go, wrk, h2load) is missing.
//
// Flags:
//
//	-quick       one round, fewer iterations, report to a temporary directory
//	-count N     rounds (default 6, or 1 with -quick)
//	-out DIR     where benchmarks.md and benchmarks/ go (default: the repository's docs/)
//	-only RE     run only the jobs whose names match RE (see -list)
//	-list        print the jobs and the commands they run, and exit
//	-load-time D length of one wrk or h2load measurement (default 3s, or 1s with -quick)
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// suite is one run of the benchmark suite.
type suite struct {
	root  string // the lameduck module's directory
	work  string // temporary directory for binaries and scratch files
	count int
	load  loadSettings
	logf  func(format string, args ...any)
}

func main() {
	quick := flag.Bool("quick", false, "smoke run: one round, fewer iterations, report to a temporary directory")
	count := flag.Int("count", 0, "rounds: every benchmark runs once per round (default 6, or 1 with -quick)")
	out := flag.String("out", "", "directory for benchmarks.md and benchmarks/ (default: the repository's docs/, or a temporary directory with -quick)")
	only := flag.String("only", "", "run only the jobs whose names match this regular expression")
	list := flag.Bool("list", false, "print the jobs and exit")
	loadTime := flag.Duration("load-time", 0, "length of one wrk or h2load measurement (default 3s, or 1s with -quick)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The command the report names: the flags that change what is measured
	// (not -out, which only says where the report goes).
	var args []string
	flag.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "out", "list":
		case "quick":
			args = append(args, "-quick")
		default:
			args = append(args, "-"+f.Name+" "+shellQuote(f.Value.String()))
		}
	})
	if err := run(ctx, options{*quick, *count, *out, *only, *list, *loadTime, strings.Join(args, " ")}); err != nil {
		fmt.Fprintln(os.Stderr, "benchsuite:", err)
		os.Exit(1)
	}
}

type options struct {
	quick    bool
	count    int
	out      string
	only     string
	list     bool
	loadTime time.Duration
	args     string
}

func run(ctx context.Context, o options) error {
	start := time.Now()
	root, err := findRoot()
	if err != nil {
		return err
	}
	s := &suite{root: root, count: o.count, load: loadSettings{duration: o.loadTime, conns: 32, h2conns: 8, streams: 16},
		logf: func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "%7.1fs  %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
		}}
	if s.count == 0 {
		s.count = map[bool]int{true: 1, false: 6}[o.quick]
	}
	if s.load.duration == 0 {
		s.load.duration = map[bool]time.Duration{true: time.Second, false: 3 * time.Second}[o.quick]
	}
	only, err := regexp.Compile(o.only)
	if err != nil {
		return fmt.Errorf("-only: %w", err)
	}
	var jobs []*job
	for _, j := range jobList(o.quick) {
		if only.MatchString(j.name) {
			jobs = append(jobs, j)
		}
	}
	if len(jobs) == 0 {
		return fmt.Errorf("-only %q matches no job; -list shows them", o.only)
	}
	if o.list {
		for _, j := range jobs {
			fmt.Printf("%-20s %s\n", j.name, j.command(s.count))
		}
		return nil
	}
	outDir := o.out
	if outDir == "" && o.quick {
		if outDir, err = os.MkdirTemp("", "benchsuite-quick-"); err != nil {
			return err
		}
	} else if outDir == "" {
		outDir = filepath.Join(root, "docs")
	}

	if s.work, err = os.MkdirTemp("", "benchsuite-"); err != nil {
		return err
	}
	defer os.RemoveAll(s.work)
	m := describeMachine(root)
	s.logf("%s, %d cores, %s; %d rounds", m.cpu, m.cores, m.goVer, s.count)

	for _, j := range jobs {
		if j.name == "request-path" {
			if err := checkLoadTools(); err != nil {
				return err
			}
			if err := s.buildLoadServers(ctx); err != nil {
				return err
			}
		}
	}
	if err := s.build(ctx, jobs); err != nil {
		return err
	}
	var failed []error
	for round := range s.count {
		for _, j := range jobs {
			if j.maxRounds > 0 && round >= j.maxRounds {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := s.runRound(ctx, j, round); err != nil {
				s.logf("FAILED %v", err)
				failed = append(failed, err)
			}
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d benchmark runs failed; the report is not written:\n%w", len(failed), errors.Join(failed...))
	}

	command := "cd bench && go run ./cmd/benchsuite"
	if o.args != "" {
		command += " " + o.args
	}
	if err := writeRaw(filepath.Join(outDir, "benchmarks", "raw"), jobs); err != nil {
		return err
	}
	r := &report{machine: m, date: start, command: command, count: s.count, quick: o.quick, load: s.load}
	if err := s.fill(r, jobs, outDir); err != nil {
		return err
	}
	r.took = time.Since(start)
	r.loadEnd = loadavg()
	page := filepath.Join(outDir, "benchmarks.md")
	if err := os.WriteFile(page, []byte(r.markdown(filepath.Join(outDir, "benchmarks"))), 0o644); err != nil {
		return err
	}
	met, all := 0, r.targets()
	for _, t := range all {
		if t.met {
			met++
		}
	}
	s.logf("wrote %s: %d of %d targets met; the suite took %s", page, met, len(all), r.took.Round(time.Second))
	for _, t := range all {
		if !t.met {
			s.logf("  not met: %d. %s, %s %s: %s (%s)", t.section, t.table, t.cs, t.impl, t.target.text, t.measured)
		}
	}
	return nil
}

// fill parses every job's results into the report's sections and draws the
// charts into outDir/benchmarks.
func (s *suite) fill(r *report, jobs []*job, outDir string) error {
	byName := map[string]*job{}
	parsed := map[string]*results{}
	for _, j := range jobs {
		rs, err := parseResults(j.out.Bytes(), j.name)
		if err != nil {
			return fmt.Errorf("results of %s: %w", j.name, err)
		}
		byName[j.name], parsed[j.name] = j, rs
	}
	for _, c := range comparisons() {
		sec := section{c: c}
		for _, name := range c.jobs {
			if j := byName[name]; j != nil {
				sec.jobs = append(sec.jobs, j)
			}
		}
		if len(sec.jobs) == 0 {
			continue
		}
		for _, spec := range c.tables {
			rs := parsed[spec.job]
			if rs == nil {
				continue
			}
			t, err := buildTable(spec, rs)
			if err != nil {
				return err
			}
			sec.tables = append(sec.tables, t)
		}
		if c.chart != "" {
			file := filepath.Join(outDir, "benchmarks", c.chart)
			var err error
			drawn := true
			switch c.num {
			case 3:
				if rs := parsed["shutdown-staircase"]; rs != nil {
					err = staircaseChart(rs, file)
				} else {
					drawn = false
				}
			case 5:
				if rs := parsed["ws-drain"]; rs != nil {
					err = drainChart(rs, file)
				} else {
					drawn = false
				}
			case 6:
				if parsed["pool-empty"] != nil && parsed["pool-sleep"] != nil && parsed["pool-cpu"] != nil {
					err = poolChart(parsed, file)
				} else {
					drawn = false
				}
			}
			if err != nil {
				return err
			}
			if drawn {
				sec.chart = "benchmarks/" + c.chart
			}
		}
		r.sections = append(r.sections, sec)
	}
	return nil
}

// buildLoadServers builds cmd/loadservers into the work directory.
func (s *suite) buildLoadServers(ctx context.Context) error {
	start := time.Now()
	defer func() { s.logf("built %-34s %6.1fs", "bench/cmd/loadservers", time.Since(start).Seconds()) }()
	cmd := execCommand(ctx, filepath.Join(s.root, "bench"), "go", "build", "-o", filepath.Join(s.work, "loadservers"), "./cmd/loadservers")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build cmd/loadservers: %w\n%s", err, out)
	}
	return nil
}

// findRoot returns the directory of the lameduck module: the current
// directory or one of its parents, whose go.mod declares it.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(b), []byte("module github.com/lameduck/lameduck\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run it from the lameduck repository (its bench directory): no go.mod of github.com/lameduck/lameduck here or above")
		}
		dir = parent
	}
}

// shellQuote quotes s for a POSIX shell if it needs it.
func shellQuote(s string) string {
	if regexp.MustCompile(`^[A-Za-z0-9._/=-]+$`).MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
