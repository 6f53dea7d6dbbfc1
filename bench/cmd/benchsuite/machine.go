package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// machine describes where the suite ran.
type machine struct {
	cpu     string // model name
	cores   int
	os      string // GOOS/GOARCH and kernel
	goVer   string // of the go command that built the benchmarks
	tools   []string
	loadavg string // at the start
	source  string // the commit measured
}

func describeMachine(root string) machine {
	m := machine{cpu: "unknown CPU", cores: runtime.NumCPU(), os: runtime.GOOS + "/" + runtime.GOARCH}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.os += ", Linux " + strings.TrimSpace(string(b))
	}
	cmd := exec.Command("go", "env", "GOVERSION")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		m.goVer = strings.TrimSpace(string(out))
	}
	for _, t := range [][]string{{"wrk", "-v"}, {"h2load", "--version"}} {
		out, _ := exec.Command(t[0], t[1:]...).CombinedOutput()
		if line, _, _ := bytes.Cut(out, []byte("\n")); len(line) > 0 && !bytes.Contains(line, []byte("not found")) {
			first := strings.Fields(string(line))
			if len(first) >= 2 {
				m.tools = append(m.tools, first[0]+" "+first[1])
			}
		}
	}
	m.loadavg = loadavg()
	m.source = sourceVersion(root)
	return m
}

// sourceVersion names the commit of the checkout at root, and says if the
// working tree has changes to tracked files.
func sourceVersion(root string) string {
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	commit := git("rev-parse", "--short=12", "HEAD")
	if commit == "" {
		return "unknown (not a git checkout)"
	}
	if git("status", "--porcelain", "--untracked-files=no") != "" {
		commit += " with uncommitted changes"
	}
	return commit
}

// loadavg returns the 1, 5 and 15 minute load averages.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
