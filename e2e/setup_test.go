package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The suite's knobs are LAMEDUCK_E2E_* variables (reserved by config, so a
// replica started with the test's environment does not reject them):
//
//	LAMEDUCK_E2E=require        a missing tool fails the test instead of skipping it (.ci/run sets it)
//	LAMEDUCK_E2E=skip           skip the whole suite
//	LAMEDUCK_E2E_SCALE=4        multiply load durations and client counts (long soaks); default 1
//	LAMEDUCK_E2E_SERVICE=...    "starter" or "replica": the lameduck service under test
//	                            (default: examples/starter when it exists)
//	LAMEDUCK_E2E_REPORT=path    write the summary table into that file (docs/reliability.md)
//	LAMEDUCK_E2E_KEEP=1         keep the replicas' logs and the HAProxy config after the run
//	LAMEDUCK_E2E_SEED=n         the seed of the response-integrity scenario's sizes (default: the time)

func required() bool { return os.Getenv("LAMEDUCK_E2E") == "require" }

// suite skips the test when the suite is turned off, and otherwise checks
// that the named tools are installed: a missing one skips the test with the
// command that installs it, or fails it when LAMEDUCK_E2E=require.
func suite(t *testing.T, tools ...string) {
	t.Helper()
	if os.Getenv("LAMEDUCK_E2E") == "skip" {
		t.Skip("LAMEDUCK_E2E=skip")
	}
	var missing []string
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
			continue
		}
		if tool == "node" && !nodeHasWS() {
			missing = append(missing, nodeWS)
		}
	}
	if len(missing) == 0 {
		return
	}
	var pkgs, cmds []string
	for _, m := range missing {
		if p, ok := goInstall[m]; ok {
			cmds = append(cmds, "go install "+p)
		} else {
			pkgs = append(pkgs, aptInstall[m])
		}
	}
	if len(pkgs) > 0 {
		cmds = append([]string{"apt-get install " + strings.Join(pkgs, " ")}, cmds...)
	}
	msg := fmt.Sprintf("e2e: missing %s (install with: %s)", strings.Join(missing, ", "), strings.Join(cmds, "; "))
	if required() {
		t.Fatal(msg + "; LAMEDUCK_E2E=require makes this a failure")
	}
	t.Skip(msg + "; set LAMEDUCK_E2E=require to fail instead")
}

// How to install the tools the suite drives: Debian packages, and Go
// packages at the version the suite is measured with.
var (
	aptInstall = map[string]string{
		"haproxy": "haproxy", "wrk": "wrk", "h2load": "nghttp2-client", "node": "nodejs node-ws", nodeWS: "node-ws", "curl": "curl",
	}
	goInstall = map[string]string{"h2spec": h2specPackage}
)

const (
	nodeWS   = "node's ws package"
	nodePath = "/usr/share/nodejs:/usr/lib/nodejs"
)

func nodeHasWS() bool {
	cmd := exec.Command("node", "-e", "require('ws')")
	cmd.Env = append(os.Environ(), "NODE_PATH="+nodePath)
	return cmd.Run() == nil
}

// scale is LAMEDUCK_E2E_SCALE, and a quarter of it under -short.
func scale() float64 {
	s := 1.0
	if v := os.Getenv("LAMEDUCK_E2E_SCALE"); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 {
			s = f
		}
	}
	if testing.Short() {
		s /= 4
	}
	return s
}

// scaled multiplies d by the scale, and never returns less than floor.
func scaled(d, floor time.Duration) time.Duration {
	return max(time.Duration(float64(d)*scale()), floor)
}

// scaledN multiplies n by the scale, and never returns less than floor.
func scaledN(n, floor int) int { return max(int(float64(n)*scale()), floor) }

// moduleRoot is the directory of the root go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	gomod, err := goEnvGOMOD()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(gomod)
}

// goEnvGOMOD returns the path of the go.mod of the module under test.
func goEnvGOMOD() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// binaries are the programs the suite runs, built once without -race (the
// test binary may have it; the replicas and load generators must run at full
// speed).
type binaries struct {
	// Service is the lameduck service under test: examples/starter, or
	// internal/replica when there is no starter.
	Service     string
	ServiceName string
	// Replica is internal/replica: the starter's routes plus faults.
	Replica string
	Naive   string
	Loadgen string
	Wsload  string
	Root    string
}

var (
	buildOnce sync.Once
	built     binaries
	buildErr  error
	buildDir  string
)

func bins(t *testing.T) binaries {
	t.Helper()
	buildOnce.Do(func() {
		root := moduleRoot(t)
		buildDir, buildErr = os.MkdirTemp("", "lameduck-e2e-bin-")
		if buildErr != nil {
			return
		}
		pkgs := []string{"./e2e/internal/replica", "./e2e/internal/naive", "./e2e/internal/loadgen", "./e2e/internal/wsload"}
		useStarter := false
		switch os.Getenv("LAMEDUCK_E2E_SERVICE") {
		case "replica":
		case "starter":
			useStarter = true
		default:
			useStarter = hasGoMain(filepath.Join(root, "examples", "starter"))
		}
		if useStarter {
			pkgs = append(pkgs, "./examples/starter")
		}
		start := time.Now()
		cmd := exec.Command("go", append([]string{"build", "-o", buildDir + string(filepath.Separator)}, pkgs...)...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build %s: %v\n%s", strings.Join(pkgs, " "), err, out)
			return
		}
		built = binaries{
			Replica: filepath.Join(buildDir, "replica"),
			Naive:   filepath.Join(buildDir, "naive"),
			Loadgen: filepath.Join(buildDir, "loadgen"),
			Wsload:  filepath.Join(buildDir, "wsload"),
			Root:    root,
		}
		built.Service, built.ServiceName = built.Replica, "e2e/internal/replica (stand-in for examples/starter)"
		if useStarter {
			built.Service, built.ServiceName = filepath.Join(buildDir, "starter"), "examples/starter"
		}
		fmt.Fprintf(os.Stderr, "e2e: built %s in %v\n", strings.Join(pkgs, " "), time.Since(start).Round(time.Millisecond))
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

func removeBinaries() {
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
}

// hasGoMain reports whether dir holds a Go file of package main.
func hasGoMain(dir string) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err == nil && (strings.HasPrefix(string(b), "package main") || strings.Contains(string(b), "\npackage main")) {
			return true
		}
	}
	return false
}
